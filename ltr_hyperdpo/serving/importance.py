"""Permutation feature importance per objective, at a chosen trade-off and along the front.

For each model input feature, its values are shuffled among the documents of each query (so a query keeps its
own value distribution; only the feature's link to the ranking is broken), the data are scored again at every
weight of interest, and the importance is the drop in mean NDCG@k per objective: ``NDCG(original) −
NDCG(shuffled)``, averaged over ``repeats`` shuffles (seeded), with their standard deviation. Blank queries follow the
run's blank policy. The weights of interest are the chosen ``w`` and the vertices ``e_k`` (one objective each):
how a feature's importance moves along the front.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.dataset import RankingDataset
from ..data.features import FeatureSource
from ..errors import ConfigError
from ..eval.front import per_query_ndcg
from ..eval.metrics import aggregate


@dataclass
class Importance:
    """``mean``/``std`` ``[weights, objectives, features]``: the NDCG@k drop when each feature is shuffled within
    queries; ``weights[0]`` is the chosen ``w``, the rest the vertices."""

    weights: np.ndarray
    weight_labels: list[str]
    objective_names: list[str]
    feature_ids: list[int]
    mean: np.ndarray
    std: np.ndarray
    baseline: np.ndarray  # [weights, objectives]: NDCG@k of the unshuffled data
    k: int
    repeats: int

    def rows(self) -> list[dict[str, Any]]:
        """One row per (weight, objective, feature): the long format of the CSV."""
        return [{"weight": self.weight_labels[i], "w": " ".join(f"{v:g}" for v in self.weights[i]),
                 "objective": o, "feature": f, "ndcg_drop": float(self.mean[i, j, c]), "std": float(self.std[i, j, c])}
                for i in range(len(self.weights)) for j, o in enumerate(self.objective_names)
                for c, f in enumerate(self.feature_ids)]

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["weight", "w", "objective", "feature", "ndcg_drop", "std"])
        w.writeheader()
        w.writerows(self.rows())
        return buf.getvalue()

    def markdown(self, objective: str | None = None, top: int = 15) -> str:
        """The ``top`` features by importance at the chosen ``w`` (summed over objectives, or for ``objective``):
        one column per objective at ``w``, then the chosen objective (or each objective) at its own vertex."""
        cols = [self.objective_names.index(objective)] if objective else list(range(len(self.objective_names)))
        key = self.mean[0][cols].sum(0)
        order = np.argsort(-key, kind="stable")[:top]
        head = [f"{self.objective_names[j]} @ w" for j in cols]
        head += [f"{self.objective_names[j]} @ {self.weight_labels[1 + j]}" for j in cols]
        lines = ["| feature | " + " | ".join(head) + " |", "|" + "---|" * (len(head) + 1)]
        for c in order:
            cells = [f"{self.mean[0, j, c]:+.4f} ± {self.std[0, j, c]:.4f}" for j in cols]
            cells += [f"{self.mean[1 + j, j, c]:+.4f} ± {self.std[1 + j, j, c]:.4f}" for j in cols]
            lines.append(f"| {self.feature_ids[c]} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _means(run: Any, ds: RankingDataset, weights: np.ndarray, k: int, policy: str) -> np.ndarray:
    per, blank = per_query_ndcg(run.ranker, ds, weights, k=k, device=run.device)  # [weights, objectives, queries]
    return np.array([[aggregate(per[i, j], blank[j], policy).mean for j in range(per.shape[1])]
                     for i in range(per.shape[0])])


def permutation_importance(run: Any, ds: RankingDataset, w: Any = None, *, k: int | None = None, repeats: int = 5,
                           seed: int = 0, features: list[int] | None = None) -> Importance:
    """Permutation importance of ``run``'s model on ``ds`` (see the module docstring). ``w``: the chosen weight
    (default: uniform); ``features``: 1-based feature ids to test (default: every model input)."""
    K = ds.n_objectives
    w = np.full(K, 1.0 / K) if w is None else np.asarray(w, dtype=np.float64)
    if w.shape != (K,) or (w < 0).any() or w.sum() <= 0:
        raise ConfigError(f"--w needs {K} non-negative values, not all 0 ({', '.join(ds.objective_names)}), "
                          f"got {np.asarray(w).tolist()}")
    if repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {repeats}")
    weights = np.vstack([w / w.sum(), np.eye(K)])  # w, then the vertices in objective order
    labels = ["w"] + [f"e_{n}" for n in ds.objective_names]
    k = k or int(run.config.eval.ks[0])
    policy = run.config.eval.blank_policy
    ids = list(map(int, ds.feature_ids))
    chosen = ids if features is None else list(features)
    unknown = [f for f in chosen if f not in ids]
    if unknown:
        raise ConfigError(f"--features {unknown}: not model inputs of this run (its inputs are feature ids "
                          f"{ids[0]}..{ids[-1]}, less those dropped)")
    raw = ds.source.take(ds.raw_rows(np.arange(ds.n_docs))).astype(np.float32, copy=True)  # [docs, raw width]
    shuffled = RankingDataset(FeatureSource([raw]), ds.y, ds.doc_qids, ds.state, labels=ds.labels,
                              name=f"{ds.name}[shuffled]")
    base = _means(run, shuffled, weights, k, policy)
    rng = np.random.default_rng(seed)
    drops = np.zeros((repeats, len(weights), K, len(chosen)))
    sizes = np.diff(ds.offsets)
    for c, fid in enumerate(chosen):
        col = int(ds.transform.columns[ids.index(fid)])  # the raw column behind this model input
        original = raw[:, col].copy()
        for r in range(repeats):
            # a permutation within every query: sort random keys inside each query's block
            keys = rng.random(ds.n_docs) + np.repeat(np.arange(len(sizes)), sizes)
            raw[:, col] = original[np.argsort(keys, kind="stable")]
            drops[r, :, :, c] = base - _means(run, shuffled, weights, k, policy)
        raw[:, col] = original
    return Importance(weights=weights, weight_labels=labels, objective_names=list(ds.objective_names),
                      feature_ids=chosen, mean=drops.mean(0), std=drops.std(0, ddof=1) if repeats > 1 else
                      np.zeros_like(drops[0]), baseline=base, k=k, repeats=repeats)
