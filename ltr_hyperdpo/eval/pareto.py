"""Pareto front and exact hypervolume (moocore), maximising every objective."""
from __future__ import annotations

import moocore
import numpy as np


def reference_point(ref: np.ndarray | float | list | None, n_objectives: int) -> np.ndarray:
    """The hypervolume reference point ``[objectives]``: one value for every objective, or one per objective; 0 in
    every objective by default. Another length, or a non-finite value, raises ``ValueError`` naming both."""
    if ref is None:
        return np.zeros(n_objectives)
    r = np.asarray(ref, dtype=np.float64).reshape(-1)
    if r.size not in (1, n_objectives):
        raise ValueError(f"the hypervolume reference point needs 1 or {n_objectives} values (one per objective), "
                         f"got {r.size}: {r.tolist()}")
    if not np.all(np.isfinite(r)):
        raise ValueError(f"the hypervolume reference point must be finite, got {r.tolist()}")
    return np.broadcast_to(r, (n_objectives,)).copy()


def nondominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask ``[points]`` of the non-dominated rows (maximisation)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError("points must be a non-empty [points, objectives] array")
    return np.asarray(moocore.is_nondominated(p, maximise=True), dtype=bool)


def hypervolume(points: np.ndarray, ref: np.ndarray | float | list | None = None) -> float:
    """Exact hypervolume dominated by ``points`` ``[points, objectives]`` above the reference point."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    r = reference_point(ref, p.shape[1])
    p = p[np.all(p > r, axis=1)]
    if len(p) == 0:
        return 0.0
    return float(moocore.hypervolume(p, ref=r, maximise=True))
