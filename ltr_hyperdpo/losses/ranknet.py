"""RankNet (Burges et al. 2005): logistic loss on every pair with different labels."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import check_shapes, default_mask


def ranknet_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, *,
                 sigma: float = 1.0, weight_by_diff: bool = False) -> torch.Tensor:
    """Mean over pairs (i, j) with ``y_i > y_j`` of ``log(1 + exp(-σ(s_i − s_j)))`` per list ``[batch]``.

    ``weight_by_diff`` weights each pair by ``|y_i − y_j|``. Lists without such a pair have loss 0.
    """
    check_shapes(scores, labels)
    mask = default_mask(scores, mask)
    sd = scores[:, :, None] - scores[:, None, :]
    yd = labels[:, :, None] - labels[:, None, :]
    pair = (yd > 0) & mask[:, :, None] & mask[:, None, :]
    w = yd.abs().to(scores.dtype) if weight_by_diff else torch.ones_like(sd)
    per = F.softplus(-sigma * sd) * w
    num = torch.where(pair, per, torch.zeros_like(per)).sum((1, 2))
    den = torch.where(pair, w, torch.zeros_like(w)).sum((1, 2))
    return num / den.clamp_min(1e-12)
