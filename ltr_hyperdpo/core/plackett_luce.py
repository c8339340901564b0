"""Plackett–Luce negative log-likelihood of the ranking induced by labels (domain-agnostic).

Shapes: ``scores`` ``[batch, list]``, ``ranking_labels`` ``[batch, list]``, ``mask`` ``[batch, list]`` bool
(True = real item). Higher label = ranked earlier. Ties between equal labels are broken at random with an explicit
``generator`` (``tie_break='random'``, the default: the loss is then an unbiased sample over the orders consistent
with the labels) or by position (``'first'``: earlier item first, deterministic).
"""
from __future__ import annotations

import torch

TIE_BREAKS = ("random", "first")


def ranking_from_labels(ranking_labels: torch.Tensor, mask: torch.Tensor, *, tie_break: str = "random",
                        generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Permutation ``[batch, list]`` that sorts items by label (descending), padded items last; random tie-breaks
    use ``noise`` ``[batch, list]`` when given (drawn by the caller), else uniform draws from ``generator``."""
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
    key = torch.where(mask, ranking_labels.to(torch.float64), torch.full_like(ranking_labels, float("-inf"),
                                                                             dtype=torch.float64))
    if tie_break == "first":
        return torch.argsort(key, dim=-1, descending=True, stable=True)
    if noise is None:
        noise = torch.rand(key.shape, generator=generator,
                           device=key.device if generator is None else generator.device)
    noise = noise.to(key.device)
    real = torch.where(mask, key, torch.zeros_like(key))
    if bool((real == real.round()).all()) and (real.numel() == 0 or float(real.abs().amax()) < 2.0 ** 20):
        # integer grades (the usual case): a tie is an equal integer, so one sort by label − noise/2 (noise in
        # [0, 1), exact in float64 below 2^20) gives the permutation of shuffling by the noise, then sorting stably
        # by label — at the cost of one sort instead of two
        return torch.argsort(key - 0.5 * noise.to(key.dtype), dim=-1, descending=True)
    shuffle = torch.argsort(noise, dim=-1)
    order = torch.argsort(key.gather(-1, shuffle), dim=-1, descending=True, stable=True)
    return shuffle.gather(-1, order)


def plackett_luce_nll(scores: torch.Tensor, ranking_labels: torch.Tensor, mask: torch.Tensor | None = None, *,
                      top_k: int | None = None, tie_break: str = "random",
                      generator: torch.Generator | None = None, tie_noise: torch.Tensor | None = None) -> torch.Tensor:
    """Negative PL log-likelihood per list ``[batch]``.

    ``-log P(π | s) = Σ_{i < min(n, top_k)} [logsumexp(s_π(i..n-1)) − s_π(i)]``, computed with a reverse
    log-cumsum-exp over the sorted list, padded items excluded. An all-padded list has loss 0.
    """
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    if scores.shape != ranking_labels.shape or scores.shape != mask.shape:
        raise ValueError(f"scores {tuple(scores.shape)}, labels {tuple(ranking_labels.shape)} and mask "
                         f"{tuple(mask.shape)} must have the same shape [batch, list]")
    mask = mask.bool()
    perm = ranking_from_labels(ranking_labels, mask, tie_break=tie_break, generator=generator, noise=tie_noise)
    s = scores.gather(-1, perm)
    m = mask.gather(-1, perm)
    # padded items get a score far below every real one: exp() of it underflows to exactly 0, with no -inf/NaN
    lowest = torch.where(mask, scores.detach(), torch.full_like(scores.detach(), float("inf"))).amin(-1, keepdim=True)
    lowest = torch.where(torch.isfinite(lowest), lowest, torch.zeros_like(lowest))
    s = torch.where(m, s, lowest - 1e4)
    tail_lse = torch.logcumsumexp(s.flip(-1), dim=-1).flip(-1)
    terms = tail_lse - s
    keep = m
    if top_k is not None:
        pos = torch.arange(s.shape[-1], device=s.device)
        keep = keep & (pos < top_k)
    return torch.where(keep, terms, torch.zeros_like(terms)).sum(-1)
