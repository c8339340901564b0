"""Whether a front is controllable: does moving the weight move the ranking the way it says?

For a grid of weights ``W [points, objectives]`` and the front metric ``P [points, objectives]``:

* ``spearman[k]``: Spearman's rank correlation of ``w_k`` with ``P[:, k]`` over the grid (positive: more weight on
  objective k gives it a higher NDCG; ``None`` when either does not vary);
* ``distinct_share``: the share of grid points whose metrics differ from every earlier point by more than ``tol``;
* ``nondominated_share``: the share of grid points on the front (no other point as good on every objective and
  better on one);
* ``inactive``: one line per finding when the trade-off does not act: every weight gives the same metrics, or an
  objective's metric does not move across the grid (a spread below ``tol``).
"""
from __future__ import annotations

import numpy as np

from ..data.leakage import rankdata
from .pareto import nondominated

#: metric differences below this count as equal (NDCG is reported to 5 decimals)
TOLERANCE = 1e-6


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation of two 1-d arrays (average ranks for ties); ``None`` when one is constant."""
    ra, rb = rankdata(np.asarray(a, dtype=np.float64)), rankdata(np.asarray(b, dtype=np.float64))
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def controllability(weights: np.ndarray, points: np.ndarray, names: list[str], tol: float = TOLERANCE) -> dict:
    """The diagnostics above for one front (see the module docstring)."""
    w = np.asarray(weights, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    distinct = [i for i in range(n) if all(np.abs(p[i] - p[j]).max() > tol for j in range(i))]
    rho = {name: spearman(w[:, k], p[:, k]) for k, name in enumerate(names)}
    spread = {name: float(np.ptp(p[:, k])) for k, name in enumerate(names)}
    inactive = []
    if len(distinct) <= 1:
        inactive.append(f"every one of the {n} weights gives the same metrics: the trade-off is inactive")
    else:
        inactive += [f"objective {name!r} does not move across the {n} weights (spread {spread[name]:.2g})"
                     for name in names if spread[name] <= tol]
    return {"spearman_w_metric": rho, "spread": spread, "distinct_share": len(distinct) / max(n, 1),
            "nondominated_share": float(np.mean(nondominated(p))) if n else 0.0, "inactive": inactive}


def summary_line(c: dict) -> str:
    """One printable line of :func:`controllability`."""
    rho = ", ".join(f"{k} {'n/a' if v is None else f'{v:+.2f}'}" for k, v in c["spearman_w_metric"].items())
    return (f"controllability: Spearman(w_k, NDCG_k) {rho}; distinct points {c['distinct_share']:.0%}, "
            f"non-dominated {c['nondominated_share']:.0%}")


__all__ = ["controllability", "spearman", "summary_line", "TOLERANCE"]
