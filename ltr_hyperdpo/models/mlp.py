"""Per-document MLP scorer conditioned on (w, β). Every conditioning starts as a no-op, so a conditioned copy of a
trained reference scores exactly like it before fine-tuning.

* ``film``: a small network maps (w, β) to a per-unit scale and shift of every hidden layer.
* ``lowrank``: a hypernetwork of rank-r weight deltas, linear in the condition vector c = (w, log β): each layer's
  weight is ``W_0 + Σ_j c_j B_j A_j`` (and its bias ``b_0 + Σ_j c_j d_j``), with ``B`` and ``d`` starting at 0.
  The soup of per-objective experts, ``θ(w) = Σ_k w_k θ_k``, is the full-rank case of this family.
* ``concat``: (w, β) appended to the input (the first layer's new weights start at 0).
"""
from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from .base import Scorer, ScorerConfig, make_activation
from .conditioning import ConditionNet


class LowRankDelta(nn.Module):
    """``x [b, n, in], c [b, J] -> Σ_j c_j (x A_jᵀ) B_jᵀ + c d`` ``[b, n, out]``; zero at initialisation."""

    def __init__(self, d_in: int, d_out: int, cond_dim: int, rank: int):
        super().__init__()
        self.A = nn.Parameter(torch.randn(cond_dim, rank, d_in) / math.sqrt(d_in))
        self.B = nn.Parameter(torch.zeros(cond_dim, d_out, rank))
        self.d = nn.Parameter(torch.zeros(cond_dim, d_out))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        u = torch.einsum("bni,jri->bnjr", x, self.A) * c[:, None, :, None]
        return torch.einsum("bnjr,jor->bno", u, self.B) + (c @ self.d)[:, None, :]


class MLPScorer(Scorer):
    """Per-document MLP with FiLM, low-rank or concat conditioning on (w, β)."""

    def __init__(self, config: ScorerConfig, conditioned: bool = True):
        super().__init__()
        self.config = config
        self._conditioned = conditioned and config.conditioning != "none"
        mode = config.conditioning if self._conditioned else "none"
        extra = config.cond_dim if mode == "concat" else 0
        dims = [config.n_features] + list(config.hidden)
        self.layers = nn.ModuleList(nn.Linear(a + (extra if i == 0 else 0), b)
                                    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)))
        self.out = nn.Linear(dims[-1], 1)
        self.drop = nn.Dropout(config.dropout)
        self.act = make_activation(config.activation)
        self.input_norm = nn.LayerNorm(config.n_features) if config.input_norm else None
        self.out_act = make_activation(config.output_activation) if config.output_activation else None
        if mode == "film":
            self.film = ConditionNet(config.cond_dim, config.cond_hidden, 2 * sum(config.hidden))
        if mode == "lowrank":
            self.lowrank = nn.ModuleList(LowRankDelta(a, b, config.cond_dim, config.rank)
                                         for a, b in zip(dims, dims[1:] + [1], strict=True))
        if extra:
            with torch.no_grad():
                cast(nn.Linear, self.layers[0]).weight[:, config.n_features:].zero_()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, weights: torch.Tensor | None = None,
                beta: torch.Tensor | float | None = None) -> torch.Tensor:
        mask = self._check(x, mask)
        c = self._cond(x, weights, beta)
        mode = self.config.conditioning if c is not None else "none"
        h = self.input_norm(x) if self.input_norm is not None else x
        if c is not None and mode == "concat":
            h = torch.cat([h, c[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)
        film = self.film(c) if c is not None and mode == "film" else None
        off = 0
        width = sum(self.config.hidden)
        for i, layer in enumerate(self.layers):
            z = layer(h)
            if c is not None and mode == "lowrank":
                z = z + self.lowrank[i](h, c)
            if film is not None:  # z (1 + scale) + shift, in one fused operation
                n = z.shape[-1]
                z = torch.addcmul(film[:, None, width + off:width + off + n], z, 1 + film[:, None, off:off + n])
                off += n
            h = self.drop(self.act(z))
        s = self.out(h)
        if c is not None and mode == "lowrank":
            s = s + self.lowrank[-1](h, c)
        s = s.squeeze(-1)
        if self.out_act is not None:
            s = self.out_act(s)
        return torch.where(mask, s, torch.zeros_like(s))
