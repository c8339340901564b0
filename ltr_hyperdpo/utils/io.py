"""Atomic file writing and strict JSON: a crash or Ctrl-C mid-write never leaves a half-written output.

Temporary files are named ``.NAME.<pid>.<random>.ltr-hyperdpo-tmp`` beside the output; they are created with the
usual mode under the user's umask (not mkstemp's 0600), renamed onto the output on success, removed on failure, and
a later write to the same output removes those left by dead processes.

What is at the path is never replaced by something else: ``-`` is standard output, a character device, FIFO or
socket (``/dev/null``, ``/dev/stdout``, a pipe) is written directly, and a symbolic link is written (atomically) at
its target, the link kept. A full disk is reported as ``OSError("no space left on device writing PATH")``.
"""
from __future__ import annotations

import errno
import json
import math
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, UserError
from .procs import pid_alive

TMP_SUFFIX = ".ltr-hyperdpo-tmp"


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_current_umask()


def remove_stale_temps(path: Path) -> int:
    """Delete temporary files of ``path`` left by processes that no longer run; returns how many."""
    n = 0
    for t in path.parent.glob(f".{path.name}.*{TMP_SUFFIX}"):
        parts = t.name[len(path.name) + 2:].split(".")
        try:
            pid = int(parts[0])
        except (ValueError, IndexError):
            continue
        if not pid_alive(pid):
            try:
                t.unlink()
                n += 1
            except OSError:
                pass
    return n


#: the output path that means standard output
STDOUT = "-"


def write_target(path: str | os.PathLike) -> tuple[Path, bool]:
    """Where a write to ``path`` goes and whether it goes there directly (not through a temporary file).

    ``-`` is standard output; an existing character device, FIFO or socket is written directly (replacing it with a
    regular file would break the system, e.g. ``/dev/null`` as root); a symbolic link resolves to its target, which
    is then written like any file (the link stays); a directory is refused."""
    if str(path) == STDOUT:
        return Path("/dev/stdout"), True
    p = Path(path)
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    if p.is_dir():
        raise IsADirectoryError(f"{path}: is a directory; give a file path")
    if p.exists() and not p.is_file():
        return p, True
    return p, False


def output_dir(path: str | os.PathLike) -> Path:
    """An output folder, created when missing; an existing file (``--out /dev/null``) is refused in one line."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"{path}: exists and is not a directory (this output is a folder of files)")
    p.mkdir(parents=True, exist_ok=True)
    return p


def no_space(e: OSError, path: str | os.PathLike) -> OSError:
    """``e`` as the user should read it: a full disk names the file being written."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(e):  # pyarrow: errno unset
        return OSError(errno.ENOSPC, f"no space left on device writing {path}")
    return e


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Special files (``-``, devices, FIFOs: :func:`write_target`) are yielded themselves and written directly."""
    shown = path
    path, direct = write_target(path)
    if direct:
        try:
            yield path
        except OSError as e:
            raise no_space(e, shown) from None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise no_space(e, shown) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temp file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy values and paths made plain, and non-finite floats as ``None`` (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps_json(obj: Any, indent: int | None = None) -> str:
    """Strict JSON text (no NaN/Infinity) of ``obj`` after :func:`jsonable`."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write strict JSON atomically."""
    atomic_write_text(path, dumps_json(obj, indent=2) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one strict-JSON record as a line (the ``log.jsonl`` format)."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(dumps_json(record) + "\n")
    except OSError as e:
        raise no_space(e, path) from None


def trim_jsonl(path: str | os.PathLike, keep: Callable[[dict], bool]) -> int:
    """Rewrite a JSON-lines file (atomically) without the records ``keep`` rejects and without lines that are not
    JSON objects (a line cut short by a crash or a full disk); returns how many were dropped (0: file untouched)."""
    p = Path(path)
    if not p.exists():
        return 0
    kept, dropped = [], 0
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if isinstance(rec, dict) and keep(rec):
            kept.append(line + "\n")
        else:
            dropped += 1
    if dropped:
        atomic_write_text(p, "".join(kept))
    return dropped


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Errors raised while building objects from a run file's values name that file and the key or value at fault
    (a file that loads but holds a missing key, a wrong type or an out-of-range value)."""
    try:
        yield
    except UserError as e:
        if str(path) in str(e):
            raise
        raise CheckpointError(f"{path}: {e}") from None
    except KeyError as e:
        raise CheckpointError(f"{path}: missing key {e}; the file is damaged or not written by ltr_hyperdpo") from None
    except (TypeError, ValueError, IndexError, AttributeError) as e:
        first = " ".join(str(e).split())[:300] or type(e).__name__
        raise CheckpointError(f"{path}: holds a bad value ({first}); the file is damaged or not written by "
                              f"ltr_hyperdpo") from None
