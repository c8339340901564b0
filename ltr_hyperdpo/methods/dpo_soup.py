"""DPO soup: one PL-DPO model per objective (w = e_k); a query weight mixes their parameters linearly."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..models.ranker import Ranker, SoupRanker
from ..models.scorers import Scorer
from .base import NoParams
from .members import MultiRun


class DpoSoup(MultiRun):
    """K experts, ``θ(w) = Σ_k w_k θ_k`` at scoring time."""

    name = "dpo_soup"
    label = "DPO soup"
    Params = NoParams  # the members are the K experts

    def training_weights(self, n_objectives: int, params: Any) -> np.ndarray:
        return np.eye(n_objectives)

    def make_ranker(self, members: list[tuple[np.ndarray, Scorer]], reference: Scorer, beta: float) -> Ranker:
        return SoupRanker([m for _, m in members], reference, beta)
