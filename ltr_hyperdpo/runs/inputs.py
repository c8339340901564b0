"""A run's input files, fingerprinted in ``RUN/inputs.json`` so that a resumed run never mixes two versions of its data.

``--resume`` compares the content (size and hash, :mod:`ltr_hyperdpo.utils.fingerprint`): a file touched but unchanged
resumes, an edited one is refused naming the key and the file.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import RunDirError
from ..utils.fingerprint import fingerprints
from ..utils.io import atomic_write_json

#: the file of a run directory that holds its inputs' fingerprints
INPUTS_NAME = "inputs.json"


def record_inputs(run_dir: Path, inputs: Mapping[str, str | os.PathLike | None]) -> dict[str, dict]:
    """Write ``RUN/inputs.json``; returns the fingerprints."""
    fp = fingerprints(inputs)
    atomic_write_json(run_dir / INPUTS_NAME, fp)
    return fp


def check_inputs(run_dir: Path, inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse to resume a run whose inputs changed since it started (one line naming each changed key and file)."""
    saved_path = run_dir / INPUTS_NAME
    if not saved_path.exists():
        return  # a run from before fingerprints were recorded: nothing to compare
    try:
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict):
            raise ValueError("not an object")
    except ValueError as e:
        raise RunDirError(f"{saved_path}: damaged ({e}); start a new run") from None
    now = fingerprints(inputs)
    changed = []
    for key in sorted(set(saved) | set(now)):
        old, new = saved.get(key), now.get(key)
        if old is None or new is None:
            either: dict = old or new or {}
            changed.append(f"{key} ({either.get('path')} {'added' if old is None else 'missing'})")
        elif (old["size"], old["sha256"]) != (new["size"], new["sha256"]):
            changed.append(f"{key} ({new['path']} changed since the run started)")
    if changed:
        raise RunDirError(f"{run_dir}: --resume with changed input data: {'; '.join(changed)}; resume with the same "
                          f"files, or start a new run")
