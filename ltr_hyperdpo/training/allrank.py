"""allRank configs as run configs: ``ltr-hyperdpo import-allrank`` and ``train --config`` on an allRank JSON.

The allRank model (``fc_model`` -> optional ``transformer`` -> ``post_model``) becomes the reference stage, with
allRank's loss (its names and arguments are aliases here), optimiser rate, scheduler, epochs, early stopping and
clipping; its dataset folder (``train.txt``, ``vali.txt``, ``test.txt``) becomes the splits. Objectives default to
the label alone, which trains the allRank-equivalent model only (``method: reference``); with ``objectives`` (a
preset or a spec) stage 2 trains HyperDPO on top of it.

:func:`from_allrank` returns the run config with ``notes`` (approximations and convention differences, to read) and
``unmapped`` (settings with no counterpart). A config with unmapped settings is refused with one message naming
them all, unless the caller accepts dropping them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..losses import ALLRANK_NAMES, resolve_loss

#: the sections that identify an allRank config
ALLRANK_SECTIONS = ("model", "data", "optimizer", "training", "loss", "metrics", "lr_scheduler")
#: Adam's arguments with the values this project's AdamW uses
ADAM_DEFAULTS = {"betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False}


def is_allrank_config(d: Any) -> bool:
    """Whether a parsed config is allRank's (its ``model.fc_model`` / ``training`` / ``optimizer`` sections)."""
    return (isinstance(d, dict) and isinstance(d.get("model"), dict)
            and any(k in d["model"] for k in ("fc_model", "transformer", "post_model"))
            and ("training" in d or "optimizer" in d))


@dataclass
class Imported:
    """A run config made from an allRank config, with what it approximates and what it could not map."""

    config: dict
    notes: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def check(self, allow_unmapped: bool = False, source: str = "allRank config") -> None:
        """Refuse (one message naming every setting) when something could not be mapped."""
        if self.unmapped and not allow_unmapped:
            raise ConfigError(f"{source}: no counterpart for " + "; ".join(self.unmapped)
                              + " (import-allrank --ignore-unmapped drops them and lists them in the output)")


def from_allrank(d: dict, objectives: str | list | None = None) -> Imported:
    """Translate an allRank config (parsed JSON) into a run config dict."""
    out: dict[str, Any] = {"data": {}, "model": {}, "reference": {}, "eval": {}, "seed": 42}
    res = Imported(out)
    _model(d.get("model") or {}, out["model"], res)
    _data(d.get("data") or {}, out["data"], res)
    _optimizer(d.get("optimizer") or {}, out["reference"], res)
    _training(d.get("training") or {}, d.get("lr_scheduler") or {}, out["reference"], res)
    _loss(d.get("loss") or {}, out["reference"], res)
    _metrics(d.get("metrics") or [], d.get("val_metric"), out["eval"], res)
    for key in ("expected_metrics",):
        if d.get(key):
            res.unmapped.append(f"{key} (allRank's regression check of its own runs)")
    if d.get("detect_anomaly"):
        res.unmapped.append("detect_anomaly true")
    if d.get("click_model"):
        res.unmapped.append("click_model (click simulation)")
    known = set(ALLRANK_SECTIONS) | {"val_metric", "expected_metrics", "detect_anomaly", "click_model"}
    for key in sorted(set(d) - known):
        res.unmapped.append(f"section {key!r}")
    if objectives:
        out["data"]["objectives"] = objectives
        out["method"] = "hyperdpo"
    else:
        out["method"] = "reference"
        res.notes.append("objectives: the label alone, so only the allRank model is trained (method reference); "
                         "pass --objectives to add objectives and train HyperDPO on top of it")
    return res


def _model(m: dict, model: dict, res: Imported) -> None:
    fc = m.get("fc_model") or {}
    tr = m.get("transformer")
    post = m.get("post_model") or {}
    sizes = list(fc.get("sizes") or [])
    if int(post.get("d_output", 1)) != 1:
        res.unmapped.append(f"model.post_model.d_output {post.get('d_output')} (one score per document here; "
                            f"d_output > 1 serves allRank's ordinal loss)")
    if post.get("output_activation"):
        model["output_activation"] = post["output_activation"]
    if fc.get("input_norm"):
        model["input_norm"] = True
    if tr:
        model["kind"] = "transformer"
        if not sizes:
            res.unmapped.append("model.transformer without fc_model (the transformer's width would be the feature "
                                "count; here it is set by fc_model.sizes[-1])")
        else:
            model["d_model"] = sizes[-1]
            if len(sizes) > 1 or fc.get("activation"):
                res.notes.append(f"model: fc_model {sizes} (activation {fc.get('activation')}) before the transformer "
                                 f"becomes one linear input projection to d_model {sizes[-1]} with LayerNorm")
        model["n_layers"] = int(tr.get("N", 2))
        model["n_heads"] = int(tr.get("h", 4))
        model["d_ff"] = int(tr.get("d_ff", 4 * (sizes[-1] if sizes else 64)))
        model["dropout"] = float(tr.get("dropout") or 0.0)
        if tr.get("positional_encoding"):
            res.unmapped.append("model.transformer.positional_encoding (the transformer here is permutation-"
                                "equivariant: no positions)")
        res.notes.append("model: the transformer's score head is Linear-GELU-Linear here, a Linear in allRank")
    else:
        model["kind"] = "mlp"
        if not sizes:
            res.unmapped.append("model.fc_model.sizes empty (a linear model; the MLP here needs a hidden layer)")
        model["hidden"] = sizes
        model["activation"] = fc.get("activation") or "identity"
        model["dropout"] = float(fc.get("dropout") or 0.0)


def _data(d: dict, data: dict, res: Imported) -> None:
    path = d.get("path")
    if not path:
        res.unmapped.append("data.path missing")
    elif "://" in str(path):
        res.unmapped.append(f"data.path {path} (remote paths: copy the folder locally)")
    else:
        data["train"] = os.path.join(path, "train.txt")
        role = d.get("validation_ds_role") or "vali"
        data["vali"] = os.path.join(path, f"{role}.txt")
        test = os.path.join(path, "test.txt")
        if role != "test":
            data["test"] = test
        else:
            res.notes.append("data: allRank validates on test.txt here (validation_ds_role test); no separate test "
                             "front is written")
    if "batch_size" in d:
        data["batch_size"] = int(d["batch_size"])
    if "slate_length" in d:
        data["slate_length"] = int(d["slate_length"])
        res.notes.append("data: lists longer than slate_length are sampled down in training, as in allRank; "
                         "validation uses whole lists in both")
    data["normalize"] = False
    res.notes.append("data: features are used as they are, as allRank reads them (normalise beforehand, or set "
                     "data.normalize true to fit this project's normaliser on the training split)")
    if d.get("num_workers", 0) not in (0, 1, None):
        res.notes.append("data.num_workers: batches are gathered in the training process here (ignored)")


def _optimizer(o: dict, ref: dict, res: Imported) -> None:
    name = o.get("name", "Adam")
    args = dict(o.get("args") or {})
    if name not in ("Adam", "AdamW"):
        res.unmapped.append(f"optimizer {name} (AdamW here; Adam and AdamW configs map)")
        return
    if "lr" in args:
        ref["lr"] = float(args.pop("lr"))
    wd = float(args.pop("weight_decay", 0.0 if name == "Adam" else 1e-2))
    ref["weight_decay"] = wd
    if name == "Adam" and wd > 0:
        res.notes.append(f"optimizer: Adam's weight_decay {wd} (an L2 term in the gradient) becomes AdamW's "
                         f"decoupled decay")
    for k, v in args.items():
        default = ADAM_DEFAULTS.get(k)
        if default is None or (tuple(v) if isinstance(v, list) else v) != default:
            res.unmapped.append(f"optimizer.args.{k} {v!r}")


def _training(t: dict, sched: dict, ref: dict, res: Imported) -> None:
    if "epochs" in t:
        ref["epochs"] = int(t["epochs"])
    patience = t.get("early_stopping_patience")
    if patience is not None:
        # allRank stops when epoch - best_epoch > patience: one more epoch than "patience bad epochs" here
        ref["patience"] = int(patience) + 1
        res.notes.append("training: allRank keeps the last epoch's model, the best validation epoch is kept here")
    clip = t.get("gradient_clipping_norm")
    ref["grad_clip"] = float(clip) if clip else 0.0
    if sched.get("name"):
        args = dict(sched.get("args") or {})
        if sched["name"] == "ReduceLROnPlateau" and "mode" not in args:
            args["mode"] = "min"  # torch's default, which allRank applies to its (rising) validation NDCG
            res.notes.append("lr_scheduler: ReduceLROnPlateau without a mode uses torch's 'min' on the validation "
                             "NDCG, as allRank does (set mode: max to reduce when NDCG stops rising)")
        ref["lr_scheduler"] = {"name": sched["name"], "args": args}


def _loss(loss: dict, ref: dict, res: Imported) -> None:
    name = loss.get("name")
    if name not in ALLRANK_NAMES:
        res.unmapped.append(f"loss {name!r} (allRank losses mapped: {', '.join(ALLRANK_NAMES)})")
        return
    try:
        ours, args, notes = resolve_loss(name, loss.get("args") or {})
    except ValueError as e:
        res.unmapped.append(str(e))
        return
    ref["loss"], ref["loss_args"] = ours, args
    res.notes.extend(notes)


def _metrics(metrics: list, val_metric: str | None, ev: dict, res: Imported) -> None:
    ks = []
    for m in list(metrics) + ([val_metric] if val_metric else []):
        name, _, at = str(m).partition("_")
        if name != "ndcg" or not at.isdigit():
            res.unmapped.append(f"metric {m!r} (NDCG@k only here)")
            continue
        k = int(at)
        if k not in ks:
            ks.append(k)
    if val_metric and str(val_metric).startswith("ndcg_") and str(val_metric)[5:].isdigit():
        k0 = int(str(val_metric)[5:])
        ks = [k0] + [k for k in ks if k != k0]  # the first cut-off drives early stopping
    if ks:
        ev["ks"] = ks
    ev["blank_policy"] = "one"
    res.notes.append("eval: lists with no relevant document count as NDCG 1, as allRank's metric does (blank_policy "
                     "one)")
