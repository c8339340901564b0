"""Multi-objective Plackett–Luce DPO loss (HyperDPO / COS-DPO), domain-agnostic.

``policy`` and ``reference`` are per-item scores ``[batch, list]``: ranker scores (LTR) or sequence
log-probabilities (LLM). For objective k the ranking by ``labels[..., k]`` is scored under the implicit rewards
``r = beta * (policy - reference)``; the per-list loss is ``Σ_k w_k L_k``. With two items and one objective this is
exactly the DPO loss ``-log σ(β[(π_w − ref_w) − (π_l − ref_l)])``.
"""
from __future__ import annotations

import torch

from .plackett_luce import plackett_luce_nll

REDUCTIONS = ("mean", "sum", "none")


def implicit_rewards(policy: torch.Tensor, reference: torch.Tensor | None, beta) -> torch.Tensor:
    """``beta * (policy - reference)`` ``[batch, list]``; ``beta`` a float or ``[batch]``; no reference = policy."""
    diff = policy if reference is None else policy - reference
    if torch.is_tensor(beta) and beta.ndim == 1:
        beta = beta[:, None]
    return beta * diff


def pl_dpo_objective_losses(policy: torch.Tensor, reference: torch.Tensor | None, labels: torch.Tensor,
                            mask: torch.Tensor | None, *, beta=1.0, top_k: int | None = None,
                            tie_break: str = "random", generator: torch.Generator | None = None,
                            tie_noise: torch.Tensor | None = None, where: torch.Tensor | None = None
                            ) -> torch.Tensor:
    """Per-objective PL-DPO losses ``[batch, objectives]`` (``labels`` is ``[batch, list, objectives]``);
    ``tie_noise`` ``[batch, objectives, list]`` replaces the generator's tie-break draws (same values, same order).
    ``where`` ``[batch, objectives]`` bool: only those losses are computed, the others are 0 (the random draws are
    the same as without it)."""
    if labels.ndim == 2:
        labels = labels[..., None]
    b, n, k = labels.shape
    if policy.shape != (b, n):
        raise ValueError(f"policy {tuple(policy.shape)} does not match labels {tuple(labels.shape)}")
    if mask is None:
        mask = torch.ones((b, n), dtype=torch.bool, device=policy.device)
    r = implicit_rewards(policy, reference, beta)
    # all objectives at once: [batch*K, list]
    r_k = r[:, None, :].expand(b, k, n).reshape(b * k, n)
    m_k = mask[:, None, :].expand(b, k, n).reshape(b * k, n)
    y_k = labels.permute(0, 2, 1).reshape(b * k, n)
    noise = None if tie_noise is None else tie_noise.reshape(b * k, n)
    if where is None or bool(where.all()):
        return plackett_luce_nll(r_k, y_k, m_k, top_k=top_k, tie_break=tie_break, generator=generator,
                                 tie_noise=noise).view(b, k)
    if noise is None and tie_break == "random":  # drawn for every pair, as without ``where``
        noise = torch.rand((b * k, n), generator=generator,
                           device=r.device if generator is None else generator.device)
    rows = where.reshape(-1).nonzero().squeeze(1)
    part = plackett_luce_nll(r_k[rows], y_k[rows], m_k[rows], top_k=top_k, tie_break=tie_break,
                             tie_noise=None if noise is None else noise[rows.to(noise.device)])
    return torch.zeros(b * k, dtype=part.dtype, device=part.device).index_put((rows,), part).view(b, k)


def pl_dpo_loss(policy: torch.Tensor, reference: torch.Tensor | None, labels: torch.Tensor,
                mask: torch.Tensor | None, weights: torch.Tensor | None = None, *, beta=1.0,
                top_k: int | None = None, tie_break: str = "random", generator: torch.Generator | None = None,
                reduction: str = "mean", tie_noise: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted multi-objective PL-DPO loss: per list ``Σ_k w_k L_k``, then reduced (``mean``/``sum``/``none``).

    ``weights`` ``[batch, objectives]`` (or ``[objectives]``), default uniform. ``reference=None`` gives the plain
    reference-free multi-objective PL loss on ``beta * policy``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    b, k = policy.shape[0], (labels.shape[-1] if labels.ndim == 3 else 1)
    if weights is None:
        weights = torch.full((b, k), 1.0 / k, dtype=policy.dtype, device=policy.device)
    elif weights.ndim == 1:
        weights = weights[None, :].expand(b, -1)
    if weights.shape != (b, k):
        raise ValueError(f"weights {tuple(weights.shape)} must be [batch, objectives] = {(b, k)}")
    # a zero weight contributes nothing, value or gradient: its PL likelihood is not computed (a vertex weight
    # costs one objective's loss, not K)
    per_obj = pl_dpo_objective_losses(policy, reference, labels, mask, beta=beta, top_k=top_k,
                                      tie_break=tie_break, generator=generator, tie_noise=tie_noise,
                                      where=weights != 0)
    loss = (weights.to(per_obj.dtype) * per_obj).sum(-1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def dpo_sigmoid_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
                     ref_rejected: torch.Tensor, beta=1.0) -> torch.Tensor:
    """The standard pairwise DPO loss ``-log σ(β[(π_w − ref_w) − (π_l − ref_l)])`` per pair."""
    return -torch.nn.functional.logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)))
