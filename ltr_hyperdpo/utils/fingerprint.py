"""Fingerprints of files (path, size, modification time, streamed SHA-256): a run's inputs, the text caches' keys.

Hashes are remembered per process by
(path, inode, size, mtime, ctime), so a file read by several steps of one command is hashed once.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

_CHUNK = 1 << 20
_memo: dict[tuple[str, int, int, int, int], str] = {}


def content_hash(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a file's content, streamed in 1 MiB chunks (memoised by path, inode, size, mtime,
    ctime)."""
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


