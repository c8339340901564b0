"""Sampling of preference weights on the simplex and of temperatures, and evaluation grids."""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch


def sample_weights(batch: int, n_objectives: int, alpha=1.0, *, generator: torch.Generator | None = None,
                   device=None) -> torch.Tensor:
    """``w ~ Dirichlet(alpha)`` ``[batch, objectives]``; ``alpha`` a float or a per-objective sequence."""
    a = torch.as_tensor(alpha, dtype=torch.float64)
    if a.ndim == 0:
        a = a.expand(n_objectives)
    if a.shape != (n_objectives,) or bool((a <= 0).any()):
        raise ValueError(f"alpha must be positive, scalar or of length {n_objectives}")
    # Gamma draws through the explicit generator (torch.distributions has no generator argument)
    g = _gamma(a.expand(batch, n_objectives), generator)
    w = g / g.sum(-1, keepdim=True)
    return w.to(dtype=torch.float32, device=device or "cpu")


def _gamma(alpha: torch.Tensor, generator) -> torch.Tensor:
    return torch._standard_gamma(alpha) if generator is None else _gamma_mt(alpha, generator)


def _gamma_mt(alpha: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Marsaglia–Tsang gamma sampler driven by ``generator`` (alpha < 1 via the boost trick)."""
    boost = alpha < 1
    a = torch.where(boost, alpha + 1, alpha)
    d = a - 1.0 / 3
    c = 1.0 / torch.sqrt(9 * d)
    out = torch.zeros_like(a)
    todo = torch.ones_like(a, dtype=torch.bool)
    while bool(todo.any()):
        x = torch.randn(a.shape, generator=generator, dtype=a.dtype)
        u = torch.rand(a.shape, generator=generator, dtype=a.dtype)
        v = (1 + c * x) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * x * x + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        take = ok & todo
        out = torch.where(take, d * v, out)
        todo = todo & ~take
    if bool(boost.any()):
        u = torch.rand(a.shape, generator=generator, dtype=a.dtype)
        out = torch.where(boost, out * u ** (1.0 / alpha), out)
    return out


def sample_beta(batch: int, beta_range: tuple[float, float], *,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """β log-uniform in ``[lo, hi]`` ``[batch]``."""
    lo, hi = float(beta_range[0]), float(beta_range[1])
    if not 0 < lo <= hi:
        raise ValueError(f"beta_range must satisfy 0 < lo <= hi, got {beta_range}")
    u = torch.rand(batch, generator=generator)
    return torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))


def weight_grid(n_objectives: int, n_points: int, *, method: str = "auto", seed: int = 0) -> np.ndarray:
    """Weights ``[points, objectives]`` on the simplex for evaluating a front.

    K=2 (any method): ``n_points`` evenly spaced from (0, 1) to (1, 0). K>=3: ``lattice`` (the simplex lattice with
    the largest resolution H giving at most ``n_points`` points, all vertices included) or ``random``
    (quasi-random Sobol points mapped to the simplex, plus the vertices). ``auto`` = segment for K=2, lattice otherwise.
    """
    if n_objectives < 1 or n_points < 1:
        raise ValueError("need n_objectives >= 1 and n_points >= 1")
    if n_objectives == 1:
        return np.ones((1, 1))
    if n_objectives == 2:  # the segment is the natural grid for two objectives, whatever the method
        t = np.linspace(0.0, 1.0, max(n_points, 2))
        return np.stack([t, 1 - t], axis=1)
    if method in ("auto", "lattice"):
        h = 1
        while math.comb(h + 1 + n_objectives - 1, n_objectives - 1) <= n_points:
            h += 1
        pts = [c for c in itertools.product(range(h + 1), repeat=n_objectives) if sum(c) == h]
        return np.asarray(pts, dtype=np.float64)[::-1] / h
    if method == "random":
        import warnings

        from scipy.stats import qmc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # balance warning for non-power-of-2 counts; fine for a grid
            u = qmc.Sobol(n_objectives - 1, seed=seed).random(max(n_points - n_objectives, 1))
        s = np.sort(np.c_[np.zeros(len(u)), u, np.ones(len(u))], axis=1)
        w = np.diff(s, axis=1)
        return np.concatenate([np.eye(n_objectives), w])
    raise ValueError(f"method must be auto, lattice or random, got {method!r}")
