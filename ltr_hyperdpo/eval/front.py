"""Evaluate a trained ranker over a grid of preference weights: NDCG per objective, the front, its hypervolume."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.batching import SlateLoader, Slates
from ..data.dataset import RankingDataset
from ..models.ranker import Ranker
from .metrics import ndcg_ranx
from .pareto import hypervolume, nondominated, reference_point


def score_lists(ds: RankingDataset, score_fns: list[Callable[[Slates], torch.Tensor]],
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
    """Objective ``k``'s grades of each query, in query order."""
    return [ds.y[ds.offsets[i]:ds.offsets[i + 1], k] for i in range(ds.n_queries)]


#: the convention of trec_eval, ranx and ir_measures run on qrels: a query with no relevant document scores 0
TREC_EVAL_POLICY = "zero"


def ndcg_matrix(ds: RankingDataset, scores: list[np.ndarray], ks: tuple[int, ...] = (10, 5),
                blank_policy: str = "skip") -> dict:
    """``{"ndcg@k": [objectives]}`` for one set of per-query scores, plus blank counts, and the first cut-off's
    values under the trec_eval convention (``"ndcg@k|zero"``) when that differs from ``blank_policy``."""
    res: dict = {}
    blanks = []
    zero = []
    for k in ks:
        vals = []
        for j in range(ds.n_objectives):
            r = ndcg_ranx(scores, labels_per_query(ds, j), k=k, blank_policy=blank_policy)
            vals.append(r.mean)
            if k == ks[0]:
                blanks.append(r.n_blank)
                if blank_policy != TREC_EVAL_POLICY:
                    per = r.per_query.copy()
                    per[np.asarray([not np.any(y >= 1) for y in labels_per_query(ds, j)])] = 0.0
                    zero.append(float(per.mean()))
        res[f"ndcg@{k}"] = np.asarray(vals)
    res["blank_queries"] = blanks
    if zero:
        res[f"ndcg@{ks[0]}|{TREC_EVAL_POLICY}"] = np.asarray(zero)
    return res


@dataclass
class FrontResult:
    """A front: each metric per objective at every grid weight, the non-dominated subset and the hypervolume.

    ``metrics`` maps a metric name (``ndcg@10``; ``pairwise_accuracy`` in the LLM module) to ``[points,
    objectives]``; ``front_metric`` names the one the front and its hypervolume are built on.
    """

    objective_names: list[str]
    weights: np.ndarray  # [points, objectives]
    metrics: dict  # metric -> [points, objectives]
    reference_metrics: dict  # metric -> [objectives]
    front_metric: str
    ref_point: np.ndarray
    hypervolume: float
    reference_hypervolume: float
    nondominated: np.ndarray
    blank_queries: list[int]
    blank_policy: str
    beta: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def points(self) -> np.ndarray:
        """The front metric ``[points, objectives]``."""
        return self.metrics[self.front_metric]

    def to_dict(self) -> dict:
        return {
            "objectives": self.objective_names, "front_metric": self.front_metric,
            "hypervolume": self.hypervolume, "reference_hypervolume": self.reference_hypervolume,
            "hypervolume_ref_point": self.ref_point.tolist(), "hypervolume_sense": "maximise",
            "blank_policy": self.blank_policy, "blank_queries": dict(zip(self.objective_names, self.blank_queries,
                                                                         strict=True)),
            "beta": self.beta,
            "points": [{"w": w.tolist(), **{m: v[i].tolist() for m, v in self.metrics.items()},
                        "nondominated": bool(self.nondominated[i])} for i, w in enumerate(self.weights)],
            "reference": {m: v.tolist() for m, v in self.reference_metrics.items()},
            **self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FrontResult:
        """Rebuild from :meth:`to_dict` output (e.g. a ``front.json``)."""
        known = {"objectives", "front_metric", "hypervolume", "reference_hypervolume", "hypervolume_ref_point",
                 "hypervolume_sense", "blank_policy", "blank_queries", "beta", "points", "reference"}
        metric_names = list(d["reference"])
        pts = d["points"]
        return cls(list(d["objectives"]), np.array([p["w"] for p in pts], dtype=np.float64),
                   {m: np.array([p[m] for p in pts], dtype=np.float64) for m in metric_names},
                   {m: np.asarray(v, dtype=np.float64) for m, v in d["reference"].items()}, d["front_metric"],
                   np.asarray(d["hypervolume_ref_point"], dtype=np.float64), d["hypervolume"],
                   d["reference_hypervolume"], np.array([p["nondominated"] for p in pts], dtype=bool),
                   [d["blank_queries"][n] for n in d["objectives"]], d["blank_policy"], d.get("beta"),
                   {k: v for k, v in d.items() if k not in known})


def evaluate_front(ranker: Ranker, ds: RankingDataset, weights: np.ndarray, *, ks: tuple[int, ...] = (10, 5),
                   beta: float | None = None, ref_point: np.ndarray | float | list | None = None,
                   blank_policy: str = "skip", batch_size: int = 64) -> FrontResult:
    """Score ``ds`` at every weight (reference scores computed once a batch) and build the front."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2 or weights.shape[1] != ds.n_objectives:
        raise ValueError(f"weights must be [points, {ds.n_objectives}]")
    cache: dict = {}

    def ref_fn(b: Slates) -> torch.Tensor:
        cache["ref"] = ranker.reference_score(b.features, b.mask)
        return cache["ref"]

    def make(w: np.ndarray) -> Callable[[Slates], torch.Tensor]:
        return lambda b: ranker.score(b.features, b.mask, torch.from_numpy(w), beta,
                                      reference_scores=cache["ref"])

    preds = score_lists(ds, [ref_fn] + [make(w) for w in weights], batch_size)
    ref_res = ndcg_matrix(ds, preds[0], ks, blank_policy)
    per_w = [ndcg_matrix(ds, p, ks, blank_policy) for p in preds[1:]]
    metrics = {f"ndcg@{k}": np.stack([r[f"ndcg@{k}"] for r in per_w]) for k in ks}
    front_metric = f"ndcg@{ks[0]}"
    pts = metrics[front_metric]
    rp = reference_point(ref_point, ds.n_objectives)
    res = FrontResult(ds.objective_names, weights, metrics, {m: ref_res[m] for m in metrics}, front_metric, rp,
                      hypervolume(pts, rp), hypervolume(ref_res[front_metric][None, :], rp), nondominated(pts),
                      ref_res["blank_queries"], blank_policy, beta)
    alt = f"{front_metric}|{TREC_EVAL_POLICY}"
    if any(ref_res["blank_queries"]) and alt in ref_res:  # the figure a trec_eval user would compute differs
        res.extra["trec_eval_convention"] = {
            "blank_policy": TREC_EVAL_POLICY, "metric": front_metric,
            "note": "queries with no relevant document count as 0, as trec_eval, ranx or ir_measures on qrels do",
            "points": np.stack([r[alt] for r in per_w]).tolist(), "reference": ref_res[alt].tolist()}
    return res
