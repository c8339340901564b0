"""Shared helpers: masks, discounts, ideal DCG. Shapes: ``[batch, list]``; mask True = real item."""
from __future__ import annotations

import torch


def default_mask(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones_like(scores, dtype=torch.bool)
    if mask.shape != scores.shape:
        raise ValueError(f"mask {tuple(mask.shape)} must match scores {tuple(scores.shape)}")
    return mask.bool()


def check_shapes(scores: torch.Tensor, labels: torch.Tensor) -> None:
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} must both be [batch, list]")


def discounts(n: int, device, dtype) -> torch.Tensor:
    """``1/log2(i + 1)`` for positions i = 1..n, ``[n]``."""
    return 1.0 / torch.log2(torch.arange(2, n + 2, device=device, dtype=dtype))


def gains(labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``2^y − 1`` with padded items at 0, ``[batch, list]``."""
    return torch.where(mask, torch.pow(2.0, labels.clamp_min(0)) - 1, torch.zeros_like(labels))


def ideal_dcg(labels: torch.Tensor, mask: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Ideal DCG@k per list ``[batch]``."""
    g = torch.sort(gains(labels, mask), dim=-1, descending=True).values
    d = discounts(g.shape[-1], g.device, g.dtype)
    if k is not None:
        d = torch.where(torch.arange(g.shape[-1], device=g.device) < k, d, torch.zeros_like(d))
    return (g * d).sum(-1)
