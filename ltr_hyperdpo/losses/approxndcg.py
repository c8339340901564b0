"""ApproxNDCG (Qin et al. 2010): NDCG with ranks replaced by smooth ranks ``1 + Σ_{j≠i} σ((s_j − s_i)/T)``."""
from __future__ import annotations

import torch

from ._common import check_shapes, default_mask, gains, ideal_dcg


def approx_ndcg_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, *,
                     temperature: float = 1.0, eps: float = 1e-10) -> torch.Tensor:
    """Per-list ``−ApproxNDCG`` ``[batch]``; lists with no relevant item give 0."""
    check_shapes(scores, labels)
    mask = default_mask(scores, mask)
    sd = (scores[:, None, :] - scores[:, :, None]) / temperature  # [b, i, j] = s_j - s_i
    pair = mask[:, :, None] & mask[:, None, :]
    eye = torch.eye(scores.shape[-1], dtype=torch.bool, device=scores.device)[None]
    sig = torch.where(pair & ~eye, torch.sigmoid(sd), torch.zeros_like(sd))
    rank = 1.0 + sig.sum(-1)
    g = gains(labels.to(scores.dtype), mask)
    dcg = (g / torch.log2(1.0 + rank)).sum(-1)
    idcg = ideal_dcg(labels.to(scores.dtype), mask)
    loss = -torch.where(idcg > 0, dcg / idcg.clamp_min(eps), torch.zeros_like(dcg))
    return loss
