"""Run directories: one run per directory, held under an exclusive lock for the whole run.

The lock is an ``flock`` on ``RUN/.lock`` holding the owner's pid: a second process fails at once naming the holder;
a lock file left by a dead process (the kernel released its flock) is taken over with a warning.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import warnings
from pathlib import Path
from types import TracebackType

from ..errors import RunDirError
from ..utils.procs import pid_alive

LOCK_NAME = ".lock"


class RunLock:
    """Exclusive, non-blocking lock of a run directory; use as a context manager."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise RunDirError(f"{self.path.parent}: run directory is in use by {who}; wait for it to finish or "
                              f"use another --out") from None
        previous = _read_pid(fd)
        if previous and previous != os.getpid() and pid_alive(previous) is False:
            warnings.warn(f"{self.path.parent}: taking over a stale lock left by process {previous}", stacklevel=2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(raw) if raw else None
    except (OSError, ValueError):
        return None


#: what a run writes into its directory before any training (removed again when it fails before its first
#: checkpoint; a directory holding only these is not someone else's)
RUN_INPUT_FILES = (LOCK_NAME, "config.json", "data_state.json", "versions.json", "inputs.json", "log.jsonl",
                   "data_cache")
#: files that mean a run has trained something (kept when it fails)
RUN_PROGRESS_FILES = ("checkpoint.pt", "checkpoint.prev.pt", "reference.pt")


def check_new_or_resume(run_dir: Path, resume: bool) -> None:
    """Refuse to start a new run in a directory holding one, or holding files that are not a run's (and to resume
    where there is none)."""
    has_run = (run_dir / "config.json").exists()
    if has_run and not resume:
        raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it, or use another --out")
    if not has_run and run_dir.is_dir():
        foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in RUN_INPUT_FILES)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise RunDirError(f"{run_dir}: exists and holds files that are not a run's ({shown}); nothing was "
                              f"changed: give a new or empty --out")
    if resume and not has_run and any(run_dir.glob("*")) and not (run_dir / "checkpoint.pt").exists():
        raise RunDirError(f"{run_dir}: nothing to resume (no config.json); start a new run without --resume")


#: what belongs to a run in its directory (top-level names; ``checkpoint*`` and ``ref_logprobs.*`` files too)
RUN_OWN_FILES = frozenset(RUN_INPUT_FILES + RUN_PROGRESS_FILES + (
    "model.pt", "method.json", "result.json", "MODEL_CARD.md", "members", "prompt_model.pt"))


def run_directory_of(path: Path) -> Path | None:
    """The run directory holding ``path`` (at most two levels up), if any: a folder with ``config.json`` and one of
    ``inputs.json``, ``method.json`` or a checkpoint."""
    for parent in list(path.parents)[:2]:
        if (parent / "config.json").is_file() and any(
                (parent / n).exists() for n in ("inputs.json", "method.json", "checkpoint.pt", "prompt_model.pt")):
            return parent
    return None


def check_not_run_file(path: str | os.PathLike, option: str) -> None:
    """Refuse an output path that would replace a file of a run (``predict --out RUN/model.pt``); other paths inside
    a run directory (``RUN/front_test``) are allowed."""
    if str(path) == "-":
        return
    p = Path(os.path.realpath(path))
    run = run_directory_of(p)
    if run is None:
        return
    top = p.relative_to(run).parts[0]
    if top in RUN_OWN_FILES or top.startswith(("checkpoint", "ref_logprobs.")):
        raise RunDirError(f"{option} {path}: would replace {top} of the run in {run}; choose a path outside the "
                          f"run's own files")


def discard_unstarted(run_dir: Path, created: bool) -> None:
    """After a failure before a run's first checkpoint: remove what it wrote (its config, caches, log), and the
    directory itself when the run created it, so the corrected retry starts cleanly and nothing half-made stays."""
    if not run_dir.is_dir() or any((run_dir / n).exists() for n in RUN_PROGRESS_FILES):
        return
    for name in RUN_INPUT_FILES:
        p = run_dir / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink(missing_ok=True)
    if created and not any(run_dir.iterdir()):
        run_dir.rmdir()

