"""Helpers shared by the benchmark scripts: timing medians, RSS, JSON + markdown output."""
from __future__ import annotations

import atexit
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_ROOT = ROOT.parent / "shared" / "data"
#: the scorer every method shares (reproduce.py and develop.py ``--scorer``): the MLP, or allRank's MQ2008
#: transformer (2 layers of width 64, d_ff 128) with its hyper prompts for the one-shot model
SCORERS = {"mlp": {"kind": "mlp", "hidden": [128, 64], "dropout": 0.1},
           "transformer": {"kind": "transformer", "d_model": 64, "n_layers": 2, "n_heads": 2, "d_ff": 128,
                           "dropout": 0.1}}


def median_time(fn, repeats: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs (seconds)."""
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def proc_status_bytes(field: str) -> int | None:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ``RssAnon`` ...) in bytes; None where absent."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    """Current resident set size of this process."""
    return proc_status_bytes("VmRSS") or 0


def peak_rss_bytes() -> int:
    """Peak RSS of this process so far (VmHWM; ru_maxrss can carry a parent's peak across fork+exec)."""
    peak = proc_status_bytes("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def emit(result: dict, table_rows: list[list], headers: list[str]) -> None:
    """Print the JSON line, then a markdown table."""
    print(json.dumps(result))
    print()
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for r in table_rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r) + " |")


class AnonPeak:
    """Samples this process's anonymous resident memory (RssAnon: heap and tensors, not the clean page cache of
    memory-mapped files that VmRSS also counts) every ``interval`` seconds in a thread; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.05):
        import threading

        self.peak = self.read()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    @staticmethod
    def read() -> int:
        return proc_status_bytes("RssAnon") or 0

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak = max(self.peak, self.read())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.read())
        return self.peak


def reset_peak_rss() -> bool:
    """Reset VmHWM (Linux >= 4.0) so a later :func:`peak_rss_bytes` measures from now."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class StagedOutput:
    """A benchmark's ``--out`` folder, written whole or not at all.

    The benchmark writes into ``path``, a staging folder beside OUT; :meth:`publish` moves it into place when the run
    has finished (an earlier output of the same script is replaced whole, never merged), so OUT never mixes two runs
    and a run that fails leaves the previous output as it was (its staging folder is removed when the process exits).
    A non-empty OUT that this script did not write is refused before any work, in one line (exit 2).

    Parameters
    ----------
    out : pathlib.Path or None
        The output folder; None: the script keeps nothing (``path`` is None and :meth:`publish` does nothing).
    script : str
        The script's file name, recorded in OUT/.written_by.
    """

    MARKER = ".written_by"

    def __init__(self, out: Path | None, script: str):
        self.out, self.script, self.path = out, script, None
        if out is None:
            return
        if out.exists() and (not out.is_dir() or (any(out.iterdir()) and self._writer(out) != script)):
            print(f"{script}: error: --out {out} is not empty and holds no earlier output of {script}; choose a new "
                  f"or empty folder", file=sys.stderr)
            raise SystemExit(2)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.sweep(out)
        self.path = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir()
        atexit.register(self.discard)

    @staticmethod
    def sweep(out: Path) -> None:
        """Remove the staging folders of OUT left by runs that were killed (their process is gone; a killed process
        runs no exit handler), keeping those of runs still going."""
        for stale in out.parent.glob(f".{out.name}.partial-*"):
            pid = stale.name.rpartition("-")[2]
            if not pid.isdigit():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(stale, ignore_errors=True)
            except PermissionError:  # alive, another user's
                pass

    @classmethod
    def _writer(cls, out: Path) -> str | None:
        marker = out / cls.MARKER
        return marker.read_text().strip() if marker.is_file() else None

    def publish(self) -> None:
        """Move the finished output into OUT (replacing an earlier output of this script whole)."""
        if self.out is None or self.path is None:
            return
        (self.path / self.MARKER).write_text(self.script + "\n")
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        if self.out.exists():
            self.out.rename(old)
        try:
            self.path.rename(self.out)
        except OSError:
            if old.exists():
                old.rename(self.out)  # the earlier output back where it was
            raise
        shutil.rmtree(old, ignore_errors=True)
        self.path = None

    def discard(self) -> None:
        """Remove the staging folder of a run that did not finish (OUT is left as it was)."""
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
