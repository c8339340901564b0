"""ListNet (Cao et al. 2007): cross-entropy between the top-one distributions of labels and scores."""
from __future__ import annotations

import torch

from ._common import check_shapes, default_mask


def listnet_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-list ``-Σ softmax(y) · log_softmax(s)`` over real items ``[batch]``; scores/labels ``[batch, list]``."""
    check_shapes(scores, labels)
    mask = default_mask(scores, mask)
    neg = torch.finfo(scores.dtype).min
    s = torch.where(mask, scores, torch.full_like(scores, neg))
    y = torch.where(mask, labels.to(scores.dtype), torch.full_like(scores, neg))
    p = torch.softmax(y, dim=-1)
    logp = torch.log_softmax(s, dim=-1)
    loss = -torch.where(mask, p * logp, torch.zeros_like(logp)).sum(-1)
    loss = torch.where(mask.any(-1), loss, torch.zeros_like(loss))
    return loss
