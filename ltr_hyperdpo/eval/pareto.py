"""Pareto front and exact hypervolume (moocore), maximising every objective."""
from __future__ import annotations

import moocore
import numpy as np


def reference_point(ref: np.ndarray | float | list | None, n_objectives: int) -> np.ndarray:
    """The hypervolume reference point ``[objectives]``: ``ref`` broadcast, 0 in every objective by default."""
    if ref is None:
        return np.zeros(n_objectives)
    return np.broadcast_to(np.asarray(ref, dtype=np.float64), (n_objectives,)).copy()


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
