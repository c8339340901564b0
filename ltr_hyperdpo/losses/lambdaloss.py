"""LambdaLoss (Wang et al. 2018) with the NDCGLoss2++ and LambdaRank weighting schemes.

Items are sorted by the current scores; for each pair (i, j) at ranks i, j with ``y_i > y_j`` the loss is
``-log2 σ(σ (s_i − s_j))^{δ_ij}``, where (G = gains over the ideal DCG, D_r = log2(1 + r)):

* LambdaRank scheme: ``δ_ij = |1/D_i − 1/D_j| · |G_i − G_j|`` (the ΔNDCG of swapping i and j);
* NDCGLoss2 scheme: ``δ_ij = |1/D_{|i−j|} − 1/D_{|i−j|+1}| · |G_i − G_j|``;
* NDCGLoss2++: ``μ · NDCGLoss2 + LambdaRank``.

Weights are treated as constants (no gradient), as in the paper's EM view. Pairs are summed per list; ``k``
restricts pairs to the top-k ranks.
"""
from __future__ import annotations

import torch

from ._common import check_shapes, default_mask, discounts, gains, ideal_dcg

SCHEMES = ("ndcg2pp", "lambdarank", "ndcg2", "none")


def lambda_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, *,
               scheme: str = "ndcg2pp", k: int | None = None, sigma: float = 1.0, mu: float = 10.0,
               eps: float = 1e-10) -> torch.Tensor:
    """Per-list LambdaLoss ``[batch]`` for ``scores``/``labels`` ``[batch, list]``."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    check_shapes(scores, labels)
    mask = default_mask(scores, mask)
    n = scores.shape[-1]
    neg = torch.finfo(scores.dtype).min
    order = torch.sort(torch.where(mask, scores, torch.full_like(scores, neg)), dim=-1, descending=True,
                       stable=True).indices
    s = scores.gather(-1, order)
    y = labels.to(scores.dtype).gather(-1, order)
    m = mask.gather(-1, order)
    with torch.no_grad():
        maxdcg = ideal_dcg(labels.to(scores.dtype), mask, k).clamp_min(eps)
        G = gains(y, m) / maxdcg[:, None]
        D = 1.0 / discounts(n + 1, scores.device, scores.dtype)  # D[r-1] = log2(1 + r)
        inv = 1.0 / D
        gdiff = (G[:, :, None] - G[:, None, :]).abs()
        if scheme == "none":
            w = torch.ones_like(gdiff)
        else:
            lr = (inv[:n][:, None] - inv[:n][None, :]).abs()[None] * gdiff
            if scheme == "lambdarank":
                w = lr
            else:
                r = torch.arange(n, device=scores.device)
                dist = (r[:, None] - r[None, :]).abs()
                # |1/D_{|i-j|} - 1/D_{|i-j|+1}|, with D_0 := 1/inf handled by the diagonal being excluded
                dl = (inv[(dist - 1).clamp_min(0)] - inv[dist.clamp_max(n)]).abs()
                dl = torch.where(dist == 0, torch.zeros_like(dl), dl)
                n2 = dl[None] * gdiff
                w = mu * n2 + lr if scheme == "ndcg2pp" else n2
    yd = y[:, :, None] - y[:, None, :]
    pair = (yd > 0) & m[:, :, None] & m[:, None, :]
    if k is not None:
        top = torch.arange(n, device=scores.device) < k
        pair = pair & top[:, None] & top[None, :]
    sd = (s[:, :, None] - s[:, None, :]).clamp(-1e8, 1e8)
    logp = torch.log2(torch.sigmoid(sigma * sd).clamp_min(eps))
    per = -(w * logp)
    return torch.where(pair, per, torch.zeros_like(per)).sum((1, 2))
