#!/usr/bin/env python
"""The development procedure: how the one-shot model's defaults are chosen, on development data only.

    python benchmarks/develop.py --seeds 3                # ~25 min on 2 cores
    python benchmarks/develop.py --seeds 1 --sets synth_conflict --candidates defaults alpha=1    # a smoke run
    python benchmarks/develop.py --scorer transformer --candidates defaults head_hidden=32 ...   # the transformer

Development data (never a split that ``reproduce.py`` reports):
- ``synth_conflict``: synthetic tasks 0, 1, 2, ... (task seed = run seed); reproduce's report sets draw tasks 100+.
- ``mq2008``: MQ2008 Fold1's validation split (its test split is not read).
- ``mslr3``, ``mslr5s``: validation queries carved from the MSLR 5k excerpt's training file (a different 20 % per
  seed); the excerpt's test split is not read.

Every candidate is the default one-shot model with one knob moved (``--candidates``: ``defaults`` and ``KEY=VALUE``
by the names of ``KNOBS``). Per (set, seed) the reference is trained once and shared; every candidate trains the
same epochs on the same data and seed as reproduce's one-run cells. The score of a model is its validation
hypervolume (NDCG@10, blank queries skipped, reference point 0) on two grids: the dense lattice reproduce reports on,
and the members' own weights (the equal-point comparison). A candidate's ratio is its score over the defaults' at the
same (set, seed), averaged (geometric mean) over seeds and the two grids. With ``--split-validation`` a run keeps
its checkpoint on a seeded half of the validation queries and is scored on the other half: the fair comparison for
a candidate that changes how a checkpoint is chosen (``select=scalarised``), since the hypervolume that chose the
defaults' checkpoint would otherwise also score them.

The rule (stated in ``report.md`` and applied by hand to ``ltr_hyperdpo.defaults`` / ``training.auto``): a change is
adopted when its geometric-mean ratio over the sets is at least ``ADOPT_GAIN`` and no set loses more than
``MAX_SET_LOSS``; among several, the largest. A change that helps only some numbers of objectives is adopted as an
``auto`` rule by K only when it passes the rule on the sets of those K and loses nothing on the others.

Writes OUT/development.json and OUT/report.md, prints one JSON line and the markdown table.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _claims import vertex_margins  # noqa: E402
from _common import DEFAULT_DATA_ROOT, ROOT, SCORERS, StagedOutput  # noqa: E402

from ltr_hyperdpo.config import apply_overrides  # noqa: E402
from ltr_hyperdpo.core.grids import default_test_points, member_grid, weight_grid  # noqa: E402
from ltr_hyperdpo.data.objectives import objectives_to_json  # noqa: E402
from ltr_hyperdpo.data.store import write_table  # noqa: E402
from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives  # noqa: E402
from ltr_hyperdpo.eval.front import per_query_ndcg  # noqa: E402
from ltr_hyperdpo.eval.pareto import hypervolume  # noqa: E402
from ltr_hyperdpo.serving import load_run  # noqa: E402
from ltr_hyperdpo.training import RunConfig, load_run_splits, train  # noqa: E402
from ltr_hyperdpo.utils.io import atomic_write_json  # noqa: E402

#: the knobs a candidate may move, by short name -> dotted config key
KNOBS = {"alpha": "method.params.alpha", "vertex_prob": "method.params.vertex_prob",
         "weights_per_list": "method.params.weights_per_list", "cond_lr_mult": "method.params.cond_lr_mult",
         "head_hidden": "model.head_hidden", "rank": "model.rank", "lr": "hyperdpo.lr", "beta": "hyperdpo.beta",
         "n_prompts": "model.n_prompts", "cond_hidden": "model.cond_hidden", "select": "method.params.select"}
#: the first round's candidates: each knob of the one-shot model one step either side of its default
CANDIDATES = ["defaults", "alpha=0.15", "alpha=1.0", "vertex_prob=0.5", "vertex_prob=0.95", "weights_per_list=4",
              "weights_per_list=16", "cond_lr_mult=1", "cond_lr_mult=4", "head_hidden=0", "head_hidden=64", "rank=8",
              "rank=32"]
#: a change is adopted when it raises the geometric-mean validation HV ratio over the sets by at least this ...
ADOPT_GAIN = 1.002
#: ... and no set's ratio falls below 1 - this
MAX_SET_LOSS = 0.005
#: the shared protocol of reproduce.py --quick (its MLP, batch sizes, epochs and learning rate)
MEMBER_EPOCHS, ONE_RUN_BUDGET, REF_EPOCHS = 15, 0.10, 20


def dev_sets(data_root: Path, tmp: Path) -> dict:
    """The development sets that are present: name -> a function of the seed giving the set's data section."""
    ltr = data_root / "ltr"
    out: dict = {}

    def synth(seed: int) -> dict:
        paths = {}
        for split, off, nq in (("train", 0, 300), ("vali", 1, 80)):
            p = tmp / f"dev_synth_s{seed}_{split}.arrow"
            write_table(p, make_synthetic(nq, 60, 40, 2, -0.5, seed=3 * seed + off, task_seed=seed))
            paths[split] = str(p)
        return {**paths, "objectives": objectives_to_json(synth_objectives(40, 2)), "batch_size": 16}
    out["synth_conflict"] = synth
    if (ltr / "mq2008_fold1").exists():
        mq = ltr / "mq2008_fold1"
        out["mq2008"] = lambda seed: {"train": str(mq / "train.txt"), "vali": str(mq / "vali.txt"),
                                      "objectives": "mq2008", "batch_size": 32}
    if (ltr / "mslr_msn1_fold1_5k").exists():
        mslr = ltr / "mslr_msn1_fold1_5k"
        for name, spec in (("mslr3", "mslr3"), ("mslr5s", "mslr5_strict")):
            out[name] = lambda seed, spec=spec: {"train": str(mslr / "train.txt"), "objectives": spec,
                                                 "vali_fraction": 0.2, "batch_size": 8}
    return out


def config(data: dict, seed: int, threads: int, scorer: str = "mlp") -> dict:
    """reproduce.py --quick's configuration of a one-run cell (``method`` and epochs set by the caller)."""
    return {"data": {**{k: v for k, v in data.items() if k != "batch_size"}, "batch_size": data["batch_size"],
                     "slate_length": 120},
            "model": dict(SCORERS[scorer]),
            "reference": {"epochs": REF_EPOCHS, "lr": 2e-3, "patience": 8},
            "hyperdpo": {"epochs": MEMBER_EPOCHS, "lr": 2e-3, "beta": 0.5, "patience": MEMBER_EPOCHS},
            "eval": {"ks": [10, 5], "grid_method": "lattice"}, "seed": seed, "progress": False, "threads": threads}


def overrides(candidate: str) -> list[str]:
    """``KNOB=VALUE`` -> the dotted-key override (``defaults``: none)."""
    if candidate == "defaults":
        return []
    knob, _, value = candidate.partition("=")
    if knob not in KNOBS or not value:
        raise SystemExit(f"develop.py: error: unknown candidate {candidate!r} (use defaults or one of "
                         f"{', '.join(KNOBS)} as KNOB=VALUE)")
    return [f"{KNOBS[knob]}={value}"]


def split_validation(vali, seed: int) -> tuple:
    """(checkpoint half, scoring half) of a validation set: a seeded half of its queries each."""
    perm = np.random.default_rng(10_000 + seed).permutation(vali.n_queries)
    half = vali.n_queries // 2
    return vali.subset(np.sort(perm[:half])), vali.subset(np.sort(perm[half:]))


def validation_scores(run_dir: Path, vali) -> dict:
    """Validation hypervolume of a trained one-shot run on the dense lattice and at the members' weights, and its
    vertex margins (reproduce's steerability measure, on validation data: per objective k, NDCG@10 of k at e_k minus
    its best at the other vertices)."""
    run = load_run(run_dir)
    k = vali.n_objectives
    out: dict = {}
    for name, w in (("dense", weight_grid(k, default_test_points(k), method="lattice")), ("members", member_grid(k))):
        per, blank = per_query_ndcg(run.ranker, vali, w)
        points = per.mean(axis=2, where=~blank[None])
        out[name] = float(hypervolume(points))
        if name == "dense":
            out["vertex_margins"] = vertex_margins({"weights": w, "points": points}).tolist()
    return out


def vertex_lines(scores: dict, candidates: list[str]) -> str:
    """Markdown: per set and candidate, the validation vertex margins (mean over seeds) per objective; a diagnostic
    beside the rule, which reads the hypervolume only."""
    out = ["\nValidation vertex margins (NDCG@10 of objective k at e_k minus its best at the other vertices; mean "
           "over seeds; a diagnostic, not part of the rule):\n"]
    for s, by_seed in scores.items():
        out.append(f"\n{s}: " + "; ".join(
            f"{c} [" + ", ".join(f"{m:+.4f}" for m in np.mean([v[c]["vertex_margins"] for v in by_seed.values()], 0))
            + "]" for c in candidates))
    return "".join(out) + "\n"


def decide(scores: dict, candidates: list[str]) -> dict:
    """Per candidate: the geometric-mean ratio to the defaults per set and over the sets, and whether the rule
    adopts it (``scores[set][seed][candidate] = {"dense": hv, "members": hv}``)."""
    table: dict = {}
    for c in candidates:
        if c == "defaults":
            continue
        per_set = {}
        for s, by_seed in scores.items():
            logs = [np.log(v[c][g] / v["defaults"][g]) for v in by_seed.values() for g in ("dense", "members")]
            per_set[s] = float(np.exp(np.mean(logs)))
        overall = float(np.exp(np.mean(np.log(list(per_set.values())))))
        table[c] = {"per_set": per_set, "overall": overall,
                    "adopt": overall >= ADOPT_GAIN and min(per_set.values()) >= 1 - MAX_SET_LOSS}
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="the shared data folder")
    ap.add_argument("--sets", nargs="*", help="run only these development sets")
    ap.add_argument("--seeds", type=int, default=3, help="seeds (synthetic tasks, MSLR validation draws) per set")
    ap.add_argument("--candidates", nargs="*", default=CANDIDATES,
                    help="defaults and one-knob changes KNOB=VALUE (knobs: " + ", ".join(KNOBS) + ")")
    ap.add_argument("--base", nargs="*", default=[], metavar="KNOB=VALUE",
                    help="changes adopted by earlier rounds: applied to every candidate, the defaults included")
    ap.add_argument("--scorer", choices=sorted(SCORERS), default="mlp",
                    help="the scorer whose one-shot defaults are developed (reproduce.py's --scorer)")
    ap.add_argument("--split-validation", action="store_true",
                    help="keep checkpoints on a seeded half of each validation set's queries and score candidates on "
                         "the other half (for candidates that change how a checkpoint is chosen, whose own figure "
                         "would otherwise be scored on the data that chose it)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "develop",
                    help="output directory, written whole when the run ends (an earlier output of this script there "
                         "is replaced; a folder holding other files is refused)")
    a = ap.parse_args(argv)
    cands = ["defaults"] + [c for c in a.candidates if c != "defaults"]
    for c in cands + a.base:
        overrides(c)
    base_overrides = [o for b in a.base for o in overrides(b)]
    staged = StagedOutput(a.out, "develop.py")  # refuses a foreign non-empty --out before any training
    t0 = time.perf_counter()
    scores: dict = {}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        sets = {k: v for k, v in dev_sets(a.data_root, tmp).items() if not a.sets or k in a.sets}
        for name, make in sets.items():
            scores[name] = {}
            for seed in range(a.seeds):
                base = config(make(seed), seed, a.threads, a.scorer)
                tr, va, _ = load_run_splits(RunConfig.from_dict(base))
                va, scored = split_validation(va, seed) if a.split_validation else (va, va)
                k = tr.n_objectives
                epochs = max(1, round(ONE_RUN_BUDGET * len(member_grid(k)) * MEMBER_EPOCHS))
                work = tmp / f"{name}_s{seed}"
                train(RunConfig.from_dict({**base, "method": "reference"}), work / "ref", splits=(tr, va, None))
                row = {}
                for c in cands:
                    cfg = apply_overrides({**base, "method": {"name": "hyperdpo", "params": {}}},
                                          [f"hyperdpo.epochs={epochs}", f"hyperdpo.patience={epochs}",
                                           f"reference.checkpoint={work / 'ref' / 'reference.pt'}", *base_overrides,
                                           *overrides(c)])
                    train(RunConfig.from_dict(cfg), work / c, splits=(tr, va, None))
                    row[c] = validation_scores(work / c, scored)
                    print(f"[{time.perf_counter() - t0:6.0f}s] {name} seed {seed} {c}: validation HV dense "
                          f"{row[c]['dense']:.4f}, members {row[c]['members']:.4f}", file=sys.stderr)
                scores[name][seed] = row
                shutil.rmtree(work, ignore_errors=True)
    table = decide(scores, cands)
    adopted = max((c for c in table if table[c]["adopt"]), key=lambda c: table[c]["overall"], default=None)
    names = list(scores)
    md = (f"# Development procedure ({a.scorer}; {a.seeds} seeds per set; {time.perf_counter() - t0:.0f} s)\n\n"
          + ("Checkpoints kept on half of each validation set's queries, candidates scored on the other half "
             "(`--split-validation`).\n\n" if a.split_validation else "")
          + (f"Round on top of the earlier rounds' changes: {', '.join(a.base)} (in every candidate, `defaults` "
             f"included).\n\n" if a.base else "")
          + f"Validation HV ratio to the defaults (geometric mean over seeds and the dense / members' grids). Rule: "
          f"adopt when the mean over sets is >= {ADOPT_GAIN} and no set is below {1 - MAX_SET_LOSS}.\n\n"
          f"| candidate | {' | '.join(names)} | over the sets | adopted by the rule |\n|---|"
          + "---|" * (len(names) + 2) + "\n"
          + "".join(f"| {c} | " + " | ".join(f"{t['per_set'][s]:.4f}" for s in names)
                    + f" | {t['overall']:.4f} | {'yes' if t['adopt'] else 'no'} |\n" for c, t in table.items())
          + f"\nChosen: {adopted or 'the defaults (no change passes the rule)'}.\n"
          + vertex_lines(scores, cands))
    (staged.path / "report.md").write_text(md)
    atomic_write_json(staged.path / "development.json", {"scores": scores, "decision": table, "adopted": adopted,
                                                   "rule": {"adopt_gain": ADOPT_GAIN, "max_set_loss": MAX_SET_LOSS},
                                                   "seeds": a.seeds, "candidates": cands, "base": a.base,
                                                   "split_validation": a.split_validation,
                                                   "scorer": a.scorer})
    staged.publish()
    print(json.dumps({"adopted": adopted, "overall": {c: round(t["overall"], 4) for c, t in table.items()}}))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
