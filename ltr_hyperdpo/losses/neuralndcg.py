"""NeuralNDCG (Pobrotyn & Białobrzeski 2021): NDCG through a NeuralSort relaxation of sorting.

``P̂ = softmax(((n + 1 − 2i) s − A 1) / τ)`` (rows = ranks i, A_jk = |s_j − s_k|), made doubly stochastic by Sinkhorn
scaling; the sorted gains are ``P̂ g``. Padded items are given the lowest scores and zero gain, so they fill the last
ranks; ``k`` truncates the DCG.
"""
from __future__ import annotations

import torch

from ._common import check_shapes, default_mask, discounts, gains, ideal_dcg


def neuralsort(scores: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """NeuralSort relaxed permutation matrix ``[batch, list, list]`` (row i = soft one-hot of the i-th largest)."""
    n = scores.shape[-1]
    s = scores[:, :, None]
    a = (s - s.transpose(1, 2)).abs()
    b = a.sum(-1)  # [batch, list] = A 1
    scale = (n + 1 - 2 * torch.arange(1, n + 1, device=scores.device, dtype=scores.dtype))
    c = scale[None, :, None] * scores[:, None, :] - b[:, None, :]
    return torch.softmax(c / temperature, dim=-1)


def sinkhorn(p: torch.Tensor, mask: torch.Tensor, iters: int = 50, tol: float = 1e-6) -> torch.Tensor:
    """Alternate column/row normalisation over the real sub-matrix (padded rows/columns stay 0), columns first and
    rows last, until every real row and column sums to 1 within ``tol``: the order and the stopping rule of the
    NeuralNDCG authors' code (allRank), so each rank row ends as a distribution over the items."""
    m2 = (mask[:, :, None] & mask[:, None, :]).to(p.dtype)
    p = p * m2
    for _ in range(iters):
        p = p / p.sum(-2, keepdim=True).clamp_min(1e-10)
        p = p / p.sum(-1, keepdim=True).clamp_min(1e-10)
        p = p * m2
        with torch.no_grad():
            rows = ((p.sum(-1) - 1).abs() * mask).amax()
            cols = ((p.sum(-2) - 1).abs() * mask).amax()
        if float(torch.maximum(rows, cols)) < tol:
            break
    return p


def neural_ndcg_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, *,
                     temperature: float = 1.0, k: int | None = None, sinkhorn_iters: int = 50,
                     eps: float = 1e-10) -> torch.Tensor:
    """Per-list ``−NeuralNDCG@k`` ``[batch]``; lists with no relevant item give 0."""
    check_shapes(scores, labels)
    mask = default_mask(scores, mask)
    # padded items sit below every real score so they take the last ranks
    low = torch.where(mask, scores.detach(), torch.full_like(scores, float("inf"))).amin(-1, keepdim=True)
    low = torch.where(torch.isfinite(low), low, torch.zeros_like(low))
    s = torch.where(mask, scores, low - 1.0 - torch.arange(scores.shape[-1], device=scores.device))
    # real items first: the real sub-matrix is the top-left block after this stable reordering
    order = torch.sort((~mask).to(torch.int8), dim=-1, stable=True).indices
    s = s.gather(-1, order)
    m = mask.gather(-1, order)
    y = labels.to(scores.dtype).gather(-1, order)
    p = sinkhorn(neuralsort(s, temperature), m, sinkhorn_iters)
    sorted_g = (p @ gains(y, m)[:, :, None]).squeeze(-1)
    d = discounts(s.shape[-1], s.device, s.dtype)
    if k is not None:
        d = torch.where(torch.arange(s.shape[-1], device=s.device) < k, d, torch.zeros_like(d))
    dcg = (sorted_g * d * m).sum(-1)
    idcg = ideal_dcg(y, m, k)
    loss = -torch.where(idcg > 0, dcg / idcg.clamp_min(eps), torch.zeros_like(dcg))
    return loss
