"""Evaluate a trained ranker over a grid of preference weights: NDCG per objective, the front, its hypervolume."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..data.batching import SlateLoader, Slates
from ..data.dataset import RankingDataset
from .metrics import ndcg_ranx
from .pareto import hypervolume, nondominated


def predict_lists(ds: RankingDataset, score_fns: list[Callable[[Slates], torch.Tensor]],
                  batch_size: int = 64) -> list[list[np.ndarray]]:
    """For each score function, the per-query score arrays (query order), on full lists."""
    out: list[list] = [[None] * ds.n_queries for _ in score_fns]
    loader = SlateLoader(ds, batch_size=batch_size, bucket=True, shuffle=False)
    with torch.no_grad():
        for b in loader:
            n = b.mask.sum(1).numpy()
            for j, fn in enumerate(score_fns):
                s = fn(b).numpy()
                for i, q in enumerate(b.queries):
                    out[j][q] = s[i, : n[i]].astype(np.float64)
    return out


def labels_per_query(ds: RankingDataset, k: int) -> list[np.ndarray]:
    return [ds.y[ds.offsets[i]:ds.offsets[i + 1], k] for i in range(ds.n_queries)]


def ndcg_matrix(ds: RankingDataset, scores: list[np.ndarray], ks=(10, 5), blank_policy: str = "skip") -> dict:
    """``{"ndcg@k": [objectives]}`` for one set of per-query scores, plus blank counts."""
    res, blanks = {}, []
    for k in ks:
        vals = []
        for j in range(ds.n_objectives):
            r = ndcg_ranx(scores, labels_per_query(ds, j), k=k, blank_policy=blank_policy)
            vals.append(r.mean)
            if k == ks[0]:
                blanks.append(r.n_blank)
        res[f"ndcg@{k}"] = np.asarray(vals)
    res["blank_queries"] = blanks
    return res


@dataclass
class FrontResult:
    """NDCG per objective at each grid weight, the non-dominated subset and the hypervolume."""

    objective_names: list[str]
    weights: np.ndarray  # [points, objectives]
    ndcg: dict  # "ndcg@k" -> [points, objectives]
    reference_ndcg: dict  # "ndcg@k" -> [objectives]
    front_metric: str
    ref_point: np.ndarray
    hypervolume: float
    reference_hypervolume: float
    nondominated: np.ndarray
    blank_queries: list[int]
    blank_policy: str
    beta: float | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "objectives": self.objective_names, "front_metric": self.front_metric,
            "hypervolume": self.hypervolume, "reference_hypervolume": self.reference_hypervolume,
            "hypervolume_ref_point": self.ref_point.tolist(), "hypervolume_sense": "maximise",
            "blank_policy": self.blank_policy, "blank_queries": dict(zip(self.objective_names, self.blank_queries)),
            "beta": self.beta,
            "points": [{"w": w.tolist(), **{m: v[i].tolist() for m, v in self.ndcg.items()},
                        "nondominated": bool(self.nondominated[i])} for i, w in enumerate(self.weights)],
            "reference": {m: v.tolist() for m, v in self.reference_ndcg.items()},
            **self.extra,
        }


def evaluate_front(ranker, ds: RankingDataset, weights: np.ndarray, *, ks=(10, 5), beta: float | None = None,
                   ref_point=None, blank_policy: str = "skip", batch_size: int = 64) -> FrontResult:
    """Score ``ds`` at every weight (reference scores computed once a batch) and build the front."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2 or weights.shape[1] != ds.n_objectives:
        raise ValueError(f"weights must be [points, {ds.n_objectives}]")
    cache: dict = {}

    def ref_fn(b: Slates):
        cache["ref"] = ranker.reference_score(b.features, b.mask)
        return cache["ref"]

    def make(w):
        return lambda b: ranker.score(b.features, b.mask, torch.from_numpy(w), beta=beta,
                                      reference_scores=cache["ref"])

    preds = predict_lists(ds, [ref_fn] + [make(w) for w in weights], batch_size)
    ref_res = ndcg_matrix(ds, preds[0], ks, blank_policy)
    per_w = [ndcg_matrix(ds, p, ks, blank_policy) for p in preds[1:]]
    ndcg = {f"ndcg@{k}": np.stack([r[f"ndcg@{k}"] for r in per_w]) for k in ks}
    metric = f"ndcg@{ks[0]}"
    pts = ndcg[metric]
    rp = np.zeros(ds.n_objectives) if ref_point is None else np.broadcast_to(np.asarray(ref_point, float),
                                                                          (ds.n_objectives,)).copy()
    return FrontResult(ds.objective_names, weights, ndcg, {m: ref_res[m] for m in ndcg}, metric, rp,
                       hypervolume(pts, rp), hypervolume(ref_res[metric][None, :], rp), nondominated(pts),
                       ref_res["blank_queries"], blank_policy, beta)
