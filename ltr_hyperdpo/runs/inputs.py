"""Fingerprints of a run's input files, so that a resumed run never mixes two versions of its data.

A fingerprint is the file's resolved path, size, modification time and a streamed SHA-256 of its content. A run
records one per input in ``RUN/inputs.json``; ``--resume`` compares the content (size and hash: a file touched but
unchanged resumes, an edited one is refused naming the key and the file). Hashes are remembered per process by
(path, inode, size, mtime, ctime), so a file read by several steps of one command is hashed once.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import RunDirError
from .io import atomic_write_json

#: the file of a run directory that holds its inputs' fingerprints
INPUTS_NAME = "inputs.json"
_CHUNK = 1 << 20
_memo: dict[tuple[str, int, int, int, int], str] = {}


def content_hash(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a file's content, streamed in 1 MiB chunks (memoised by path, inode, size, mtime and ctime)."""
    p = Path(path).resolve()
    st = os.stat(p)
    key = (str(p), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)  # ctime: no utime() can reset it
    if key not in _memo:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        _memo[key] = h.hexdigest()
    return _memo[key]


def fingerprint(path: str | os.PathLike) -> dict:
    """``{path, size, mtime_ns, sha256}`` of a file."""
    p = Path(path).resolve()
    st = os.stat(p)
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": content_hash(p)}


def fingerprints(inputs: Mapping[str, str | os.PathLike | None]) -> dict[str, dict]:
    """Fingerprints of the named inputs that are set and are files (a preset name or a folder is not a file)."""
    return {k: fingerprint(v) for k, v in inputs.items() if v is not None and Path(v).is_file()}


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
