"""Conditioning inputs: the preference weights w and (optionally) the temperature β, as one vector."""
from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn


def condition_vector(weights: torch.Tensor, beta: torch.Tensor | float | None, use_beta: bool) -> torch.Tensor:
    """``[batch, K(+1)]``: w, then log β when the model is temperature-conditioned."""
    if not use_beta:
        return weights
    if beta is None:
        raise ValueError("this model is temperature-conditioned: pass beta")
    b = torch.as_tensor(beta, dtype=weights.dtype, device=weights.device)
    if b.ndim == 0:
        b = b.expand(weights.shape[0])
    return torch.cat([weights, torch.log(b)[:, None]], dim=1)


class ConditionNet(nn.Module):
    """Small MLP from the condition vector to ``out_dim`` values; last layer zero-initialised (a no-op at start)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, zero_init: bool = True):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, out_dim))
        if zero_init:
            nn.init.zeros_(self.last_layer().weight)
            nn.init.zeros_(self.last_layer().bias)

    def last_layer(self) -> nn.Linear:
        """The output layer (its initialisation decides what the network does at start)."""
        return cast(nn.Linear, self.net[-1])

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.net(c)


class TowerDelta(nn.Module):
    """``x [b, n, in], c [b, J] -> Σ_j c_j g_j(x)`` ``[b, n, 1]``, one tower per condition input,
    ``g_j(x) = v_jᵀ relu(U_j x + a_j) + e_j``; zero at initialisation (``v``, ``e`` start at 0)."""

    def __init__(self, d_in: int, cond_dim: int, hidden: int):
        super().__init__()
        self.U = nn.Parameter(torch.randn(cond_dim, hidden, d_in) / math.sqrt(d_in))
        self.a = nn.Parameter(torch.zeros(cond_dim, hidden))
        self.v = nn.Parameter(torch.zeros(cond_dim, hidden))
        self.e = nn.Parameter(torch.zeros(cond_dim))

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        """The J tower outputs ``[b, n, J]``."""
        u = torch.relu(torch.einsum("bni,jri->bnjr", x, self.U) + self.a)
        return (u * self.v).sum(-1) + self.e

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (self.basis(x) * c[:, None, :]).sum(-1, keepdim=True)

    def per_weight(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The delta ``[b, m, n, 1]`` of one shared input ``x [b, n, in]`` under m conditions ``c [b, m, J]``."""
        return torch.bmm(c, self.basis(x).transpose(1, 2))[..., None]
