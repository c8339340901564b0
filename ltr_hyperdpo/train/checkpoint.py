"""Atomic checkpoints: a crash mid-write never replaces the last good file."""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.store import atomic_path
from ..models.scorers import Scorer, ScorerConfig, build_scorer


def open_run_dir(run_dir: str | Path, resume: bool, threads: int | None = None) -> Path:
    """Create ``run_dir``; refuse to overwrite a run unless resuming; apply the torch thread count."""
    run_dir = Path(run_dir)
    if not resume and (run_dir / "config.json").exists():
        raise FileExistsError(f"{run_dir} already holds a run; pass resume=True (--resume) or use another directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    return run_dir


def save_atomic(obj, path: str | Path) -> Path:
    """``torch.save`` to a temp file beside ``path``, then rename."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load(path: str | Path) -> dict:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such checkpoint")
    return torch.load(p, map_location="cpu", weights_only=False)


def save_scorer(model: Scorer, path: str | Path, **extra) -> Path:
    """A scorer with its config, so it can be rebuilt without the run's config."""
    return save_atomic({"config": model.config.to_dict(), "conditioned": model.conditioned,
                        "state": model.state_dict(), **extra}, path)


def load_scorer(path: str | Path) -> tuple[Scorer, dict]:
    """Rebuild a scorer saved by :func:`save_scorer`; returns (model, the whole saved dict)."""
    d = load(path)
    model = build_scorer(ScorerConfig(**d["config"]), conditioned=d["conditioned"])
    model.load_state_dict(d["state"])
    return model.eval(), d
