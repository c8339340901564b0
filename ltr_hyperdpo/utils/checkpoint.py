"""Atomic ``torch.save`` and safe loading (``weights_only=True``): everything written here loads that way."""
from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from .io import atomic_path


def _save(obj: Any, tmp: Path) -> None:
    # through a Python file object: a full disk raises OSError(ENOSPC), not torch's "iostream error"
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash never replaces the last good file."""
    with atomic_path(path) as tmp:
        _save(obj, tmp)
    return Path(path)


def previous_path(path: str | Path) -> Path:
    """Where :func:`save_checkpoint` keeps the previous checkpoint of ``path``."""
    p = Path(path)
    return p.with_name(p.stem + ".prev" + p.suffix)


def save_checkpoint(obj: Any, path: str | Path) -> Path:
    """Write a training checkpoint atomically, keeping the previous one as ``NAME.prev.pt``."""
    p = Path(path)
    with atomic_path(p) as tmp:
        _save(obj, tmp)
        if p.exists():
            os.replace(p, previous_path(p))
    return p


def load_latest(path: str | Path) -> dict:
    """The latest readable training checkpoint: ``path``, or the previous epoch's when ``path`` is missing or damaged
    (with a warning); raises :class:`CheckpointError` naming the file and what to do when neither loads."""
    p, prev = Path(path), previous_path(path)
    try:
        return load(p)
    except CheckpointError as e:
        if prev.exists():
            try:
                ck = load(prev)
            except CheckpointError:
                pass
            else:
                warnings.warn(f"{e}; resuming from the previous epoch's checkpoint {prev}", stacklevel=2)
                return ck
        raise CheckpointError(f"{e}; no earlier checkpoint is readable: delete {p} to restart the interrupted stage "
                              f"from its beginning (finished stages are kept), or start a new run") from None


def load(path: str | Path, *, hint: str = "") -> dict:
    """Load a file written by :func:`save_atomic`; a missing or damaged file raises :class:`CheckpointError`."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file{'; ' + hint if hint else ''}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's own message advises weights_only=False, i.e. running arbitrary code: never relayed
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found is None:
            raise CheckpointError(f"{p}: damaged or not a torch file (not a readable pickle)"
                                  f"{'; ' + hint if hint else ''}") from None
        raise CheckpointError(f"{p}: holds objects the safe loader refuses ({found.group(1)}: not a file written by "
                              f"ltr_hyperdpo, or altered); it was not loaded{'; ' + hint if hint else ''}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, IndexError, KeyError, TypeError,
            AttributeError) as e:  # a file that is not a torch archive fails in several of torch's layers
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in first or len(first) > 200:
            first = type(e).__name__
        raise CheckpointError(f"{p}: damaged or not a torch file ({first}){'; ' + hint if hint else ''}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: not a checkpoint written by ltr_hyperdpo")
    return obj

