"""Control measured on generated text: for held-out prompts and each grid weight, generate (greedy, and sampled
with a fixed seed per prompt, the same for every weight), score each generation with per-objective functions, and
report the mean score per weight: the generated front, beside the implicit-reward one.

Objective functions ``(prompt_text, response) -> float`` (higher is better):

* built in: ``length`` (minus the response's characters: brevity), ``distinct_ngrams`` (distinct word bigrams over
  all bigrams: diversity);
* a user function ``module:function`` (the module importable from the working directory or ``PYTHONPATH``);
* a local Hugging Face sequence-classification model as a reward model (its last output logit on the prompt and
  response pair).

The reference model (no soft prompts, adapters off) is generated and scored the same way and reported as a point.
The hypervolume is taken above the nadir of all points (reference included): the objectives' scales are arbitrary.
"""
from __future__ import annotations

import csv
import importlib
import io
import json
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import defaults
from ..errors import ConfigError
from ..eval.pareto import hypervolume, nondominated
from ..eval.plots import plot_fronts
from ..utils.io import atomic_write_json, atomic_write_text, output_dir
from .data import Prompt
from .model import HyperPromptLM, hf_bars
from .tokenize import Encoder

ObjectiveFn = Callable[[str, str], float]
MODES = ("greedy", "sampled")


def length_objective(prompt: str, response: str) -> float:
    """Minus the response's length in characters (shorter is better)."""
    return -float(len(response))


def distinct_ngrams(prompt: str, response: str, n: int = 2) -> float:
    """Distinct word n-grams over all n-grams of the response (0 when it has none)."""
    words = response.split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


BUILTIN: dict[str, ObjectiveFn] = {"length": length_objective, "distinct_ngrams": distinct_ngrams}


def load_function(spec: str) -> ObjectiveFn:
    """A built-in objective by name, or ``module:function``."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ConfigError(f"objective function {spec!r}: expected a built-in ({', '.join(BUILTIN)}) or "
                          f"module:function")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the working directory, as `python -m` would
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"objective function {spec!r}: {e}") from None
    if not callable(fn):
        raise ConfigError(f"objective function {spec!r}: {name} is not callable")
    return fn


class RewardModel:
    """A local Hugging Face sequence-classification model scoring (prompt, response) pairs by its last logit."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu"):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        p = Path(path)
        if not p.is_dir():
            raise ConfigError(f"reward model {p}: no such model directory")
        self.tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
        with hf_bars(False):
            self.model = AutoModelForSequenceClassification.from_pretrained(str(p), local_files_only=True).eval()
        self.device = torch.device(device)
        self.model.to(self.device)

    @torch.no_grad()
    def __call__(self, prompt: str, response: str) -> float:
        x = self.tok(prompt, response, return_tensors="pt", truncation=True).to(self.device)
        return float(self.model(**x).logits[0, -1])


def parse_objectives(fns: list[str] | None, reward_models: list[str] | None = None,
                     device: torch.device | str = "cpu") -> dict[str, ObjectiveFn]:
    """``NAME=SPEC`` objective functions and ``NAME=DIR`` reward models (default: the built-ins)."""
    out: dict[str, ObjectiveFn] = {}
    for item, kind in [(f, "fn") for f in fns or []] + [(r, "rm") for r in reward_models or []]:
        name, sep, spec = item.partition("=")
        if not sep:
            name, spec = item, item
        if not name or not spec:
            raise ConfigError(f"{item!r}: expected NAME=SPEC")
        if name in out:
            raise ConfigError(f"objective {name!r} is given twice")
        out[name] = load_function(spec) if kind == "fn" else RewardModel(spec, device)
    return out or dict(BUILTIN)


@dataclass(kw_only=True)
class GeneratedFront:
    """Mean objective scores of generations per grid weight (``[weights, objectives]`` per mode), the reference's,
    and every generation."""

    objectives: list[str]
    weight_names: list[str]
    weights: np.ndarray
    scores: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    generations: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def hypervolume(self, mode: str = "greedy") -> tuple[float, float, np.ndarray]:
        """(hypervolume of the grid points, of the reference point, the nadir reference point used)."""
        pts = np.vstack([self.scores[mode], self.reference[mode][None]])
        nadir = pts.min(axis=0) - 1e-9
        return hypervolume(self.scores[mode], nadir), hypervolume(self.reference[mode][None], nadir), nadir

    def to_dict(self) -> dict:
        hv, ref_hv, nadir = self.hypervolume("greedy")
        nd = nondominated(self.scores["greedy"])
        return {"objectives": self.objectives, "weights_over": self.weight_names, "front_metric": "greedy",
                "hypervolume": hv, "reference_hypervolume": ref_hv, "hypervolume_ref_point": nadir.tolist(),
                "hypervolume_sense": "maximise, above the nadir of all points",
                "points": [{"w": w.tolist(), **{m: v[i].tolist() for m, v in self.scores.items()},
                            "nondominated": bool(nd[i])} for i, w in enumerate(self.weights)],
                "reference": {m: v.tolist() for m, v in self.reference.items()}, "settings": self.settings}

    def table(self) -> tuple[list[str], list[list]]:
        head = [f"w_{n}" for n in self.weight_names] + [f"{m}_{o}" for m in MODES for o in self.objectives]
        rows = [[f"{v:.3f}" for v in w] + [f"{self.scores[m][i, j]:.4g}" for m in MODES
                                           for j in range(len(self.objectives))] for i, w in enumerate(self.weights)]
        rows.append(["ref"] + [""] * (len(self.weight_names) - 1)
                    + [f"{self.reference[m][j]:.4g}" for m in MODES for j in range(len(self.objectives))])
        return head, rows

    def markdown(self) -> str:
        head, rows = self.table()
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        hv, ref_hv, nadir = self.hypervolume("greedy")
        lines.append(f"\nmean score of {self.settings.get('prompts')} generations per weight (greedy; sampled at "
                     f"temperature {self.settings.get('temperature')}); hypervolume (greedy, above the nadir "
                     f"{nadir.round(4).tolist()}): {hv:.6g}, reference model alone {ref_hv:.6g}")
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> dict:
        """``front.csv``, ``front.json``, ``front.png`` and ``generations.jsonl`` in ``out_dir`` (atomically)."""
        out = output_dir(out_dir)
        head, rows = self.table()
        buf = io.StringIO()
        csv.writer(buf).writerows([head, *rows])
        atomic_write_text(out / "front.csv", buf.getvalue())
        atomic_write_json(out / "front.json", self.to_dict())
        atomic_write_text(out / "generations.jsonl", "".join(json.dumps(g) + "\n" for g in self.generations))
        if len(self.objectives) >= 1:
            plot_fronts({f"HyperDPO ({m})": self.scores[m] for m in MODES}, self.objectives, out / "front.png",
                        reference=self.reference["greedy"], title="generated front: mean score per weight "
                        f"(labels: w_{self.weight_names[0]}; reference = greedy)", metric="mean score",
                        weights=self.weights)
        return {"csv": str(out / "front.csv"), "json": str(out / "front.json"), "png": str(out / "front.png"),
                "generations": str(out / "generations.jsonl")}


def fit_prompt(enc: Encoder, text: str, max_new_tokens: int) -> list[int]:
    """``[BOS] prompt`` ids of a free-text prompt that leave room for ``max_new_tokens`` within the model's context
    (``enc.max_length``: the context less the soft prompts). A longer prompt keeps its last tokens (those nearest
    the continuation), with a warning that counts what was cut; no room at all is a :class:`ConfigError`."""
    room = enc.max_length - max_new_tokens
    bos = [enc.tok.bos_id] if enc.tok.bos_id is not None and enc.tok.bos_id >= 0 else []
    if room < len(bos) + 1:
        raise ConfigError(f"--max-new-tokens {max_new_tokens} leaves no room for the prompt in the model's context "
                          f"of {enc.max_length} tokens (after the soft prompts); use at most "
                          f"{enc.max_length - len(bos) - 1}")
    ids = enc.tok.encode(enc.tok.render(text))  # an instruction-tuned model's chat template, when it has one
    keep = room - len(bos)
    if len(ids) > keep:
        warnings.warn(f"the prompt has {len(ids)} tokens: only its last {keep} are used, to leave room for "
                      f"{max_new_tokens} new tokens within the context of {enc.max_length}", stacklevel=2)
        ids = ids[len(ids) - keep:]
    return bos + ids


def loop_guard(no_repeat_ngram: int | None = None) -> dict[str, int]:
    """Generation keywords of the loop guard: no token ``no_repeat_ngram``-gram twice in a response (0 = none).

    Parameters
    ----------
    no_repeat_ngram : int or None
        The n-gram size (0 = no guard; None = :data:`ltr_hyperdpo.defaults.LLM_NO_REPEAT_NGRAM`).

    Returns
    -------
    dict
        ``{"no_repeat_ngram_size": n}`` for ``generate``, or ``{}``.

    Raises
    ------
    ConfigError
        A negative size.
    """
    if no_repeat_ngram is None:
        no_repeat_ngram = defaults.LLM_NO_REPEAT_NGRAM
    if no_repeat_ngram < 0:
        raise ConfigError(f"--no-repeat-ngram must be >= 0 (0 = no guard), got {no_repeat_ngram}")
    return {"no_repeat_ngram_size": int(no_repeat_ngram)} if no_repeat_ngram else {}


def decoding_strength(trained_beta: float, beta: float | None, temperature_conditioned: bool) -> float:
    """λ = β_trained / β: how far from the reference a run's policy is decoded to serve temperature ``beta``.

    A temperature-conditioned model takes β as an input (λ = 1); any other model trained at β is rescaled to β' at
    decoding (:class:`ltr_hyperdpo.llm.model.RescaledPolicy`), the LLM form of rescaling β after training. ``None``:
    the trained β (λ = 1)."""
    if beta is None or temperature_conditioned:
        return 1.0
    if not beta > 0:
        raise ConfigError(f"--beta must be > 0, got {beta}")
    return float(trained_beta) / float(beta)


def prompt_ids(enc: Encoder, prompt: Prompt) -> list[int]:
    """The encoder's ``[BOS] prompt`` ids (rendered and truncated as in training)."""
    ids, start = enc.encode_pair(prompt, "")
    return ids[:start]


def generate_front(model: HyperPromptLM, enc: Encoder, prompts: list[Prompt], weights: np.ndarray,
                   objectives: dict[str, ObjectiveFn], dev: torch.device, *, weight_names: list[str],
                   beta: float | None = None, max_new_tokens: int = 64, temperature: float = 0.8,
                   seed: int = 0, no_repeat_ngram: int | None = None,
                   trained_beta: float | None = None) -> GeneratedFront:
    """Generate for every prompt at every weight (and with the reference model) and score the generations.

    ``beta``: the temperature to serve: a temperature-conditioned model's input; any other model is decoded rescaled
    from ``trained_beta`` to ``beta`` (:func:`decoding_strength`; both needed, else the policy as trained).

    ``no_repeat_ngram``: the loop guard (None: :data:`ltr_hyperdpo.defaults.LLM_NO_REPEAT_NGRAM`; 0 = off), the same for
    the reference model and every weight. Per prompt and mode, all weights are generated as one batch (the prompt
    repeated, each row with its own soft prompts) and the reference model as another; sampling is seeded per prompt
    (``seed``), so a rerun draws the same tokens."""
    guard = loop_guard(no_repeat_ngram)
    names = list(objectives)
    tok = enc.tok
    gens: list[dict] = []
    W = np.asarray(weights, dtype=np.float64)
    per = {m: np.zeros((len(W), len(prompts), len(names))) for m in MODES}
    ref = {m: np.zeros((len(prompts), len(names))) for m in MODES}
    cond_beta = beta if model.temperature_conditioned else None
    strength = decoding_strength(trained_beta, beta, model.temperature_conditioned) if trained_beta else 1.0
    model.eval()
    for i, p in enumerate(prompts):
        ids = torch.tensor([prompt_ids(enc, p)], device=dev)
        text = tok.render(p)
        for mode in MODES:
            kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": mode == "sampled",
                                  "pad_token_id": tok.pad_id, "eos_token_id": tok.eos_id,
                                  **guard}
            if mode == "sampled":
                kw["temperature"] = temperature
            for batch_w in (None, W):  # the reference model, then every weight in one batch
                if mode == "sampled":
                    torch.manual_seed(seed * 100_003 + i)
                wt = None if batch_w is None else torch.as_tensor(batch_w, dtype=torch.float32, device=dev)
                out = model.generate(ids if batch_w is None else ids.expand(len(batch_w), -1), wt, cond_beta,
                                     strength=strength, **kw)
                for r, seq in enumerate(out.tolist()):
                    response = tok.decode([t for t in seq if t not in (tok.pad_id, tok.eos_id)])
                    vals = [float(objectives[n](text, response)) for n in names]
                    w = None if batch_w is None else [float(v) for v in batch_w[r]]
                    if batch_w is None:
                        ref[mode][i] = vals
                    else:
                        per[mode][r, i] = vals
                    gens.append({"w": w, "mode": mode, "prompt": text, "response": response,
                                 "new_tokens": sum(t not in (tok.pad_id, tok.eos_id) for t in seq),
                                 "scores": dict(zip(names, vals, strict=True))})
    return GeneratedFront(objectives=names, weight_names=weight_names, weights=W,
                          scores={m: per[m].mean(axis=1) for m in MODES},
                          reference={m: ref[m].mean(axis=0) for m in MODES}, generations=gens,
                          settings={"prompts": len(prompts), "max_new_tokens": max_new_tokens,
                                    "no_repeat_ngram": guard.get("no_repeat_ngram_size", 0),
                                    "temperature": temperature, "seed": seed, "beta": beta,
                                    "decoding_strength": strength})
