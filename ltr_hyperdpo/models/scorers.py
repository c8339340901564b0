"""Scorers ``[batch, list, features] -> [batch, list]``, optionally conditioned on (w, β).

* :class:`MLPScorer` (``models/mlp.py``): per-document MLP with FiLM or concat conditioning.
* :class:`TransformerScorer` (``models/transformer.py``): context-aware ranker with Hyper Prompt Tuning.

Both start their conditioning as a no-op, so a conditioned copy of a trained reference scores exactly like it.
"""
from __future__ import annotations

import torch

from .base import CONDITIONINGS, KINDS, ModelConfig, Scorer, ScorerConfig
from .mlp import MLPScorer
from .transformer import TransformerScorer


def build_scorer(config: ScorerConfig, conditioned: bool = True) -> Scorer:
    """A scorer of ``config.kind``; ``conditioned=False`` builds the plain (reference) variant."""
    cls = MLPScorer if config.kind == "mlp" else TransformerScorer
    return cls(config, conditioned=conditioned)


def conditioned_copy(reference: Scorer, config: ScorerConfig | None = None) -> Scorer:
    """A weight-conditioned scorer whose backbone starts from the reference's parameters.

    ``config`` is the policy's resolved architecture (its backbone must be the reference's; the conditioning fields
    and the number of objectives may differ); ``None`` conditions the reference's own config.
    """
    cfg = config if config is not None else reference.config
    policy = build_scorer(cfg, conditioned=True)
    state = policy.state_dict()
    for k, v in reference.state_dict().items():
        if k not in state:
            raise RuntimeError(f"reference parameter {k} is not in the conditioned model")
        if state[k].shape == v.shape:
            state[k] = v.clone()
        elif k == "layers.0.weight":  # concat conditioning: extra input columns stay zero
            state[k] = torch.zeros_like(state[k])
            state[k][:, : v.shape[1]] = v
        else:
            raise RuntimeError(f"shape mismatch for {k}: {tuple(v.shape)} vs {tuple(state[k].shape)}")
    policy.load_state_dict(state)
    return policy


__all__ = ["KINDS", "CONDITIONINGS", "ModelConfig", "ScorerConfig", "Scorer", "MLPScorer", "TransformerScorer",
           "build_scorer", "conditioned_copy"]
