"""COSMOS-style: HyperDPO's conditioned model with the loss ``Σ w_k L_k − λ cos(w, L)`` (Ruchte & Grabocka)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import opt
from ..core.dpo import pl_dpo_objective_losses
from ..data.batching import Slates
from .base import FitContext
from .hyperdpo import HyperDPO, OneShotParams


@dataclass(frozen=True, kw_only=True)
class CosmosParams(OneShotParams):
    """HyperDPO's parameters and the weight λ of the cosine penalty (``hyperdpo.cosmos_lambda`` before)."""

    cosine_weight: float = opt(1.0, ge=0.0, doc="λ of the penalty − λ cos(w, L)")


class Cosmos(HyperDPO):
    """One conditioned model; the cosine penalty pulls the loss vector towards the direction of w."""

    name = "cosmos"
    label = "COSMOS-style"
    Params = CosmosParams

    def objective(self, ctx: FitContext, pol: torch.Tensor, ref_s: torch.Tensor, b: Slates, w: torch.Tensor,
                  beta: torch.Tensor | float, gen: torch.Generator, tie_noise: torch.Tensor | None = None
                  ) -> torch.Tensor:
        p = ctx.stage2
        per = pl_dpo_objective_losses(pol, ref_s, b.labels, b.mask, beta=beta, top_k=p.top_k,
                                      tie_break=p.tie_break, generator=gen, tie_noise=tie_noise)
        cos = torch.nn.functional.cosine_similarity(per, w, dim=1, eps=1e-8)
        return ((w * per).sum(1) - ctx.params.cosine_weight * cos).mean()
