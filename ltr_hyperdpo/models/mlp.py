"""Per-document MLP scorer conditioned on (w, β). Every conditioning starts as a no-op, so a conditioned copy of a
trained reference scores exactly like it before fine-tuning.

* ``film``: a small network maps (w, β) to a per-unit scale and shift of every hidden layer.
* ``lowrank``: a hypernetwork of rank-r weight deltas, linear in the condition vector c = (w, log β): each layer's
  weight is ``W_0 + Σ_j c_j B_j A_j`` (and its bias ``b_0 + Σ_j c_j d_j``), with ``B`` and ``d`` starting at 0.
  The soup of per-objective experts, ``θ(w) = Σ_k w_k θ_k``, is the full-rank case of this family.
* ``concat``: (w, β) appended to the input (the first layer's new weights start at 0).

With ``head_hidden`` H > 0 the low-rank output layer's delta is replaced by one tower per condition input,
``Σ_j c_j g_j(h)`` with ``g_j(h) = v_jᵀ relu(U_j h + a_j) + e_j`` (H hidden units, ``v`` and ``e`` starting at 0): more
capacity per objective, the score still affine in w.
"""
from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from .base import Scorer, ScorerConfig, make_activation
from .conditioning import ConditionNet, TowerDelta


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

    def per_weight(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The delta ``[b, m, n, out]`` of one shared input ``x [b, n, in]`` under m conditions ``c [b, m, J]``:
        the J basis deltas ``B_j A_j x`` are computed once, then mixed per condition (J·out per document and
        weight instead of J·r·(in + out))."""
        basis = torch.einsum("bnjr,jor->bnjo", torch.einsum("bni,jri->bnjr", x, self.A), self.B)
        b, n, j, o = basis.shape
        mixed = torch.bmm(c, basis.permute(0, 2, 1, 3).reshape(b, j, n * o)).view(b, -1, n, o)
        return mixed + (c @ self.d)[:, :, None, :]


class MLPScorer(Scorer):
    """Per-document MLP with FiLM, low-rank or concat conditioning on (w, β).

    With ``conditioned_layers`` = N only the last N linear layers are conditioned; the layers before them form a trunk
    that is computed once per list however many weights the list is scored under (``weights [batch, m, K]``).
    """

    def __init__(self, config: ScorerConfig, conditioned: bool = True):
        super().__init__()
        self.config = config
        self._conditioned = conditioned and config.conditioning != "none"
        mode = config.conditioning if self._conditioned else "none"
        extra = config.cond_dim if mode == "concat" else 0
        dims = [config.n_features] + list(config.hidden)
        n_linear = len(dims)  # hidden layers + the output layer
        #: index of the first conditioned linear layer (the trunk is everything before it)
        self.first_conditioned = n_linear - config.conditioned_layers if config.conditioned_layers else 0
        self.layers = nn.ModuleList(nn.Linear(a + (extra if i == 0 else 0), b)
                                    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)))
        self.out = nn.Linear(dims[-1], 1)
        self.drop = nn.Dropout(config.dropout)
        self.act = make_activation(config.activation)
        self.input_norm = nn.LayerNorm(config.n_features) if config.input_norm else None
        self.out_act = make_activation(config.output_activation) if config.output_activation else None
        self._film_offsets: dict[int, int] = {}
        if mode == "film":
            off = 0
            for i, width in enumerate(config.hidden):
                if i >= self.first_conditioned:
                    self._film_offsets[i] = off
                    off += width
            self._film_width = off
            self.film = ConditionNet(config.cond_dim, config.cond_hidden, 2 * off)
        if mode == "lowrank":  # layers of the trunk hold a parameter-free placeholder (the keys stay lowrank.<i>)
            self.lowrank = nn.ModuleList(LowRankDelta(a, b, config.cond_dim, config.rank)
                                         if i >= self.first_conditioned else nn.Module()
                                         for i, (a, b) in enumerate(zip(dims, dims[1:] + [1], strict=True)))
            if config.head_hidden:
                self.lowrank[-1] = TowerDelta(dims[-1], config.cond_dim, config.head_hidden)
        if extra:
            with torch.no_grad():
                cast(nn.Linear, self.layers[0]).weight[:, config.n_features:].zero_()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, weights: torch.Tensor | None = None,
                beta: torch.Tensor | float | None = None) -> torch.Tensor:
        mask = self._check(x, mask)
        c = self._cond(x, weights, beta)
        mode = self.config.conditioning if c is not None else "none"
        multi = c is not None and weights is not None and weights.ndim == 3
        if multi and mode == "concat":
            return self._each_weight(x, mask, cast(torch.Tensor, weights), beta)
        b, n = x.shape[:2]
        m = c.shape[0] // b if c is not None else 1
        h = self.input_norm(x) if self.input_norm is not None else x
        if c is not None and mode == "concat":
            h = torch.cat([h, c[:, None, :].expand(-1, n, -1)], dim=-1)
        film = self.film(c) if mode == "film" else None
        shared = multi  # h is [b, n, d] shared by the m weights of a list, until the first conditioned layer
        for i, layer in enumerate(self.layers):
            z = layer(h)
            conditioned = c is not None and mode in ("lowrank", "film") and i >= self.first_conditioned
            if conditioned and shared:
                z = self._expand(z, m)
            if c is not None and conditioned and mode == "lowrank":
                z = z + (self._shared_delta(i, h, c, m) if shared else self.lowrank[i](h, c))
            if conditioned and film is not None:  # z (1 + scale) + shift, in one fused operation
                off, width = self._film_offsets[i], z.shape[-1]
                z = torch.addcmul(film[:, None, self._film_width + off:self._film_width + off + width], z,
                                  1 + film[:, None, off:off + width])
            shared = shared and not conditioned
            h = self.drop(self.act(z))
        s = self.out(h)
        if c is not None and mode == "lowrank":
            if shared:
                s = self._expand(s, m) + self._shared_delta(len(self.layers), h, c, m)
            else:
                s = s + self.lowrank[-1](h, c)
        elif shared:
            s = self._expand(s, m)
        s = s.squeeze(-1)
        if self.out_act is not None:
            s = self.out_act(s)
        if multi:
            return torch.where(mask[:, None, :], s.view(b, m, n), torch.zeros((), dtype=s.dtype, device=s.device))
        return torch.where(mask, s, torch.zeros_like(s))

    @property
    def per_weight_width(self) -> int:
        if not self.conditioned:
            return 0
        if self.config.conditioning == "concat":
            return max(self.config.hidden)
        widths = list(self.config.hidden) + [1]
        return max(max(widths[self.first_conditioned:]), self.config.cond_dim)

    @staticmethod
    def _expand(z: torch.Tensor, m: int) -> torch.Tensor:
        """``[b, n, d] -> [b·m, n, d]``: each list's rows repeated for its m weights (row i·m + j = weight j)."""
        return z.repeat_interleave(m, 0)

    def _shared_delta(self, i: int, h: torch.Tensor, c: torch.Tensor, m: int) -> torch.Tensor:
        """Layer ``i``'s low-rank delta ``[b·m, n, out]`` of a shared input ``h [b, n, in]``."""
        delta = cast(LowRankDelta, self.lowrank[i]).per_weight(h, c.view(h.shape[0], m, -1))
        return delta.reshape(-1, *delta.shape[2:])
