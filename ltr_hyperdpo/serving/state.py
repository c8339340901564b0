"""A finished run's fitted data state without its models: ``qrels --run`` grades the objectives as the run does
with no torch loaded."""
from __future__ import annotations

import os
from pathlib import Path

from ..config import read_structured_file
from ..data.state import DatasetState
from ..errors import RunDirError
from ..utils.io import reading


def load_run_state(run_dir: str | os.PathLike) -> DatasetState:
    """The fitted objectives and feature normaliser of a run (``RUN/data_state.json``); a missing or damaged file is
    one line naming it."""
    path = Path(run_dir) / "data_state.json"
    if not Path(run_dir).is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not path.exists():
        raise RunDirError(f"{path}: missing (is {run_dir} a run directory?)")
    with reading(path):
        return DatasetState.from_dict(read_structured_file(path))
