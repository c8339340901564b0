"""Saving and loading scorers with their configuration (``torch.load(weights_only=True)`` safe)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError
from ..utils.checkpoint import load, save_atomic
from ..utils.io import reading
from .scorers import Scorer, ScorerConfig, build_scorer


def save_scorer(model: Scorer, path: str | Path, **extra: Any) -> Path:
    """A scorer with its config, so it can be rebuilt without the run's config; ``extra`` holds plain values."""
    return save_atomic({"config": model.config.to_dict(), "conditioned": model.conditioned,
                        "state": model.state_dict(), **extra}, path)


def load_scorer(path: str | Path) -> tuple[Scorer, dict]:
    """Rebuild a scorer saved by :func:`save_scorer`; returns (model in eval mode, the whole saved dict)."""
    d = load(path)
    if "config" not in d or "state" not in d:
        raise CheckpointError(f"{path}: not a scorer file (no config/state)")
    try:
        config = ScorerConfig.from_saved(d["config"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    with reading(path):
        model = build_scorer(config, conditioned=bool(d.get("conditioned", False)))
    try:
        model.load_state_dict(d["state"])
    except (RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{path}: its parameters do not fit its config ({str(e).splitlines()[0]})") from None
    return model.eval(), d
