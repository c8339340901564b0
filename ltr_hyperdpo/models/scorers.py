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


CONDITIONING_FIELDS = ("conditioning", "rank", "head_hidden", "n_prompts", "cond_hidden", "temperature_conditioned",
                       "conditioned_layers")


def conditioned_copy(reference: Scorer, model: ModelConfig | None = None,
                     n_objectives: int | None = None) -> Scorer:
    """A weight-conditioned scorer whose backbone starts from the reference's parameters.

    The backbone (kind, sizes) is the reference's; the conditioning fields (``conditioning``, ``n_prompts``,
    ``cond_hidden``, ``temperature_conditioned``) come from ``model`` and the number of objectives from
    ``n_objectives`` when given.
    """
    values = reference.config.to_dict()
    if model is not None:
        values.update({f: getattr(model, f) for f in CONDITIONING_FIELDS})
        values.update(model.resolved_fields())
    if n_objectives is not None:
        values["n_objectives"] = n_objectives
    cfg = ScorerConfig(**values)
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
           "build_scorer", "conditioned_copy", "CONDITIONING_FIELDS"]
