"""Choosing a trade-off after training: maximise one objective subject to constraints on the others.

``select_weight(run, data, maximise="pagerank", subject_to=["relevance >= 0.98*reference"])`` searches the simplex
on ``data`` (a validation split): a dense grid first (K = 2: 101 points on the segment; K >= 3: the smallest
lattice of at least 300 weights), then ``refine_rounds`` rounds of local refinement around the best feasible weight
(Gaussian steps of halving size, projected back onto the simplex). It returns the chosen ``w``, its NDCG@k per
objective, every constraint's margin, and the ``predict`` command that serves it. Infeasible constraints are
refused with the best value each constrained objective reaches anywhere searched.

With ``confidence`` (e.g. 0.95) a weight must satisfy every constraint at that one-sided level of a bootstrap over
the data's queries, the constrained figure and the reference's resampled together: a choice at the edge of the
constraint on validation data then keeps its margin on new queries more often.

For a temperature-conditioned model, ``beta_range=(lo, hi)`` searches β too: 5 log-spaced values, each with the
whole grid; the refinement keeps the best β.

Constraints read ``OBJECTIVE >= VALUE``, ``OBJECTIVE <= VALUE`` or ``OBJECTIVE >= F*reference`` (F times the
reference model's NDCG@k of that objective on the same data).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.grids import weight_grid
from ..data.dataset import RankingDataset
from ..errors import ConfigError
from ..eval.bootstrap import FrontSample
from ..eval.front import evaluate_front, per_query_ndcg, reference_per_query_ndcg

_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w\-.]*)\s*(>=|<=)\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*"
                         r"(\*\s*reference)?\s*$")


@dataclass(frozen=True)
class Constraint:
    """``objective op value`` (``value`` times the reference's figure when ``relative``)."""

    objective: str
    op: str
    value: float
    relative: bool
    text: str

    def bound(self, reference: dict[str, float]) -> float:
        return self.value * reference[self.objective] if self.relative else self.value

    def margin(self, figure: float, reference: dict[str, float]) -> float:
        """How far ``figure`` is inside the constraint (negative: violated)."""
        b = self.bound(reference)
        return figure - b if self.op == ">=" else b - figure


def parse_constraint(text: str, names: list[str]) -> Constraint:
    """A constraint from its text; an unknown objective or a malformed text is one line naming both."""
    m = _CONSTRAINT.match(text)
    if not m:
        raise ConfigError(f"--subject-to {text!r}: expected OBJECTIVE >= VALUE, OBJECTIVE <= VALUE or "
                          f"OBJECTIVE >= F*reference")
    if m.group(1) not in names:
        raise ConfigError(f"--subject-to {text!r}: no objective {m.group(1)!r}; the run's objectives are "
                          f"{', '.join(names)}")
    return Constraint(m.group(1), m.group(2), float(m.group(3)), m.group(4) is not None, text.strip())


@dataclass(kw_only=True)
class Selection:
    """The chosen trade-off and what it achieves on the data it was chosen on (and on ``--check`` data)."""

    w: list[float]
    beta: float | None
    metric: str
    figures: dict[str, float]
    reference: dict[str, float]
    margins: dict[str, float]
    maximise: str
    evaluated: int
    check: dict[str, Any] = field(default_factory=dict)
    confidence: dict[str, Any] = field(default_factory=dict)

    def predict_command(self, run_dir: str) -> str:
        beta = f" --beta {self.beta:.6g}" if self.beta is not None else ""
        return (f"ltr-hyperdpo predict {run_dir} --data FILE --w {' '.join(f'{v:.6g}' for v in self.w)}{beta} "
                f"--out scores.tsv")

    def to_dict(self, run_dir: str = "RUN") -> dict:
        return {"w": self.w, "beta": self.beta, "metric": self.metric, "maximise": self.maximise,
                "figures": self.figures, "reference": self.reference, "margins": self.margins,
                "weights_evaluated": self.evaluated,
                "predict": self.predict_command(run_dir), **({"check": self.check} if self.check else {}),
                **({"confidence": self.confidence} if self.confidence else {})}


def _figures(run: Any, ds: RankingDataset, weights: np.ndarray, k: int, beta: float | None = None
             ) -> tuple[np.ndarray, dict[str, float]]:
    with warnings.catch_warnings():  # nearby candidates often tie: no controllability warning for a search
        warnings.simplefilter("ignore", UserWarning)
        res = evaluate_front(run.ranker, ds, weights, ks=(k,), beta=beta,
                             blank_policy=run.config.eval.blank_policy, device=run.device, engine="kernel")
    names = list(ds.objective_names)
    return res.metrics[f"ndcg@{k}"], dict(zip(names, map(float, res.reference_metrics[f"ndcg@{k}"]), strict=True))


def _lower_margins(run: Any, ds: RankingDataset, ws: np.ndarray, betas: list, k: int, cons: list[Constraint],
                   names: list[str], confidence: float, n_boot: int = 500, seed: int = 0) -> np.ndarray:
    """``[points, constraints]``: each constraint's margin at its ``1 - confidence`` quantile over a bootstrap of
    the data's queries (the constrained figure and the reference's resampled together)."""
    values = np.zeros((len(ws), len(names), ds.n_queries))
    blank = np.zeros((len(names), ds.n_queries), dtype=bool)
    for b in dict.fromkeys(betas):
        idx = [i for i, x in enumerate(betas) if x == b]
        values[idx], blank = per_query_ndcg(run.ranker, ds, ws[idx], k=k, beta=b, device=run.device)
    ref = reference_per_query_ndcg(run.ranker, ds, k=k, device=run.device)
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_boot, ds.n_queries))
    np.add.at(counts, (np.arange(n_boot)[:, None], rng.integers(0, ds.n_queries, size=(n_boot, ds.n_queries))), 1.0)
    means = FrontSample(values, blank).means(counts)  # [boot, points, objectives]
    ref_means = FrontSample(ref[None], blank).means(counts)[:, 0]  # [boot, objectives]
    out = np.zeros((len(ws), len(cons)))
    for c_i, c in enumerate(cons):
        j = names.index(c.objective)
        bound = c.value * ref_means[:, j:j + 1] if c.relative else c.value
        m = means[:, :, j] - bound if c.op == ">=" else bound - means[:, :, j]
        out[:, c_i] = np.quantile(m, 1.0 - confidence, axis=0)
    return out


def _simplex(w: np.ndarray) -> np.ndarray:
    w = np.clip(w, 0.0, None)
    s = w.sum(1, keepdims=True)
    return np.where(s > 0, w / np.where(s > 0, s, 1.0), 1.0 / w.shape[1])


def select_weight(run: Any, ds: RankingDataset, *, maximise: str, subject_to: list[str] | tuple[str, ...] = (),
                  k: int | None = None, beta_range: tuple[float, float] | None = None, refine_rounds: int = 3,
                  confidence: float | None = None, seed: int = 0) -> Selection:
    """Search the simplex for the weight that maximises ``maximise``'s NDCG@k on ``ds`` subject to the constraints
    (see the module docstring); ``run`` is a loaded run (``load_run``)."""
    names = list(ds.objective_names)
    if maximise not in names:
        raise ConfigError(f"--maximise {maximise!r}: no such objective; the run's objectives are {', '.join(names)}")
    cons = [parse_constraint(c, names) for c in subject_to]
    k = k or int(run.config.eval.ks[0])
    j = names.index(maximise)
    K = len(names)
    grid = weight_grid(K, 101 if K == 2 else 300, method="lattice")
    if beta_range is not None:
        if not run.config.model.temperature_conditioned:
            raise ConfigError("--beta-range: this run's model is not temperature-conditioned (it serves any beta by "
                              "rescaling; choose w alone)")
        lo, hi = beta_range
        if not 0 < lo <= hi:
            raise ConfigError(f"--beta-range: expected 0 < low <= high, got {lo} {hi}")
        betas: list[float | None] = [float(b) for b in np.geomspace(lo, hi, 5)]
    else:
        betas = [None]
    all_w, all_p, all_b = [], [], []
    reference: dict[str, float] = {}
    for b in betas:
        pts, reference = _figures(run, ds, grid, k, b)
        all_w.append(grid)
        all_p.append(pts)
        all_b += [b] * len(grid)

    def best(ps: np.ndarray) -> int | None:
        ok = np.array([all(c.margin(float(p[names.index(c.objective)]), reference) >= 0 for c in cons) for p in ps])
        if not ok.any():
            return None
        score = np.where(ok, ps[:, j] + 1e-9 * ps.sum(1), -np.inf)  # ties: the better point overall
        return int(np.argmax(score))

    rng = np.random.default_rng(seed)
    step = 0.5 / (100 if K == 2 else 20)
    for _ in range(refine_rounds if best(np.concatenate(all_p)) is not None else 0):
        i0 = best(np.concatenate(all_p))
        assert i0 is not None
        w0, b0 = np.concatenate(all_w)[i0], all_b[i0]
        cand = _simplex(w0[None] + rng.normal(0.0, step, size=(24, K)))
        p, _ = _figures(run, ds, cand, k, b0)
        all_w.append(cand)
        all_p.append(p)
        all_b += [b0] * len(cand)
        step /= 2
    ws, ps = np.concatenate(all_w), np.concatenate(all_p)
    i = best(ps)
    lower = None
    if confidence is not None and cons and i is not None:
        if not 0.5 <= confidence < 1.0:
            raise ConfigError(f"--confidence: expected a level in [0.5, 1), got {confidence}")
        lower = _lower_margins(run, ds, ws, all_b, k, cons, names, confidence, seed=seed)
        ok = (lower >= 0).all(1)
        i = int(np.argmax(np.where(ok, ps[:, j] + 1e-9 * ps.sum(1), -np.inf))) if ok.any() else None
    if i is None:
        def reached(c: Constraint) -> float:
            col = ps[:, names.index(c.objective)]
            return float(col.max() if c.op == ">=" else col.min())

        reach = "; ".join(f"{c.text}: the best {c.objective} reached is {reached(c):.4f} against a bound of "
                          f"{c.bound(reference):.4f}" for c in cons)
        level = f" at {confidence:.0%} confidence" if lower is not None else ""
        raise ConfigError(f"{ds.name}: no weight satisfies the constraints{level} ({len(ws)} weights searched): "
                          f"{reach}")
    fig = dict(zip(names, map(float, ps[i]), strict=True))
    sel = Selection(w=[float(v) for v in ws[i]], beta=all_b[i], metric=f"ndcg@{k}", figures=fig,
                    reference=reference, margins={c.text: c.margin(fig[c.objective], reference) for c in cons},
                    maximise=maximise, evaluated=len(ws))
    if lower is not None:
        sel.confidence = {"level": confidence, "lower_margins": {c.text: float(lower[i, n])
                                                                 for n, c in enumerate(cons)}}
    return sel


def check_selection(run: Any, sel: Selection, ds: RankingDataset, subject_to: list[str] | tuple[str, ...] = ()
                    ) -> dict:
    """How a choice made on one split holds on another: the figures and every constraint's margin there."""
    names = list(ds.objective_names)
    pts, reference = _figures(run, ds, np.asarray([sel.w]), int(sel.metric.split("@")[1]), sel.beta)
    fig = dict(zip(names, map(float, pts[0]), strict=True))
    cons = [parse_constraint(c, names) for c in subject_to]
    return {"data": ds.name, "figures": fig, "reference": reference,
            "margins": {c.text: c.margin(fig[c.objective], reference) for c in cons}}


__all__ = ["select_weight", "check_selection", "Selection", "Constraint", "parse_constraint"]
