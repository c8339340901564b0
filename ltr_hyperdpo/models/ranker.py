"""A trained HyperDPO ranker: the conditioned policy with its frozen reference, scoring at any (w, β)."""
from __future__ import annotations

import numpy as np
import torch

from ..core.temperature import rescale_temperature
from .scorers import Scorer


class HyperDPORanker:
    """``score(x, mask, w, beta)`` for a policy trained at ``beta_train`` (or temperature-conditioned).

    For a model that is not temperature-conditioned, asking for another β uses the linear-transformation property:
    ``s_ref + (β_train/β)(s − s_ref)``.
    """

    def __init__(self, policy: Scorer, reference: Scorer, beta_train: float = 1.0):
        self.policy = policy.eval()
        self.reference = reference.eval()
        self.beta_train = float(beta_train)

    @property
    def n_objectives(self) -> int:
        return self.policy.config.n_objectives

    @torch.no_grad()
    def score(self, x: torch.Tensor, mask: torch.Tensor | None = None, weights=None, beta: float | None = None,
              reference_scores: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``[batch, list]`` at preference ``weights`` (``[K]`` or ``[batch, K]``) and temperature ``beta``."""
        w = torch.as_tensor(np.asarray(weights, dtype=np.float32)) if not torch.is_tensor(weights) else weights
        if w.ndim == 1:
            w = w[None, :].expand(x.shape[0], -1)
        if self.policy.config.temperature_conditioned:
            b = self.beta_train if beta is None else beta
            return self.policy(x, mask, w, b)
        s = self.policy(x, mask, w)
        if beta is None or abs(beta - self.beta_train) < 1e-12:
            return s
        ref = self.reference(x, mask) if reference_scores is None else reference_scores
        return rescale_temperature(s, ref, self.beta_train, beta)

    @torch.no_grad()
    def reference_score(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.reference(x, mask)
