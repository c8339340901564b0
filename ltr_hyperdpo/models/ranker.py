"""Trained rankers scoring at any preference w (and temperature β), one class per way a front is produced.

* :class:`HyperDPORanker` — one weight-conditioned policy (HyperDPO, COSMOS-style).
* :class:`MemberRanker` — one plain model per grid weight (DPO-LS, MODPO-style); w picks the nearest member.
* :class:`SoupRanker` — one model per objective; parameters interpolated linearly by w (DPO soup).
* :class:`ReferenceRanker` — the reference alone (the same scores for every w).

For a model that is not temperature-conditioned, another β uses the linear-transformation property:
``s_ref + (β_train/β)(s − s_ref)``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call

from ..core.temperature import rescale_temperature
from .scorers import Scorer


def _as_weights(weights, batch: int) -> torch.Tensor:
    w = weights if torch.is_tensor(weights) else torch.as_tensor(np.asarray(weights, dtype=np.float32))
    w = w.float()
    return w[None, :].expand(batch, -1) if w.ndim == 1 else w


class _Base:
    beta_train: float
    reference: Scorer

    @torch.no_grad()
    def reference_score(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.reference(x, mask)

    def _temper(self, s, x, mask, beta, reference_scores):
        if beta is None or abs(beta - self.beta_train) < 1e-12:
            return s
        ref = self.reference(x, mask) if reference_scores is None else reference_scores
        return rescale_temperature(s, ref, self.beta_train, beta)


class HyperDPORanker(_Base):
    """``score(x, mask, w, beta)`` of one weight-conditioned policy trained at ``beta_train``."""

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
        w = _as_weights(weights, x.shape[0])
        if self.policy.config.temperature_conditioned:
            return self.policy(x, mask, w, self.beta_train if beta is None else beta)
        return self._temper(self.policy(x, mask, w), x, mask, beta, reference_scores)


class MemberRanker(_Base):
    """One model per training weight; a query weight uses the nearest member (L1 distance)."""

    def __init__(self, members: list[tuple[np.ndarray, Scorer]], reference: Scorer, beta_train: float = 1.0):
        if not members:
            raise ValueError("MemberRanker needs at least one member")
        self.weights = np.stack([np.asarray(w, dtype=np.float64) for w, _ in members])
        self.models = [m.eval() for _, m in members]
        self.reference = reference.eval()
        self.beta_train = float(beta_train)

    def nearest(self, w: np.ndarray) -> int:
        return int(np.argmin(np.abs(self.weights - np.asarray(w, dtype=np.float64)[None]).sum(1)))

    @torch.no_grad()
    def score(self, x, mask=None, weights=None, beta=None, reference_scores=None):
        w = _as_weights(weights, x.shape[0])
        if not torch.allclose(w, w[:1].expand_as(w)):
            raise ValueError("MemberRanker scores one weight per call")
        s = self.models[self.nearest(w[0].numpy())](x, mask)
        return self._temper(s, x, mask, beta, reference_scores)


class SoupRanker(_Base):
    """Per-objective models whose parameters are mixed as ``θ(w) = Σ_k w_k θ_k`` (model soup)."""

    def __init__(self, experts: list[Scorer], reference: Scorer, beta_train: float = 1.0):
        self.experts = [e.eval() for e in experts]
        self.reference = reference.eval()
        self.beta_train = float(beta_train)
        self._cache: dict = {}

    def params_for(self, w: np.ndarray) -> dict:
        key = tuple(np.round(np.asarray(w, dtype=np.float64), 8))
        if key not in self._cache:
            states = [e.state_dict() for e in self.experts]
            self._cache = {key: {k: sum(float(wk) * st[k] for wk, st in zip(key, states)) if states[0][k].is_floating_point()
                                 else states[0][k] for k in states[0]}}
        return self._cache[key]

    @torch.no_grad()
    def score(self, x, mask=None, weights=None, beta=None, reference_scores=None):
        w = _as_weights(weights, x.shape[0])
        s = functional_call(self.experts[0], self.params_for(w[0].numpy()), (x, mask))
        return self._temper(s, x, mask, beta, reference_scores)


class ReferenceRanker(_Base):
    """The reference model alone: one point, whatever w."""

    def __init__(self, reference: Scorer):
        self.reference = reference.eval()
        self.beta_train = 1.0

    @torch.no_grad()
    def score(self, x, mask=None, weights=None, beta=None, reference_scores=None):
        return self.reference(x, mask) if reference_scores is None else reference_scores
