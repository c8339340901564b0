"""Text inputs as Arrow IPC caches: LETOR text is converted once (streamed, bounded memory) to a file that is
memory-mapped on every later open, instead of being parsed into memory by every command and every epoch's reload.

A cache file is named by the text file's identity (resolved path and a hash of its content, and its group file's)
and the cache format version, so an edited input gets a new cache (even one edited within the same second at the
same size) and an unchanged one is reused (a resumed run, a tuning study's trials). Converted (Parquet / Arrow)
inputs are used as they are.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..utils.fingerprint import content_hash
from .conversion import convert
from .store import storage_format
from .textio import check_input_path, resolve_group_file

#: bump when the cached table's layout changes: old caches are then ignored
CACHE_VERSION = 1


def cache_key(path: str | os.PathLike, group_file: str | os.PathLike | None = None) -> str:
    """A short hash of a text file's identity and content (and its group file's)."""
    parts = [f"v{CACHE_VERSION}"]
    for p in (path, group_file):
        if p is not None:
            parts += [str(Path(p).resolve()), content_hash(p)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def cached_input(path: str | os.PathLike, cache_dir: str | os.PathLike, *,
                 group_file: str | os.PathLike | None = None, workers: int | None = None,
                 progress: bool = False) -> Path:
    """``path`` itself when it is converted data; for text, its Arrow IPC cache in ``cache_dir`` (made once)."""
    src = check_input_path(path)
    if storage_format(src) != "text":
        return src
    group = resolve_group_file(src, group_file)
    out = Path(cache_dir) / f"{src.stem}.{cache_key(src, group)}.arrow"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        convert(src, out, group_file=group, workers=workers, progress=progress)  # atomic: no partial cache
    return out
