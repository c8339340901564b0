"""Evaluate a trained ranker over a grid of preference weights: NDCG per objective, the front, its hypervolume."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.batching import SlateLoader, Slates
from ..data.dataset import RankingDataset
from ..models.ranker import Ranker, ReferenceRanker
from ..utils.memory import release_freed_memory, release_mapped_pages
from .controllability import controllability
from .metrics import aggregate, ndcg_grid, ndcg_ranx, ranx_ndcg_grid
from .pareto import hypervolume, nondominated, reference_point
from .validation import MAX_DOCS_PER_FORWARD, weights_per_forward


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


@dataclass(kw_only=True)
class FrontResult:
    """A front: each metric per objective at every grid weight, the non-dominated subset and the hypervolume.

    Conventions: NDCG with gain 2^y − 1 and discount 1/log2(i + 1) (ranx's ``ndcg_burges``), ties broken by document
    position before ranx sees a run, blank queries by ``blank_policy`` and counted; the hypervolume is exact (moocore),
    maximised, from ``ref_point``.

    Parameters
    ----------
    objective_names : list of str
        The objectives, in the order of a weight's entries.
    weights : numpy.ndarray
        ``[points, objectives]`` the grid weights.
    metrics : dict
        Metric name (``ndcg@10``, ``ndcg@5``; ``pairwise_accuracy`` in the LLM module) -> ``[points, objectives]``.
    reference_metrics : dict
        Metric name -> ``[objectives]``: the reference model's figures.
    front_metric : str
        The metric the front and its hypervolume are built on.
    ref_point : numpy.ndarray
        ``[objectives]`` the hypervolume reference point.
    hypervolume : float
        Hypervolume of the non-dominated points.
    reference_hypervolume : float
        Hypervolume of the reference model's single point.
    nondominated : numpy.ndarray
        ``[points]`` bool, True = on the front.
    blank_queries : list of int
        Per objective, queries with no relevant document.
    blank_policy : str
        ``skip`` (excluded from the mean), ``zero`` or ``one``.
    beta : float, optional
        The temperature the front was evaluated at (temperature-conditioned models).
    extra : dict
        Further figures written with the front (``ndcg_engine``, controllability, significance, ...).
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
        """The front as a JSON-ready mapping: the layout of ``front.json``.

        Returns
        -------
        dict
            ``objectives``, ``hypervolume``, ``points`` (one per weight: ``w``, every metric, ``nondominated``),
            ``reference`` and the conventions.
        """
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
        """Rebuild a front from `to_dict` output (e.g. a ``front.json``).

        Parameters
        ----------
        d : dict
            The mapping.

        Returns
        -------
        FrontResult
            The front.
        """
        known = {"objectives", "front_metric", "hypervolume", "reference_hypervolume", "hypervolume_ref_point",
                 "hypervolume_sense", "blank_policy", "blank_queries", "beta", "points", "reference"}
        metric_names = list(d["reference"])
        pts = d["points"]
        return cls(objective_names=list(d["objectives"]),
                   weights=np.array([p["w"] for p in pts], dtype=np.float64),
                   metrics={m: np.array([p[m] for p in pts], dtype=np.float64) for m in metric_names},
                   reference_metrics={m: np.asarray(v, dtype=np.float64) for m, v in d["reference"].items()},
                   front_metric=d["front_metric"], ref_point=np.asarray(d["hypervolume_ref_point"], dtype=np.float64),
                   hypervolume=d["hypervolume"], reference_hypervolume=d["reference_hypervolume"],
                   nondominated=np.array([p["nondominated"] for p in pts], dtype=bool),
                   blank_queries=[d["blank_queries"][n] for n in d["objectives"]], blank_policy=d["blank_policy"],
                   beta=d.get("beta"), extra={k: v for k, v in d.items() if k not in known})


def _per_query_ndcg(ranker: Ranker, ds: RankingDataset, weights: np.ndarray, ks: tuple[int, ...], beta: float | None,
                    batch_size: int, device: torch.device, engine: str = "kernel") -> dict[int, np.ndarray]:
    """NDCG@k ``[1 + weights, objectives, queries]`` (row 0: the reference) for every cut-off: each batch of lists is
    scored once per weight in stacked forwards, and its NDCG computed for all weights at once (by the numba kernel,
    or by ranx's ``evaluate`` with ``engine="ranx"``)."""
    grid_fn = ranx_ndcg_grid if engine == "ranx" else ndcg_grid
    n_w, n_k, n_q = len(weights), ds.n_objectives, ds.n_queries
    out = {k: np.zeros((n_w + 1, n_k, n_q)) for k in ks}
    wt = torch.from_numpy(weights).to(device)
    with torch.no_grad():
        for b in SlateLoader(ds, batch_size=batch_size, bucket=True, shuffle=False):
            n_b, width = b.mask.shape
            lengths = b.mask.sum(1).numpy()
            x, mask = (b.features, b.mask) if device.type == "cpu" else (b.features.to(device), b.mask.to(device))
            per = max(1, MAX_DOCS_PER_FORWARD // width)  # lists per forward: long lists are scored in parts
            ref = torch.cat([ranker.reference_score(x[i:i + per], mask[i:i + per]) for i in range(0, n_b, per)])
            rows = [ref.cpu().numpy()[None]]
            step = weights_per_forward(min(n_b, per) * width, n_w, ranker.per_weight_width)
            for s0 in range(0, n_w, step):
                m = min(step, n_w - s0)
                parts = []
                for i in range(0, n_b, per):
                    xs, ms, rs = x[i:i + per], mask[i:i + per], ref[i:i + per]
                    sc = ranker.score(xs, ms, wt[s0:s0 + m][None].expand(xs.shape[0], -1, -1), beta,
                                      reference_scores=rs)  # [lists, m, width]
                    parts.append(sc.float().transpose(0, 1).cpu().numpy())
                rows.append(np.concatenate(parts, axis=1))
            scores = np.concatenate(rows).reshape(-1, width)  # [(1 + weights) * lists, width]
            if not np.isfinite(scores[np.tile(b.mask.numpy(), (n_w + 1, 1))]).all():  # NaN would rank silently
                raise ValueError(f"{ds.name}: the model gave non-finite scores (NaN or inf) for some documents; "
                                 f"no front is reported")
            nd = grid_fn(scores, b.labels.numpy(), lengths, ks)  # [objectives, cut-offs, (1 + weights) * lists]
            for c, k in enumerate(ks):
                out[k][:, :, b.queries] = nd[:, c].reshape(n_k, n_w + 1, n_b).transpose(1, 0, 2)
            release_freed_memory()  # shapes vary by batch: give the freed pages back, memory stays flat
            release_mapped_pages(min_interval_s=1.0)
    return out


def per_query_ndcg(ranker: Ranker, ds: RankingDataset, weights: np.ndarray, *, k: int = 10,
                   beta: float | None = None, batch_size: int = 64, device: torch.device | str = "cpu"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-query NDCG@k ``[weights, objectives, queries]`` at every weight and the blank mask ``[objectives,
    queries]`` (True: no relevant document): the raw material of query-level bootstraps."""
    w = np.asarray(weights, dtype=np.float32)
    per = _per_query_ndcg(ranker, ds, w, (k,), beta, batch_size, torch.device(device))[k][1:]
    blank = ds.blank_mask()
    return per, blank


def reference_per_query_ndcg(ranker: Ranker, ds: RankingDataset, *, k: int = 10, batch_size: int = 64,
                             device: torch.device | str = "cpu") -> np.ndarray:
    """The reference model's per-query NDCG@k ``[objectives, queries]`` (for paired bootstraps against it)."""
    one = np.full((1, ds.n_objectives), 1.0 / ds.n_objectives, dtype=np.float32)
    return _per_query_ndcg(ranker, ds, one, (k,), None, batch_size, torch.device(device))[k][0]


def evaluate_front(ranker: Ranker, ds: RankingDataset, weights: np.ndarray, *, ks: tuple[int, ...] = (10, 5),
                   beta: float | None = None, ref_point: np.ndarray | float | list | None = None,
                   blank_policy: str = "skip", batch_size: int = 64,
                   device: torch.device | str = "cpu", engine: str = "ranx") -> FrontResult:
    """NDCG@k per objective at every weight, the front and its hypervolume.

    The ranker scores ``ds`` once per weight (forward passes on ``device``, where its weights are); NDCG follows the
    stated conventions (gain 2^y − 1, discount 1/log2(i + 1), ties broken by document position); the reference
    model's scores give the reference point of the report.

    Parameters
    ----------
    ranker : Ranker
        The conditioned ranker (``run.ranker``).
    ds : RankingDataset
        Labelled data, transformed with the run's state (``RankingDataset.load(path, state=run.state)``).
    weights : numpy.ndarray
        ``[points, objectives]`` preferences, each finite, >= 0 and not all 0.
    ks : tuple of int, default (10, 5)
        NDCG cut-offs; the first is the front's metric.
    beta : float, optional
        The temperature of a temperature-conditioned model (default: the training one).
    ref_point : float, list or numpy.ndarray, optional
        The hypervolume reference point: one value, or one per objective (default 0).
    blank_policy : {"skip", "zero", "one"}, default "skip"
        Queries with no relevant document: excluded from the mean, or counted as 0 or 1.
    batch_size : int, default 64
        Queries per forward pass.
    device : torch.device or str, default "cpu"
        Where the ranker's weights are.
    engine : {"ranx", "kernel"}, default "ranx"
        ``ranx`` computes the reported figures with ranx's ``Qrels``/``Run``/``evaluate``; ``kernel`` is the numba
        kernel (equal to ranx to 1e-12), for searches over many weights. Recorded in ``extra["ndcg_engine"]``.

    Returns
    -------
    FrontResult
        Every metric at every weight, the non-dominated points, the hypervolume and the reference's figures.

    Raises
    ------
    ValueError
        ``weights`` is not a non-empty ``[points, objectives]`` array of valid preferences, or ``ref_point``,
        ``blank_policy`` or ``engine`` is invalid (the message names the value).
    """
    if engine not in ("ranx", "kernel"):
        raise ValueError(f"engine must be ranx or kernel, got {engine!r}")
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2 or weights.shape[1] != ds.n_objectives or len(weights) == 0:
        raise ValueError(f"weights must be a non-empty [points, {ds.n_objectives}] array, got shape "
                         f"{list(weights.shape)}")
    bad = ~np.isfinite(weights).all(1) | (weights < 0).any(1) | (weights.sum(1) <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"weights row {i} is {weights[i].tolist()}: each weight vector must be finite, >= 0 and "
                         f"not all 0")
    rp = reference_point(ref_point, ds.n_objectives)  # checked before any forward pass
    per = _per_query_ndcg(ranker, ds, weights, tuple(ks), beta, batch_size, torch.device(device), engine)
    blank = ds.blank_mask()

    def means(k: int, policy: str) -> np.ndarray:  # [1 + weights, objectives]
        return np.array([[aggregate(per[k][r, j], blank[j], policy).mean for j in range(ds.n_objectives)]
                         for r in range(len(weights) + 1)])

    table = {k: means(k, blank_policy) for k in ks}
    metrics = {f"ndcg@{k}": table[k][1:] for k in ks}
    front_metric = f"ndcg@{ks[0]}"
    pts = metrics[front_metric]
    ref_vals = {f"ndcg@{k}": table[k][0] for k in ks}
    # a NaN never becomes a result (labels are bounded, so it comes from non-finite scores); only an objective with
    # no relevant document anywhere has no mean under the skip policy
    defined = ~blank.all(1) if blank_policy == "skip" else np.ones(ds.n_objectives, dtype=bool)
    for k in ks:
        if not np.all(np.isfinite(table[k][:, defined])):
            raise ValueError(f"{ds.name}: NDCG@{k} is not finite for some weight or objective (non-finite scores "
                             f"from the model?); nothing was written")
    res = FrontResult(objective_names=ds.objective_names, weights=weights, metrics=metrics,
                      reference_metrics=ref_vals, front_metric=front_metric, ref_point=rp,
                      hypervolume=hypervolume(pts, rp),
                      reference_hypervolume=hypervolume(ref_vals[front_metric][None, :], rp),
                      nondominated=nondominated(pts),
                      blank_queries=[int(blank[j].sum()) for j in range(ds.n_objectives)],
                      blank_policy=blank_policy, beta=beta)
    res.extra["ndcg_engine"] = engine
    if ds.n_objectives > 1 and len(weights) > 1:  # does the weight move the ranking? (stated in every report)
        res.extra["controllability"] = c = controllability(weights, pts, list(ds.objective_names))
        if not isinstance(ranker, ReferenceRanker):  # the reference alone is one point by design
            for finding in c["inactive"]:
                warnings.warn(f"{ds.name}: {finding}", UserWarning, stacklevel=2)
    if blank.any() and blank_policy != TREC_EVAL_POLICY:  # the figure a trec_eval user would compute differs
        alt = means(ks[0], TREC_EVAL_POLICY)
        res.extra["trec_eval_convention"] = {
            "blank_policy": TREC_EVAL_POLICY, "metric": front_metric,
            "note": "queries with no relevant document count as 0, as trec_eval, ranx or ir_measures on qrels do",
            "points": alt[1:].tolist(), "reference": alt[0].tolist()}
    return res
