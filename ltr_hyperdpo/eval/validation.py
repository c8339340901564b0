"""Validation metrics during training (torch NDCG, the same conventions as the reported ranx NDCG)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.batching import SlateLoader
from ..data.dataset import RankingDataset
from .metrics import BLANK_POLICIES, ndcg_torch
from .pareto import hypervolume

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ConditionedScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def val_ndcg(model_fn: ScoreFn, ds: RankingDataset, k: int, batch_size: int = 64,
             blank_policy: str = "skip") -> np.ndarray:
    """Mean torch NDCG@k per objective ``[objectives]`` of ``model_fn(features, mask)``; queries with no relevant
    document are skipped, or count as 0 / 1 (``blank_policy``), as in the reported evaluation."""
    if blank_policy not in BLANK_POLICIES:
        raise ValueError(f"blank_policy must be one of {BLANK_POLICIES}, got {blank_policy!r}")
    sums = np.zeros(ds.n_objectives)
    cnt = np.zeros(ds.n_objectives)
    with torch.no_grad():
        for b in SlateLoader(ds, batch_size=batch_size, bucket=True, shuffle=False):
            s = model_fn(b.features, b.mask)
            for j in range(ds.n_objectives):
                v, blank = ndcg_torch(s, b.labels[..., j], b.mask, k)
                if blank_policy == "skip":
                    sums[j] += float(v[~blank].sum())
                    cnt[j] += int((~blank).sum())
                else:
                    sums[j] += float(v[~blank].sum()) + (float(blank.sum()) if blank_policy == "one" else 0.0)
                    cnt[j] += int(blank.numel())
    return sums / np.maximum(cnt, 1)


def val_hypervolume(conditioned_fn: ConditionedScoreFn, grid: torch.Tensor, ds: RankingDataset, k: int,
                    ref_point: np.ndarray | float | list | None = None, blank_policy: str = "skip") -> float:
    """Hypervolume of the validation NDCG@k points of ``conditioned_fn(features, mask, w[batch, K])`` over a grid."""
    def at(w: torch.Tensor) -> ScoreFn:
        return lambda x, m: conditioned_fn(x, m, w.expand(x.shape[0], -1))

    pts = np.stack([val_ndcg(at(w), ds, k, blank_policy=blank_policy) for w in grid])
    return hypervolume(pts, ref_point)
