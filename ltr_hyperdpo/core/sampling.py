"""Sampling of preference weights on the simplex (Dirichlet) and of temperatures (log-uniform)."""
from __future__ import annotations

import math

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
