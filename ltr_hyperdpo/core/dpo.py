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
                            tie_noise: torch.Tensor | None = None) -> torch.Tensor:
    """Per-objective PL-DPO losses ``[batch, objectives]`` (``labels`` is ``[batch, list, objectives]``);
    ``tie_noise`` ``[batch, objectives, list]`` replaces the generator's tie-break draws (same values, same order)."""
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
    return plackett_luce_nll(r_k, y_k, m_k, top_k=top_k, tie_break=tie_break, generator=generator,
                             tie_noise=noise).view(b, k)


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
    per_obj = pl_dpo_objective_losses(policy, reference, labels, mask, beta=beta, top_k=top_k,
                                      tie_break=tie_break, generator=generator, tie_noise=tie_noise)
    if weights is None:
        weights = torch.full_like(per_obj, 1.0 / per_obj.shape[1])
    elif weights.ndim == 1:
        weights = weights[None, :].expand_as(per_obj)
    if weights.shape != per_obj.shape:
        raise ValueError(f"weights {tuple(weights.shape)} must be [batch, objectives] = {tuple(per_obj.shape)}")
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
