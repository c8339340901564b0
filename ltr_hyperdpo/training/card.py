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
from ..runs.io import atomic_write_json, atomic_write_text
from .config import RunConfig


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


def write_model_card(run_dir: Path, cfg: RunConfig, tr: RankingDataset, va: RankingDataset,
                     front: dict | None, method_label: str) -> None:
    """``MODEL_CARD.md``: data, objectives with their sources, the configuration, the test front, intended use."""
    dropped = ", ".join(map(str, tr.state.drop_features)) or "none"
    front_text = markdown_table(FrontResult.from_dict(front)) if front else \
        "No test split was given (data.test): evaluate with `ltr-hyperdpo front RUN --data TEST --out DIR`."
    card = f"""# Model card: {run_dir.name}

Trained with ltr_hyperdpo {__version__} (torch {torch.__version__}); method **{method_label}** ({cfg.method}).

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
- scorer: {cfg.model.kind} ({'hidden ' + str(cfg.model.hidden) if cfg.model.kind == 'mlp' else
  f'd_model {cfg.model.d_model}, {cfg.model.n_layers} layers, {cfg.model.n_prompts} hyper prompts'}), conditioning \
{cfg.model.conditioning}{', backbone frozen in stage 2' if cfg.model.freeze_backbone else ''}
- reference (stage 1): {cfg.reference.loss} loss, {cfg.reference.epochs} epochs, lr {cfg.reference.lr:g}
- stage 2: {cfg.hyperdpo.epochs} epochs, lr {cfg.hyperdpo.lr:g}, beta {cfg.hyperdpo.beta:g}, \
Dirichlet alpha {cfg.hyperdpo.alpha}
- the full configuration is `config.json`; the fitted objectives and normaliser `data_state.json`

## Test front
{front_text}

NDCG gain 2^y - 1, discount 1/log2(i + 1), ties in scores broken by document position; queries with no relevant
document: {cfg.eval.blank_policy} (their count is listed above).

## Intended use
Ranking documents of the same kind as the training data (same feature extraction, same feature ids) when the
trade-off between the objectives is chosen by the user or the application at serving time. Weights far from those
seen in training (vertices, the interior sampled from Dirichlet({cfg.hyperdpo.alpha})) are not validated; check the
front on held-out data before relying on a trade-off. Not for data whose features are computed differently.
"""
    atomic_write_text(run_dir / "MODEL_CARD.md", card)
