"""Trained rankers: one typed interface (:class:`Ranker`), one class per way a front is produced.

* :class:`HyperDPORanker` — one weight-conditioned policy (HyperDPO, COSMOS-style).
* :class:`MemberRanker` — one plain model per training weight (DPO-LS, MODPO-style); w picks the nearest member.
* :class:`SoupRanker` — one model per objective; parameters interpolated linearly by w (DPO soup).
* :class:`ReferenceRanker` — the reference alone (the same scores for every w).

For a model that is not temperature-conditioned, another β uses the linear-transformation property:
``s_ref + (β_train/β)(s − s_ref)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch.func import functional_call

from ..core.temperature import rescale_temperature
from .scorers import Scorer

WeightsLike = torch.Tensor | np.ndarray | Sequence[float]


@runtime_checkable
class Ranker(Protocol):
    """Scores ``[batch, list]`` of documents ``x`` ``[batch, list, features]`` at preference ``w`` and temperature β.

    ``w`` is ``[objectives]`` or ``[batch, objectives]``, or ``[batch, m, objectives]`` for scores ``[batch, m, list]``
    of every list under m weights (a conditioned policy then computes its weight-independent part once per list);
    ``beta=None`` means the training temperature. Inputs are model inputs (selected and normalised features);
    :meth:`ltr_hyperdpo.Run.score` takes raw features.
    """

    beta_train: float
    reference: Scorer

    @property
    def n_objectives(self) -> int:
        """The number of objectives (the length of a weight vector)."""
        ...

    @property
    def per_weight_width(self) -> int:
        """Activations per document and weight when scoring under several weights (sizes evaluation chunks)."""
        ...

    def score(self, x: torch.Tensor, mask: torch.Tensor | None, w: WeightsLike | None, beta: float | None = None,
              *, reference_scores: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of every list at preference ``w``; padded items (mask False) score 0.

        Parameters
        ----------
        x : torch.Tensor
            ``[batch, list, features]`` model inputs.
        mask : torch.Tensor or None
            ``[batch, list]`` bool, True = real item; ``None``: every item is real.
        w : torch.Tensor, numpy.ndarray or sequence of float
            ``[objectives]``, ``[batch, objectives]``, or ``[batch, m, objectives]`` for m weights per list.
        beta : float, optional
            The temperature (default: the training one).
        reference_scores : torch.Tensor, optional
            ``[batch, list]`` the reference model's scores when already computed (a conditioned policy adds its
            implicit reward to them).

        Returns
        -------
        torch.Tensor
            ``[batch, list]``, or ``[batch, m, list]`` for ``[batch, m, objectives]`` weights.

        Raises
        ------
        ValueError
            ``w`` does not have one value per objective.
        """
        ...

    def reference_score(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The frozen reference model's scores.

        Parameters
        ----------
        x : torch.Tensor
            ``[batch, list, features]`` model inputs.
        mask : torch.Tensor, optional
            ``[batch, list]`` bool, True = real item.

        Returns
        -------
        torch.Tensor
            ``[batch, list]``.
        """
        ...

    def to(self, device: torch.device | str) -> Ranker:
        """Move every model of the ranker to ``device`` (inputs must then be there too).

        Parameters
        ----------
        device : torch.device or str
            The device.

        Returns
        -------
        Ranker
            The ranker itself.
        """
        ...


def as_weights(w: WeightsLike | None, batch: int, n_objectives: int,
               device: torch.device | None = None) -> torch.Tensor:
    """``w`` as a float tensor ``[batch, objectives]`` on ``device`` (a single ``[objectives]`` vector is
    broadcast)."""
    if w is None:
        raise ValueError(f"pass a preference weight vector of {n_objectives} values")
    t = w if torch.is_tensor(w) else torch.as_tensor(np.asarray(w, dtype=np.float32))
    t = t.float() if device is None else t.float().to(device)
    if t.shape[-1] != n_objectives or t.ndim > 3:
        raise ValueError(f"a weight vector has {n_objectives} values (one per objective), got {tuple(t.shape)}")
    return t[None, :].expand(batch, -1) if t.ndim == 1 else t


class _Base:
    beta_train: float
    reference: Scorer

    @property
    def n_objectives(self) -> int:
        return int(self.reference.config.n_objectives)

    @property
    def per_weight_width(self) -> int:  # one model forward per weight (members, soup)
        return max(self.reference.config.hidden + [self.reference.config.d_model * 4])

    @torch.no_grad()
    def reference_score(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.reference(x, mask)

    def to(self, device: torch.device | str) -> _Base:
        for v in vars(self).values():
            for m in (v if isinstance(v, list) else [v]):
                if isinstance(m, torch.nn.Module):
                    m.to(device)
        return self

    def score(self, x: torch.Tensor, mask: torch.Tensor | None, w: WeightsLike | None, beta: float | None = None,
              *, reference_scores: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def _each_weight(self, x: torch.Tensor, mask: torch.Tensor | None, wt: torch.Tensor, beta: float | None,
                     reference_scores: torch.Tensor | None) -> torch.Tensor:
        """Scores ``[batch, m, list]`` for weights ``[batch, m, K]``, one weight column at a time."""
        return torch.stack([self.score(x, mask, wt[:, j], beta, reference_scores=reference_scores)
                            for j in range(wt.shape[1])], dim=1)

    def _per_row(self, x: torch.Tensor, mask: torch.Tensor | None, wt: torch.Tensor, beta: float | None,
                 reference_scores: torch.Tensor | None) -> torch.Tensor:
        """Score a batch of mixed weights one distinct weight at a time (rankers holding one model per weight)."""
        out = torch.empty(x.shape[:2], dtype=x.dtype, device=x.device)
        uniq, inverse = torch.unique(wt, dim=0, return_inverse=True)
        for u in range(uniq.shape[0]):
            rows = (inverse == u).nonzero().squeeze(1)
            out[rows] = self.score(x[rows], None if mask is None else mask[rows], uniq[u], beta,
                                   reference_scores=None if reference_scores is None else reference_scores[rows])
        return out

    def _temper(self, s: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None, beta: float | None,
                reference_scores: torch.Tensor | None) -> torch.Tensor:
        if beta is None or abs(beta - self.beta_train) < 1e-12:
            return s
        ref = self.reference(x, mask) if reference_scores is None else reference_scores
        return rescale_temperature(s, ref[:, None] if s.ndim == 3 else ref, self.beta_train, beta)


class HyperDPORanker(_Base):
    """One weight-conditioned policy trained at ``beta_train``."""

    def __init__(self, policy: Scorer, reference: Scorer, beta_train: float = 1.0):
        self.policy = policy.eval()
        self.reference = reference.eval()
        self.beta_train = float(beta_train)

    @property
    def n_objectives(self) -> int:
        return int(self.policy.config.n_objectives)

    @property
    def per_weight_width(self) -> int:
        return self.policy.per_weight_width

    @torch.no_grad()
    def score(self, x: torch.Tensor, mask: torch.Tensor | None, w: WeightsLike | None, beta: float | None = None,
              *, reference_scores: torch.Tensor | None = None) -> torch.Tensor:
        wt = as_weights(w, x.shape[0], self.n_objectives, x.device)
        if self.policy.config.temperature_conditioned:
            return self.policy(x, mask, wt, self.beta_train if beta is None else beta)
        return self._temper(self.policy(x, mask, wt), x, mask, beta, reference_scores)


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
        """Index of the member whose training weight is nearest to ``w`` (L1)."""
        return int(np.argmin(np.abs(self.weights - np.asarray(w, dtype=np.float64)[None]).sum(1)))

    @torch.no_grad()
    def score(self, x: torch.Tensor, mask: torch.Tensor | None, w: WeightsLike | None, beta: float | None = None,
              *, reference_scores: torch.Tensor | None = None) -> torch.Tensor:
        wt = as_weights(w, x.shape[0], self.n_objectives, x.device)
        if wt.ndim == 3:
            return self._each_weight(x, mask, wt, beta, reference_scores)
        if not torch.allclose(wt, wt[:1].expand_as(wt)):
            return self._per_row(x, mask, wt, beta, reference_scores)
        s = self.models[self.nearest(wt[0].cpu().numpy())](x, mask)
        return self._temper(s, x, mask, beta, reference_scores)


class SoupRanker(_Base):
    """Per-objective models whose parameters are mixed as ``θ(w) = Σ_k w_k θ_k`` (model soup)."""

    def __init__(self, experts: list[Scorer], reference: Scorer, beta_train: float = 1.0):
        self.experts = [e.eval() for e in experts]
        self.reference = reference.eval()
        self.beta_train = float(beta_train)
        self._cache: dict = {}

    def to(self, device: torch.device | str) -> SoupRanker:
        super().to(device)
        self._cache = {}  # mixed parameters of the old device
        return self

    def params_for(self, w: np.ndarray) -> dict:
        """The mixed parameters at ``w`` (the last mix is cached)."""
        key = tuple(np.round(np.asarray(w, dtype=np.float64), 8))
        if key not in self._cache:
            states = [e.state_dict() for e in self.experts]
            self._cache = {key: {k: sum(float(wk) * st[k] for wk, st in zip(key, states, strict=True))
                                 if states[0][k].is_floating_point() else states[0][k] for k in states[0]}}
        return self._cache[key]

    @torch.no_grad()
    def score(self, x: torch.Tensor, mask: torch.Tensor | None, w: WeightsLike | None, beta: float | None = None,
              *, reference_scores: torch.Tensor | None = None) -> torch.Tensor:
        wt = as_weights(w, x.shape[0], self.n_objectives, x.device)
        if wt.ndim == 3:
            return self._each_weight(x, mask, wt, beta, reference_scores)
        if not torch.allclose(wt, wt[:1].expand_as(wt)):
            return self._per_row(x, mask, wt, beta, reference_scores)
        s = functional_call(self.experts[0], self.params_for(wt[0].cpu().numpy()), (x, mask))
        return self._temper(s, x, mask, beta, reference_scores)


class ReferenceRanker(_Base):
    """The reference model alone: one point, whatever w."""

    def __init__(self, reference: Scorer):
        self.reference = reference.eval()
        self.beta_train = 1.0

    @property
    def per_weight_width(self) -> int:
        return 0

    @torch.no_grad()
    def score(self, x: torch.Tensor, mask: torch.Tensor | None, w: WeightsLike | None = None,
              beta: float | None = None, *, reference_scores: torch.Tensor | None = None) -> torch.Tensor:
        s = self.reference(x, mask) if reference_scores is None else reference_scores
        if w is not None and np.ndim(w) == 3:  # the same scores under each of the m weights
            return s[:, None].expand(-1, int(np.shape(w)[1]), -1)
        return s
