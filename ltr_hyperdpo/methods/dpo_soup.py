"""DPO soup: one PL-DPO model per objective (w = e_k); a query weight mixes their parameters linearly."""
from __future__ import annotations

import numpy as np

from ..models.ranker import Ranker, SoupRanker
from ..models.scorers import Scorer
from .base import FitContext
from .members import MultiRun


class DpoSoup(MultiRun):
    """K experts, ``θ(w) = Σ_k w_k θ_k`` at scoring time."""

    name = "dpo_soup"
    label = "DPO soup"

    def training_weights(self, ctx: FitContext) -> np.ndarray:
        return np.eye(ctx.n_objectives)

    def make_ranker(self, members: list[tuple[np.ndarray, Scorer]], reference: Scorer, beta: float) -> Ranker:
        return SoupRanker([m for _, m in members], reference, beta)
