"""Run directories: one run per directory, held under an exclusive lock for the whole run.

The lock is an ``flock`` on ``RUN/.lock`` holding the owner's pid: a second process fails at once naming the holder;
a lock file left by a dead process (the kernel released its flock) is taken over with a warning.
"""
from __future__ import annotations

import fcntl
import os
import warnings
from pathlib import Path
from types import TracebackType

import torch

from ..errors import RunDirError
from .io import pid_alive

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


def check_new_or_resume(run_dir: Path, resume: bool) -> None:
    """Refuse to start a new run in a directory holding one (and to resume where there is none)."""
    has_run = (run_dir / "config.json").exists()
    if has_run and not resume:
        raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it, or use another --out")
    if resume and not has_run and any(run_dir.glob("*")) and not (run_dir / "checkpoint.pt").exists():
        raise RunDirError(f"{run_dir}: nothing to resume (no config.json); start a new run without --resume")


def set_threads(threads: int | None) -> None:
    """Apply the torch intra-op thread count when one is given."""
    if threads:
        torch.set_num_threads(threads)
