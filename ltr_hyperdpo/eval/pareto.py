"""Pareto front and exact hypervolume (moocore), maximising every objective."""
from __future__ import annotations

import numpy as np


def nondominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask ``[points]`` of the non-dominated rows (maximisation)."""
    import moocore

    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError("points must be a non-empty [points, objectives] array")
    return np.asarray(moocore.is_nondominated(p, maximise=True), dtype=bool)


def hypervolume(points: np.ndarray, ref: np.ndarray | float | None = None) -> float:
    """Exact hypervolume dominated by ``points`` above the reference point (default 0 in every objective)."""
    import moocore

    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    r = np.zeros(p.shape[1]) if ref is None else np.broadcast_to(np.asarray(ref, dtype=np.float64), (p.shape[1],))
    p = p[np.all(p > r, axis=1)]
    if len(p) == 0:
        return 0.0
    return float(moocore.hypervolume(p, ref=r, maximise=True))


def normalised_hypervolume(points: np.ndarray, ideal: np.ndarray, ref: np.ndarray | float | None = None) -> float:
    """Hypervolume divided by that of the ideal point (each objective's best), a value in [0, 1]."""
    hv_ideal = hypervolume(np.asarray(ideal)[None, :], ref)
    return hypervolume(points, ref) / hv_ideal if hv_ideal > 0 else float("nan")
