"""Per-document MLP scorer, conditioned on (w, β) by FiLM (per-layer scale and shift) or by concatenation; the
conditioning starts as a no-op, so a conditioned copy of a trained reference scores exactly like it."""
from __future__ import annotations

from typing import cast

import torch
from torch import nn

from .base import Scorer, ScorerConfig
from .conditioning import ConditionNet


class MLPScorer(Scorer):
    """Per-document MLP with FiLM / concat conditioning on (w, β)."""

    def __init__(self, config: ScorerConfig, conditioned: bool = True):
        super().__init__()
        self.config = config
        self._conditioned = conditioned and config.conditioning != "none"
        extra = config.cond_dim if (self._conditioned and config.conditioning == "concat") else 0
        dims = [config.n_features] + list(config.hidden)
        self.layers = nn.ModuleList(nn.Linear(a + (extra if i == 0 else 0), b)
                                    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)))
        self.out = nn.Linear(dims[-1], 1)
        self.drop = nn.Dropout(config.dropout)
        if self._conditioned and config.conditioning == "film":
            self.film = ConditionNet(config.cond_dim, config.cond_hidden, 2 * sum(config.hidden))
        if extra:
            with torch.no_grad():
                cast(nn.Linear, self.layers[0]).weight[:, config.n_features:].zero_()

    def forward(self, x, mask=None, weights=None, beta=None):
        mask = self._check(x, mask)
        c = self._cond(x, weights, beta)
        h = x
        if c is not None and self.config.conditioning == "concat":
            h = torch.cat([h, c[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)
        film = self.film(c) if (c is not None and self.config.conditioning == "film") else None
        off = 0
        for layer in self.layers:
            h = layer(h)
            if film is not None:
                n = h.shape[-1]
                gamma = film[:, off:off + n]
                shift = film[:, sum(self.config.hidden) + off:sum(self.config.hidden) + off + n]
                h = h * (1 + gamma[:, None, :]) + shift[:, None, :]
                off += n
            h = self.drop(torch.relu(h))
        s = self.out(h).squeeze(-1)
        return torch.where(mask, s, torch.zeros_like(s))
