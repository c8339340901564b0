"""What every run directory says about itself: ``versions.json`` (package, torch, Python) and ``MODEL_CARD.md``."""
from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np
import torch

from .._version import __version__
from ..data.dataset import RankingDataset
from ..eval.front import FrontResult
from ..eval.report import markdown_table
from ..utils.io import atomic_write_json, atomic_write_text
from .config import RunConfig
from .plan import PLAN_NAME, RunPlan


def _flat(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v:
            out += _flat(v, key)
        elif isinstance(v, list) and v and isinstance(v[0], list):  # a weight grid: its size
            out.append((key, f"{len(v)} weights"))
        else:
            out.append((key, v))
    return out


def plan_table(plan: RunPlan) -> str:
    """The plan as a markdown table of dotted keys; values resolved by an ``auto`` rule are marked."""
    rows = ["| setting | value |", "|---|---|"]
    auto = set(plan.auto)
    for key, value in _flat({k: v for k, v in plan.to_dict().items() if k not in ("auto", "format")}):
        mark = " (auto)" if key.replace("scorer.", "model.", 1) in auto or key in auto else ""
        rows.append(f"| {key} | `{value}`{mark} |")
    return "\n".join(rows)


def versions() -> dict:
    """The software a run was trained with."""
    return {"ltr_hyperdpo": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0], "platform": platform.platform()}


def write_versions(run_dir: Path) -> None:
    atomic_write_json(run_dir / "versions.json", versions())


def _objectives(ds: RankingDataset) -> str:
    rows = ["| objective | source | grades |", "|---|---|---|"]
    for o in ds.state.objectives:
        src = "relevance label" if o.source == "label" else f"feature {o.feature}"
        grades = "as given" if o.transform == "identity" else f"quantile grades 0-{o.n_grades - 1} (0 = zero)"
        rows.append(f"| {o.name} | {src}{' (lower is better)' if o.lower_is_better else ''} | {grades} |")
    return "\n".join(rows)


def write_model_card(run_dir: Path, cfg: RunConfig, plan: RunPlan, tr: RankingDataset, va: RankingDataset,
                     front: dict | None, method_label: str) -> None:
    """``MODEL_CARD.md``: data, objectives with their sources, the configuration, the test front, intended use."""
    dropped = ", ".join(map(str, tr.state.drop_features)) or "none"
    front_text = markdown_table(FrontResult.from_dict(front)) if front else \
        "No test split was given (data.test): evaluate with `ltr-hyperdpo front RUN --data TEST --out DIR`."
    card = f"""# Model card: {run_dir.name}

Trained with ltr_hyperdpo {__version__} (torch {torch.__version__}); method **{method_label}** ({plan.method.name}).

## Data
- training split: `{cfg.data.train}` ({tr.n_queries} queries, {tr.n_docs} documents)
- validation: {f'`{cfg.data.vali}`' if cfg.data.vali else f'{cfg.data.vali_fraction:g} of the training queries'} \
({va.n_queries} queries)
- model input: {tr.n_features} of {tr.state.n_raw_features} raw features (objective columns removed; also dropped: \
{dropped}), {'normalised (log1p for heavy-tailed columns, then standardised) with statistics of the training split'
 if tr.state.normalizer else 'not normalised'}

## Objectives
{_objectives(tr)}

Objective 0 is the main objective. A preference weight w (one value per objective, on the simplex) is chosen when
scoring: `ltr-hyperdpo predict {run_dir} --data FILE --w ...` or `load_run(...).score(data, w)`.

## Configuration
- scorer: {plan.scorer.kind} ({'hidden ' + str(plan.scorer.hidden) if plan.scorer.kind == 'mlp' else
  f'd_model {plan.scorer.d_model}, {plan.scorer.n_layers} layers, {plan.scorer.n_prompts} hyper prompts'}), \
conditioning {plan.scorer.conditioning}{', backbone frozen in stage 2' if plan.scorer.freeze_backbone else ''}
- reference (stage 1): {plan.reference.loss} loss, {plan.reference.epochs} epochs, lr {plan.reference.lr:g}
- stage 2: {plan.stage2.epochs} epochs, lr {plan.stage2.lr:g}, beta {plan.stage2.beta:g}; method parameters \
{plan.method.params or 'none'}
- the configuration as given is `config.json`; what the run trained with, every `auto` resolved, is `{PLAN_NAME}`
  (below); the fitted objectives and normaliser are `data_state.json`

### Plan
{plan_table(plan)}

## Test front
{f"On the test split `{plan.data.test}` ({len(plan.eval.test_weights)} weights, {plan.eval.grid_method} grid):"
 if front else ""}

{front_text}

NDCG gain 2^y - 1, discount 1/log2(i + 1), ties in scores broken by document position; queries with no relevant
document: {cfg.eval.blank_policy} (their count is listed above).

## Intended use
Ranking documents of the same kind as the training data (same feature extraction, same feature ids) when the
trade-off between the objectives is chosen by the user or the application at serving time. Weights far from those
seen in training ({_seen(plan)}) are not validated; check the
front on held-out data before relying on a trade-off. Not for data whose features are computed differently.
"""
    atomic_write_text(run_dir / "MODEL_CARD.md", card)


def _seen(plan: RunPlan) -> str:
    if plan.method.member_weights is not None:
        return f"the {len(plan.method.member_weights)} members' weights"
    alpha = plan.method.params.get("alpha")
    return f"vertices, the interior sampled from Dirichlet({alpha})" if alpha is not None else "the vertices"
