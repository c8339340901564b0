"""Context-aware transformer scorer with Hyper Prompt Tuning.

Documents of a list attend to each other (no positional encoding: the scores are permutation-equivariant). The
conditioned variant adds hyper prompts: a small network maps (w, β) to ``n_prompts`` prompt vectors per layer that
every document's query also attends to, as extra keys and values projected by the layer's own weights (HyperPrompt /
prefix tuning). Their contribution enters through a gate per layer and head, ``tanh(g)``, initialised at zero, so a
conditioned copy of a trained reference scores exactly like it before fine-tuning (and prompts get no score).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Scorer, ScorerConfig, make_activation
from .conditioning import ConditionNet


class PrefixBlock(nn.Module):
    """Pre-norm encoder layer (self-attention + GELU feed-forward) that can also attend to gated prefix prompts."""

    def __init__(self, d: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, d_ff)
        self.ff2 = nn.Linear(d_ff, d)
        self.drop = nn.Dropout(dropout)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, d = t.shape
        return t.reshape(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)  # [b, heads, n, d_head]

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if keep is not None:
            scores = scores.masked_fill(~keep, float("-inf"))
        return self.drop(torch.softmax(scores, dim=-1)) @ v

    def forward(self, h: torch.Tensor, keep: torch.Tensor, prompts: torch.Tensor | None = None,
                gate: torch.Tensor | None = None) -> torch.Tensor:
        """``h`` ``[batch, list, d]``; ``keep`` ``[batch, 1, 1, list]`` True = attend; ``prompts`` ``[batch, P, d]``;
        ``gate`` ``[heads]``."""
        a = self.norm1(h)
        q, k, v = (self._heads(t) for t in self.qkv(a).chunk(3, dim=-1))
        o = self._attend(q, k, v, keep)
        if prompts is not None and gate is not None:
            _, kp, vp = (self._heads(t) for t in self.qkv(self.norm1(prompts)).chunk(3, dim=-1))
            o = o + torch.tanh(gate)[None, :, None, None] * self._attend(q, kp, vp, None)
        b, _, n, _ = o.shape
        h = h + self.drop(self.out(o.transpose(1, 2).reshape(b, n, -1)))
        return h + self.drop(self.ff2(self.drop(F.gelu(self.ff1(self.norm2(h))))))


class HyperPrompts(nn.Module):
    """(w, β) -> prompt vectors ``[batch, layers, P, d]``, and the zero-initialised gates ``[layers, heads]``."""

    def __init__(self, cond_dim: int, hidden: int, n_layers: int, n_prompts: int, d: int, n_heads: int):
        super().__init__()
        self.shape = (n_layers, n_prompts, d)
        self.net = ConditionNet(cond_dim, hidden, n_layers * n_prompts * d, zero_init=False)
        self.gate = nn.Parameter(torch.zeros(n_layers, n_heads))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.net(c).reshape(c.shape[0], *self.shape)


class TransformerScorer(Scorer):
    """Self-attention over the documents of a list, with gated hyper prompts from (w, β)."""

    def __init__(self, config: ScorerConfig, conditioned: bool = True):
        super().__init__()
        self.config = config
        self._conditioned = conditioned and config.n_prompts > 0 and config.conditioning != "none"
        d = config.d_model
        self.input_norm = nn.LayerNorm(config.n_features) if config.input_norm else None
        self.inp = nn.Sequential(nn.Linear(config.n_features, d), nn.LayerNorm(d))
        self.blocks = nn.ModuleList(PrefixBlock(d, config.n_heads, config.d_ff, config.dropout)
                                    for _ in range(config.n_layers))
        self.out_act = make_activation(config.output_activation) if config.output_activation else None
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        if self._conditioned:
            self.prompt_net = HyperPrompts(config.cond_dim, config.cond_hidden, config.n_layers, config.n_prompts, d,
                                           config.n_heads)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, weights: torch.Tensor | None = None,
                beta: torch.Tensor | float | None = None) -> torch.Tensor:
        if weights is not None and weights.ndim == 3 and self.conditioned:  # attention mixes w into every layer
            return self._each_weight(x, mask, weights, beta)
        mask = self._check(x, mask)
        c = self._cond(x, weights, beta)
        h = self.inp(self.input_norm(x) if self.input_norm is not None else x)
        # a list with no real item would make its attention rows all -inf: let it attend to itself (scores masked)
        keep = (mask | ~mask.any(dim=1, keepdim=True))[:, None, None, :]
        prompts = self.prompt_net(c) if c is not None else None
        for i, blk in enumerate(self.blocks):
            h = blk(h, keep, None if prompts is None else prompts[:, i], self.prompt_net.gate[i] if prompts is not None
                    else None)
        s = self.head(self.norm(h)).squeeze(-1)
        if self.out_act is not None:
            s = self.out_act(s)
        return torch.where(mask, s, torch.zeros_like(s))
