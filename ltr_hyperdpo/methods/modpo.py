"""MODPO-style: per weight, PL-DPO on the main objective with the other objectives as a margin (multi-run).

The main objective's ranking is scored under ``u = (β (s − s_ref) − Σ_{k≥1} w_k · margin_scale · y_k) /
max(w_0, w0_min)``, so the optimum satisfies ``β (s − s_ref) ≈ w_0 r_0 + Σ w_k r_k`` with the auxiliary grades as
their rewards.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import opt
from ..core.plackett_luce import plackett_luce_nll
from ..data.batching import Slates
from .base import FitContext
from .members import MembersParams, MultiRun


@dataclass(frozen=True, kw_only=True)
class ModpoParams(MembersParams):
    """The member budget and the margin settings (``hyperdpo.modpo_*`` before)."""

    margin_scale: float = opt(1.0, doc="scale of the auxiliary grades in the margin")
    w0_min: float = opt(0.05, gt=0.0, le=1.0, doc="floor of the main objective's weight in the division")


class Modpo(MultiRun):
    """One model per grid weight trained on the main objective with the auxiliary grades as a margin."""

    name = "modpo"
    label = "MODPO-style"
    Params = ModpoParams

    def tie_noise(self, ctx: FitContext, b: Slates, gen: torch.Generator) -> torch.Tensor | None:
        return ctx.tie_noise(b, gen, (b.mask.shape[1],))  # one ranking: the main objective's

    def member_loss(self, ctx: FitContext, s: torch.Tensor, ref_s: torch.Tensor, b: Slates, w: torch.Tensor,
                    gen: torch.Generator, tie_noise: torch.Tensor | None = None) -> torch.Tensor:
        p, own = ctx.stage2, ctx.params
        margin = (b.labels[..., 1:] * w[1:]).sum(-1) * own.margin_scale
        u = (p.beta * (s - ref_s) - margin) / max(float(w[0]), own.w0_min)
        return plackett_luce_nll(u, b.labels[..., 0], b.mask, top_k=p.top_k, tie_break=p.tie_break,
                                 generator=gen, tie_noise=tie_noise).mean()
