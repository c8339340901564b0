"""The worker side of a parallel conversion: byte-range tasks parsed in worker processes, pass 1 (scan: labels, qids
and the objectives' columns) and pass 2 (spool: a range's finished record batches written to an Arrow IPC stream
beside the output, memory-mapped back by the writer), and the in-order bounded map that runs them."""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from ..utils.io import TMP_SUFFIX
from .letor import ParsedChunk, ParseStats, chunk_to_batch, iter_parse, numeric_array
from .limits import DEFAULT_MAX_FEATURES
from .objectives import ObjectiveSpec
from .textio import LetorFormatError, count_newlines

T = TypeVar("T")


@dataclass(kw_only=True)
class RangeTask:
    """One byte range of the input, with what a worker needs to parse it."""

    path: str
    start: int
    end: int | None
    first_line: int
    require_qid: bool
    width: int
    scan: bool
    on_error: str
    chunk_bytes: int
    columns: tuple[int, ...]  # 0-based feature columns to keep (pass 1)
    max_features: int = DEFAULT_MAX_FEATURES


@dataclass(kw_only=True)
class RangeScan:
    """Pass-1 result of one range: line-relative when produced by a worker."""

    newlines: int
    qids: np.ndarray
    lines: np.ndarray
    labels: np.ndarray
    columns: np.ndarray  # [rows, len(task.columns)]
    has_comment: bool
    stats: ParseStats


def scan_range(t: RangeTask) -> RangeScan:
    stats = ParseStats()
    q, ln, y, cols, com = [], [], [], [], False
    for c in iter_parse(t.path, require_qid=t.require_qid, n_features=t.width, on_error=t.on_error,
                        chunk_bytes=t.chunk_bytes, start=t.start, end=t.end, first_line=t.first_line, scan=True,
                        stats=stats, max_features=t.max_features):
        q.append(c.qids.copy())
        ln.append(c.lines.copy())
        y.append(c.labels.copy())
        cols.append(c.features[:, list(t.columns)].copy())
        com = com or c.comment_bytes.size > 0
    newlines = count_newlines(t.path, t.start, t.end) if t.end is not None else 0
    empty = np.empty(0)
    return RangeScan(newlines=newlines, qids=np.concatenate(q) if q else empty.astype(np.int64),
                 lines=np.concatenate(ln) if ln else empty.astype(np.int64),
                 labels=np.concatenate(y) if y else empty.astype(np.float32),
                 columns=np.concatenate(cols) if cols else np.empty((0, len(t.columns)), np.float32),
                 has_comment=com, stats=stats)


def iter_range(t: RangeTask) -> Iterator[ParsedChunk]:
    return iter_parse(t.path, require_qid=t.require_qid, n_features=t.width, on_error=t.on_error,
                      chunk_bytes=t.chunk_bytes, start=t.start, end=t.end, first_line=t.first_line, scan=True,
                      stats=ParseStats(), max_features=t.max_features)


@dataclass
class SpoolTask:
    """Pass-2 task of one range: parse it and write its finished record batches to ``path``."""

    task: RangeTask
    path: str
    qids: np.ndarray | None  # the range's qids from a group file (None: the lines carry them)
    with_comment: bool
    objectives: list[ObjectiveSpec] | None


def finished_batch(c: ParsedChunk, width: int, qids: np.ndarray | None, with_comment: bool, stats: ParseStats,
                    objs: list[ObjectiveSpec] | None) -> pa.RecordBatch:
    """The output record batch of one parsed chunk (with its objectives' grades)."""
    b = chunk_to_batch(c, width, qids, with_comment, stats)
    if objs is not None:
        g = np.stack([o.grades(c.labels, c.features) for o in objs], axis=1).astype(np.float32)
        b = b.append_column("objectives", pa.FixedSizeListArray.from_arrays(numeric_array(g, np.float32), len(objs)))
    return b


def spool_range(s: SpoolTask) -> int:
    """Write one range's record batches to its spool file (Arrow IPC stream); returns comments decoded with
    replacement."""
    stats = ParseStats()
    r = 0
    with pa.OSFile(s.path, "wb") as sink:
        writer = None
        for c in iter_range(s.task):
            m = len(c.labels)
            b = finished_batch(c, s.task.width, None if s.qids is None else s.qids[r:r + m], s.with_comment, stats,
                                s.objectives)
            r += m
            if writer is None:
                writer = pa.ipc.new_stream(sink, b.schema)
            writer.write_batch(b)
        if writer is not None:
            writer.close()
    return stats.comments_replaced


def spooled_batches(path: str) -> Iterator[pa.RecordBatch]:
    """The record batches of a spool file (memory-mapped), which is deleted once they are consumed."""
    try:
        if os.path.getsize(path):
            yield from pa.ipc.open_stream(pa.memory_map(path, "r"))
    finally:
        Path(path).unlink(missing_ok=True)  # an interrupted conversion may have removed it already


def spool_paths(out: Path) -> Iterator[Path]:
    """Spool files of this process for ``out`` (left only by a failure)."""
    return out.parent.glob(f".{out.name}.{os.getpid()}.*.spool{TMP_SUFFIX}")


def ordered(fn: Callable[[T], Any], tasks: list[T], pool: Any, window: int) -> Iterator[Any]:
    """``map(fn, tasks)`` in order, at most ``window`` tasks in flight (bounded memory)."""
    if pool is None:
        yield from map(fn, tasks)
        return
    pending: deque = deque()
    it = iter(tasks)
    for t in it:
        pending.append(pool.apply_async(fn, (t,)))
        if len(pending) >= window:
            break
    while pending:
        res = pending.popleft().get()
        nxt = next(it, None)
        if nxt is not None:
            pending.append(pool.apply_async(fn, (nxt,)))
        yield res


def relocate(e: LetorFormatError, offset: int) -> LetorFormatError:
    return LetorFormatError(e.path, None if e.line is None else e.line + offset, e.reason, e.token)
