"""Validation metrics during training (torch NDCG, the same conventions as the reported ranx NDCG).

The validation split is gathered into full-list batches once (:class:`ValidationSet`) and reused every epoch; a
weight grid is scored in one forward per batch (lists repeated once per weight), so validating W weights costs about
one pass over the data rather than W.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.batching import SlateLoader, Slates
from ..data.dataset import RankingDataset
from .metrics import BLANK_POLICIES, ndcg_torch
from .pareto import hypervolume

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ConditionedScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

#: documents (padded, weights x lists x width) scored in one conditioned forward, to bound memory
MAX_DOCS_PER_FORWARD = 1 << 16


class ValidationSet:
    """A dataset's full lists as batches, gathered once (and moved to ``device`` once)."""

    def __init__(self, ds: RankingDataset, batch_size: int = 64, device: torch.device | str = "cpu"):
        self.n_objectives = ds.n_objectives
        dev = torch.device(device)
        self.batches: list[Slates] = [b if dev.type == "cpu" else b.to(dev)
                                      for b in SlateLoader(ds, batch_size=batch_size, bucket=True, shuffle=False)]


def as_validation_set(data: RankingDataset | ValidationSet) -> ValidationSet:
    return data if isinstance(data, ValidationSet) else ValidationSet(data)


def _accumulate(sums: np.ndarray, cnt: np.ndarray, v: torch.Tensor, blank: torch.Tensor, policy: str) -> None:
    """Add per-list NDCG ``v`` / blank flags ``[..., lists]`` to per-row sums and counts (last axis reduced)."""
    v, blank = v.cpu(), blank.cpu()
    keep = ~blank
    if policy == "skip":
        sums += (v * keep).sum(-1).numpy()
        cnt += keep.sum(-1).numpy()
    else:
        sums += (v * keep).sum(-1).numpy() + (blank.sum(-1).numpy() if policy == "one" else 0.0)
        cnt += blank.shape[-1]


def val_ndcg(model_fn: ScoreFn, data: RankingDataset | ValidationSet, k: int, batch_size: int = 64,
             blank_policy: str = "skip") -> np.ndarray:
    """Mean torch NDCG@k per objective ``[objectives]`` of ``model_fn(features, mask)``; queries with no relevant
    document are skipped, or count as 0 / 1 (``blank_policy``), as in the reported evaluation."""
    if blank_policy not in BLANK_POLICIES:
        raise ValueError(f"blank_policy must be one of {BLANK_POLICIES}, got {blank_policy!r}")
    vs = data if isinstance(data, ValidationSet) else ValidationSet(data, batch_size)
    sums = np.zeros(vs.n_objectives)
    cnt = np.zeros(vs.n_objectives)
    with torch.no_grad():
        for b in vs.batches:
            s = model_fn(b.features, b.mask)
            for j in range(vs.n_objectives):
                v, blank = ndcg_torch(s, b.labels[..., j], b.mask, k)
                _accumulate(sums[j:j + 1], cnt[j:j + 1], v.double()[None], blank[None], blank_policy)
    return sums / np.maximum(cnt, 1)


def val_ndcg_grid(conditioned_fn: ConditionedScoreFn, grid: torch.Tensor, data: RankingDataset | ValidationSet,
                  k: int, blank_policy: str = "skip") -> np.ndarray:
    """Mean torch NDCG@k ``[weights, objectives]`` of ``conditioned_fn(features, mask, w [lists, K])`` at every
    weight of ``grid`` ``[weights, K]``."""
    if blank_policy not in BLANK_POLICIES:
        raise ValueError(f"blank_policy must be one of {BLANK_POLICIES}, got {blank_policy!r}")
    vs = as_validation_set(data)
    n_w = grid.shape[0]
    sums = np.zeros((n_w, vs.n_objectives))
    cnt = np.zeros((n_w, vs.n_objectives))
    with torch.no_grad():
        for b in vs.batches:
            n_b, width = b.mask.shape
            step = max(1, MAX_DOCS_PER_FORWARD // (n_b * width))
            for s0 in range(0, n_w, step):
                w = grid[s0:s0 + step].to(b.features.device)
                m = w.shape[0]
                x = b.features.repeat(m, 1, 1)
                mask = b.mask.repeat(m, 1)
                s = conditioned_fn(x, mask, w.repeat_interleave(n_b, 0))
                for j in range(vs.n_objectives):
                    v, blank = ndcg_torch(s, b.labels[..., j].repeat(m, 1), mask, k)
                    _accumulate(sums[s0:s0 + m, j], cnt[s0:s0 + m, j], v.double().view(m, n_b),
                                blank.view(m, n_b), blank_policy)
    return sums / np.maximum(cnt, 1)


def val_hypervolume(conditioned_fn: ConditionedScoreFn, grid: torch.Tensor, data: RankingDataset | ValidationSet,
                    k: int, ref_point: np.ndarray | float | list | None = None, blank_policy: str = "skip") -> float:
    """Hypervolume of the validation NDCG@k points of ``conditioned_fn(features, mask, w[batch, K])`` over a grid."""
    return hypervolume(val_ndcg_grid(conditioned_fn, grid, data, k, blank_policy), ref_point)
