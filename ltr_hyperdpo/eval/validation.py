"""Validation metrics during training (torch NDCG, the same conventions as the reported ranx NDCG)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.batching import SlateLoader
from ..data.dataset import RankingDataset
from .metrics import ndcg_torch
from .pareto import hypervolume

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ConditionedScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def val_ndcg(model_fn: ScoreFn, ds: RankingDataset, k: int, batch_size: int = 64) -> np.ndarray:
    """Mean torch NDCG@k per objective ``[objectives]`` (blank queries skipped) of ``model_fn(features, mask)``."""
    sums = np.zeros(ds.n_objectives)
    cnt = np.zeros(ds.n_objectives)
    with torch.no_grad():
        for b in SlateLoader(ds, batch_size=batch_size, bucket=True, shuffle=False):
            s = model_fn(b.features, b.mask)
            for j in range(ds.n_objectives):
                v, blank = ndcg_torch(s, b.labels[..., j], b.mask, k)
                sums[j] += float(v[~blank].sum())
                cnt[j] += int((~blank).sum())
    return sums / np.maximum(cnt, 1)


def val_hypervolume(conditioned_fn: ConditionedScoreFn, grid: torch.Tensor, ds: RankingDataset, k: int,
                    ref_point: np.ndarray | float | list | None = None) -> float:
    """Hypervolume of the validation NDCG@k points of ``conditioned_fn(features, mask, w[batch, K])`` over a grid."""
    def at(w: torch.Tensor) -> ScoreFn:
        return lambda x, m: conditioned_fn(x, m, w.expand(x.shape[0], -1))

    pts = np.stack([val_ndcg(at(w), ds, k) for w in grid])
    return hypervolume(pts, ref_point)
