"""Weight grids on the simplex: the dense test grid of a front, the validation grid, and the training weights of a
multi-run method's M members.

* K = 2: points evenly spaced on the segment from (0, 1) to (1, 0).
* K >= 3, ``lattice``: the simplex lattice ``{h / H : h in N^K, sum h = H}`` (all vertices included); the test grid
  takes the smallest H giving at least N points (N = 50 by default: 55 weights for K=3, 56 for K=4, 70 for K=5), the
  members the largest H giving at most M (M = 15: 15 weights for K=3, 10 for K=4, 15 for K=5).
* K >= 3, ``random``: the K vertices plus N − K quasi-random (Sobol) points mapped to the simplex.
* Validation (early stopping): vertices, the centroid and every pairwise midpoint, so interior weights are always
  seen (K=2: ``val_grid`` points on the segment).
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy.stats import qmc

#: default test-grid size: K = 2 points on the segment; K >= 3 at least this many weights
DEFAULT_TEST_POINTS_K2, DEFAULT_TEST_POINTS = 11, 50
#: default budget M of a multi-run method: K = 2 members on the segment; K >= 3 the lattice that fits this many
DEFAULT_MEMBERS_K2, DEFAULT_MEMBERS = 11, 15
GRID_METHODS = ("auto", "lattice", "random")


def lattice(n_objectives: int, resolution: int) -> np.ndarray:
    """All weights ``h / H`` with non-negative integers ``h`` summing to ``H`` ``[points, objectives]``."""
    pts = [c for c in itertools.product(range(resolution + 1), repeat=n_objectives) if sum(c) == resolution]
    return np.asarray(pts, dtype=np.float64)[::-1] / resolution


def lattice_size(n_objectives: int, resolution: int) -> int:
    """Number of points of the simplex lattice of resolution H."""
    return math.comb(resolution + n_objectives - 1, n_objectives - 1)


def _segment(n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, max(n, 2))
    return np.stack([t, 1 - t], axis=1)


def _check(n_objectives: int, n_points: int, method: str) -> None:
    if n_objectives < 1 or n_points < 1:
        raise ValueError(f"need n_objectives >= 1 and n_points >= 1, got {n_objectives}, {n_points}")
    if method not in GRID_METHODS:
        raise ValueError(f"grid method must be one of {GRID_METHODS}, got {method!r}")


def default_test_points(n_objectives: int) -> int:
    return DEFAULT_TEST_POINTS_K2 if n_objectives <= 2 else DEFAULT_TEST_POINTS


def weight_grid(n_objectives: int, n_points: int | None = None, *, method: str = "auto", seed: int = 0) -> np.ndarray:
    """The test grid ``[points, objectives]``: K=2 ``n_points`` on the segment; K>=3 the smallest lattice with at
    least ``n_points`` weights, or (``random``) vertices + Sobol points. ``None`` = the defaults above."""
    n = default_test_points(n_objectives) if n_points is None else n_points
    _check(n_objectives, n, method)
    if n_objectives == 1:
        return np.ones((1, 1))
    if n_objectives == 2:
        return _segment(n)
    if method == "random":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol's balance warning for non-power-of-2 counts: fine for a grid
            u = qmc.Sobol(n_objectives - 1, seed=seed).random(max(n - n_objectives, 1))
        s = np.sort(np.c_[np.zeros(len(u)), u, np.ones(len(u))], axis=1)
        return np.concatenate([np.eye(n_objectives), np.diff(s, axis=1)])
    h = 1
    while lattice_size(n_objectives, h) < n:
        h += 1
    return lattice(n_objectives, h)


def member_grid(n_objectives: int, n_members: int | None = None) -> np.ndarray:
    """Training weights of a multi-run method: K=2 ``M`` on the segment; K>=3 the largest lattice with at most
    ``M`` weights (vertices always included)."""
    m = (DEFAULT_MEMBERS_K2 if n_objectives <= 2 else DEFAULT_MEMBERS) if n_members is None else n_members
    _check(n_objectives, m, "lattice")
    if n_objectives == 1:
        return np.ones((1, 1))
    if n_objectives == 2:
        return _segment(m)
    h = 1
    while lattice_size(n_objectives, h + 1) <= m:
        h += 1
    return lattice(n_objectives, h)


def validation_grid(n_objectives: int, n_points: int = 5) -> np.ndarray:
    """Early-stopping grid: K=2 ``n_points`` on the segment; K>=3 vertices, centroid and pairwise midpoints."""
    if n_objectives == 1:
        return np.ones((1, 1))
    if n_objectives == 2:
        return _segment(n_points)
    eye = np.eye(n_objectives)
    mids = [(eye[i] + eye[j]) / 2 for i, j in itertools.combinations(range(n_objectives), 2)]
    return np.concatenate([eye, np.full((1, n_objectives), 1.0 / n_objectives), np.asarray(mids)])


def describe_grid(weights: np.ndarray, method: str = "auto") -> dict:
    """What a grid is, for the outputs: kind, size, and the lattice resolution when it is a lattice."""
    w = np.asarray(weights, dtype=np.float64)
    k = w.shape[1]
    if k <= 2:
        return {"kind": "segment" if k == 2 else "single", "points": int(len(w))}
    if method == "random":
        return {"kind": "vertices + Sobol (quasi-random)", "points": int(len(w))}
    h = next((h for h in range(1, 64) if np.allclose(w * h, np.round(w * h))), None)
    if h is not None and lattice_size(k, h) == len(w):
        return {"kind": "simplex lattice", "resolution": h, "points": int(len(w))}
    return {"kind": "custom", "points": int(len(w))}
