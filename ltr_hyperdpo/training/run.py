"""A finished run, loaded from its directory: the ranker, its config and the fitted data state."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import read_structured_file
from ..data.dataset import DatasetState
from ..errors import RunDirError
from ..methods.registry import get_method
from ..models.io import load_scorer
from ..models.ranker import Ranker
from .config import RunConfig


@dataclass
class Run:
    """A trained run: ``ranker`` scores at any preference w, ``config`` is the run's config, ``state`` holds the
    fitted objectives and feature normaliser of its training split."""

    run_dir: Path
    config: RunConfig
    state: DatasetState
    ranker: Ranker
    method: str

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.state.objectives]

    @property
    def n_objectives(self) -> int:
        return len(self.state.objectives)


def load_run(run_dir: str | os.PathLike) -> Run:
    """Load a finished run directory written by :func:`~ltr_hyperdpo.train`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not (run_dir / "method.json").exists():
        raise RunDirError(f"{run_dir}: no trained model (method.json is missing: is the run finished?)")
    cfg = RunConfig.load(run_dir / "config.json")
    meta = read_structured_file(run_dir / "method.json")
    reference, _ = load_scorer(run_dir / "reference.pt")
    state = DatasetState.from_dict(read_structured_file(run_dir / "data_state.json"))
    ranker = get_method(meta["method"]).load(run_dir, reference, meta)
    return Run(run_dir, cfg, state, ranker, meta["method"])
