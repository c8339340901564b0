"""`convert`: LETOR/SVMlight text to Parquet or Arrow IPC in bounded memory, atomically, optionally in parallel.

A file whose dense output fits :data:`ONE_PASS_BUDGET_BYTES` is parsed once, in place into one preallocated buffer,
and written from it (memory about 1x the dense output). A larger one, or one converted by several workers, takes two
passes in bounded memory: pass 1 scans the file (the feature width, the rows, query contiguity, label validity, and
only the columns the objectives read: their quantile edges are fitted on those), pass 2 parses again and writes one
record batch per chunk, so only a few chunks are in memory at a time whatever the file size. Both give the same
file. With ``workers > 1`` both passes parse
byte ranges cut at line boundaries in worker processes; in pass 2 each worker writes its range's finished record
batches to a spool file (Arrow IPC stream, beside the output) that the writer memory-maps and copies in file order,
so no parsed data crosses a pipe and the output equals ``workers=1``. Gzip input is read by one process. A failure
or Ctrl-C leaves no output file and no spool file.
"""
from __future__ import annotations

import multiprocessing
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import DataError
from ..utils.io import TMP_SUFFIX
from . import ranges as byte_ranges
from .letor import (
    DEFAULT_CHUNK_BYTES,
    DenseSink,
    ParsedChunk,
    ParseStats,
    byte_progress,
    check_contiguous,
    parse_into_sink,
    warm_compiled_kernel,
)
from .limits import DEFAULT_MAX_FEATURES
from .objectives import ObjectiveSpec, objectives_to_json, parse_objectives, parse_spec
from .store import format_for_output, open_table, read_metadata, write_batches
from .textio import (
    LetorFormatError,
    check_input_path,
    count_lines,
    group_qids,
    is_gzip,
    plan_ranges,
)
from .textio import resolve_group_file as _resolve_group_file

#: bytes per worker task: large enough to amortise the hand-over, small enough to bound memory in flight
RANGE_BYTES = 32 << 20
#: a one-process conversion whose dense output (rows x width x 4 bytes) stays within this is parsed once and written
#: from memory: the second parse of the two-pass path costs as much as the first, and 1 GiB is far below the memory
#: of any machine that trains on such data; beyond it (or with several workers) the two streaming passes bound memory
ONE_PASS_BUDGET_BYTES = 1 << 30


class _OverBudget(Exception):
    """The dense output outgrew :data:`ONE_PASS_BUDGET_BYTES`: convert in two streaming passes instead."""


class _BudgetSink(DenseSink):
    """A :class:`DenseSink` that refuses to grow beyond a byte budget (before allocating)."""

    def __init__(self, n_rows_max: int, width: int, budget: int):
        if n_rows_max * max(width, 1) * 4 > budget:
            raise _OverBudget
        super().__init__(n_rows_max, width)
        self.budget = budget

    def views(self, n_lines: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if width > self.x.shape[1] and self.x.shape[0] * width * 4 > self.budget:
            raise _OverBudget
        return super().views(n_lines, width)


def objectives_from_file(path: str | os.PathLike) -> tuple[list[ObjectiveSpec], list[int]]:
    """The fitted objectives (and dropped input columns) stored in a converted training file, to convert vali/test
    with the same bins."""
    meta = read_metadata(open_table(path).schema)
    if not meta.get("objectives"):
        raise DataError(f"{path}: holds no fitted objectives (convert the training split with --objectives)")
    return parse_objectives(meta["objectives"]), [int(f) for f in meta.get("drop_features") or []]


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (through links too); a missing ``b`` is never the same."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


#: ``workers=None`` (auto) parses in parallel only files at least this large: below it, starting the processes
#: costs more than it saves
AUTO_WORKERS_MIN_BYTES = 64 << 20


def available_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def auto_workers(path: str | os.PathLike) -> int:
    """The ``workers`` of the two streaming passes when not given: one process per available core, at most 4, for
    a plain-text file of at least 64 MiB (the two passes then take about 1/cores of the time; the output is
    byte-identical); one process for smaller or gzip files (which one process must decompress)."""
    if is_gzip(path) or os.path.getsize(path) < AUTO_WORKERS_MIN_BYTES:
        return 1
    return max(1, min(available_cores(), 4))


def one_pass_first(path: str | os.PathLike, workers: int | None) -> bool:
    """Whether ``convert`` first tries the one-pass conversion (falling back to the two streaming passes when the
    dense output outgrows :data:`ONE_PASS_BUDGET_BYTES`, which shows within the first chunk): with one worker, and
    with ``workers`` auto on fewer than 3 cores, where one parse in one process beats two parses shared by two
    processes. Not for gzip input (its line count would decompress it twice)."""
    if is_gzip(path):
        return False
    return workers == 1 or (workers is None and (auto_workers(path) == 1 or available_cores() < 3))


def convert(input_path: str | os.PathLike, output_path: str | os.PathLike, *,
            group_file: str | os.PathLike | None = None, objectives: str | list | None = None,
            objectives_from: str | os.PathLike | None = None, fmt: str | None = None, n_features: int | None = None,
            on_error: str = "raise", chunk_bytes: int = DEFAULT_CHUNK_BYTES, progress: bool = False,
            keep_comments: bool = True, workers: int | None = None, max_features: int = DEFAULT_MAX_FEATURES
            ) -> dict:
    """Convert a LETOR or LightGBM-layout text file (plain or gzip) into a Parquet or Arrow file for training.

    Nothing is written if anything fails (the output appears by an atomic rename). Large files are converted in
    streaming passes by ``workers`` processes in bounded memory.

    Parameters
    ----------
    input_path : str or os.PathLike
        The text file: ``label qid:Q 1:v 2:v ... # comment`` (LETOR) or ``label 1:v ...`` with a group file.
    output_path : str or os.PathLike
        ``.parquet`` or ``.arrow`` (``.ipc``, ``.feather``); must not be the input.
    group_file : str or os.PathLike, optional
        Query sizes, one per line, for LightGBM-layout text (default ``<input>.group`` when present).
    objectives : str or list, optional
        A preset (``mq2008``, ``mslr5``, ...) or objective specs, fitted on this file: use it for the training split.
        An ``objectives`` column (one grade per objective) is then added.
    objectives_from : str or os.PathLike, optional
        An already converted training file whose fitted objectives are reused (for validation and test splits).
    fmt : {"parquet", "arrow"}, optional
        The output format (default: from the output's extension).
    n_features : int, optional
        The feature width (default: the widest index seen; absent features are 0).
    on_error : {"raise", "warn"}, default "raise"
        A malformed line fails naming file:line, or is skipped with a warning and counted.
    chunk_bytes : int, default 4194304
        Bytes of text parsed at a time.
    progress : bool, default False
        A progress bar on stderr.
    keep_comments : bool, default True
        Keep each line's ``# ...`` comment (document ids) in a column.
    workers : int, optional
        Parser processes (default: by file size and cores).
    max_features : int, default 100000
        A feature index above it fails naming file:line (a guard against a corrupt index allocating a huge table).

    Returns
    -------
    dict
        A summary: queries, documents, features, the output path and format, skipped lines, objectives.

    Raises
    ------
    DataError
        A malformed line, an index above ``max_features``, an empty file, or an output that would overwrite an input
        (the message names file and line).
    ValueError
        ``fmt`` or ``on_error`` is not one of the values above, or the output extension is unknown.
    """
    src = check_input_path(input_path)
    out = Path(output_path)
    for other, what in ((src, "the input"), (group_file, "the group file"), (objectives_from, "--objectives-from")):
        if other is not None and same_file(other, out):
            raise DataError(f"{out}: the output would overwrite {what} ({other}); choose another output path")
    fmt = format_for_output(out, fmt)
    if workers is not None and workers < 1:
        raise DataError(f"workers must be >= 1, got {workers}")
    one_pass = one_pass_first(src, workers)
    workers = auto_workers(src) if workers is None else workers
    group = _resolve_group_file(src, group_file)
    objs: list[ObjectiveSpec] | None = None
    drops: list[int] = []
    if objectives_from is not None:
        objs, drops = objectives_from_file(objectives_from)
    elif objectives is not None:
        objs, drops = parse_spec(objectives)
    feat_objs = [o for o in (objs or []) if o.source == "feature"]
    columns = tuple(sorted({o.column for o in feat_objs}))
    scan_width = max(int(n_features or 0), (max(columns) + 1) if columns else 0)
    fit = objectives is not None and objectives_from is None
    if one_pass:
        try:
            return _convert_one_pass(src, out, fmt=fmt, group=group, objs=objs, drops=drops, fit=fit,
                                     n_features=n_features, on_error=on_error, chunk_bytes=chunk_bytes,
                                     progress=progress, keep_comments=keep_comments, max_features=max_features)
        except _OverBudget:
            pass  # too large to hold: the two streaming passes
    parallel = workers > 1 and not is_gzip(src)
    ranges: list[tuple[int, int | None]] = list(plan_ranges(src, RANGE_BYTES)) if parallel else [(0, None)]
    if not ranges:
        raise LetorFormatError(src, None, "empty file: no data lines")
    ctx = multiprocessing.get_context("fork")
    if parallel:
        warm_compiled_kernel()  # the forked workers inherit the loaded kernel
    pool = ctx.Pool(workers) if parallel else None
    try:
        return _convert(src, out, fmt=fmt, group=group, objs=objs, drops=drops, fit=fit, columns=columns,
                        scan_width=scan_width, n_features=n_features, on_error=on_error, chunk_bytes=chunk_bytes,
                        progress=progress, keep_comments=keep_comments, ranges=ranges, pool=pool, window=2 * workers,
                        max_features=max_features)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
            for p in byte_ranges.spool_paths(out):
                p.unlink(missing_ok=True)


def _convert(src: Path, out: Path, *, fmt: str, group: Path | None, objs: list[ObjectiveSpec] | None,
             drops: list[int], fit: bool, columns: tuple[int, ...], scan_width: int, n_features: int | None,
             on_error: str, chunk_bytes: int, progress: bool, keep_comments: bool,
             ranges: list[tuple[int, int | None]], pool: Any, window: int, max_features: int) -> dict:
    # pass 1: scan
    def task(i: int, first_line: int, width: int, scan_cols: tuple[int, ...]) -> byte_ranges.RangeTask:
        s, e = ranges[i]
        return byte_ranges.RangeTask(path=str(src), start=s, end=e, first_line=first_line,
                                     require_qid=group is None, width=width, scan=True, on_error=on_error,
                                     chunk_bytes=chunk_bytes, columns=scan_cols, max_features=max_features)

    stats = ParseStats()
    bar, cb = byte_progress(progress, src, f"scan {src.name}")
    scans: list[byte_ranges.RangeScan] = []
    offsets = [0]
    try:
        scan_tasks = [task(i, 1, scan_width, columns) for i in range(len(ranges))]
        for i, sc in enumerate(byte_ranges.ordered(byte_ranges.scan_range, scan_tasks, pool, window)):
            scans.append(sc)
            offsets.append(offsets[-1] + sc.newlines)
            stats.merge(sc.stats.shifted(offsets[i]))
            if cb is not None:
                e = ranges[i][1]
                cb((e if e is not None else os.path.getsize(src)) - ranges[i][0])
    except LetorFormatError as e:
        raise byte_ranges.relocate(e, offsets[len(scans)]) from None
    finally:
        if bar is not None:
            bar.close()
    n_rows = sum(len(s.labels) for s in scans)
    if n_rows == 0:
        raise LetorFormatError(src, None, "empty file: no data lines")
    width = max(stats.width, int(n_features or 0))
    if group is not None:
        all_q = group_qids(src, group, n_rows)
    else:
        all_q = np.concatenate([s.qids for s in scans])
        check_contiguous(src, all_q, np.concatenate([s.lines + off for s, off in zip(scans, offsets, strict=False)]))
    if objs is not None:
        labels = np.concatenate([s.labels for s in scans]) if fit else None
        colvals = np.concatenate([s.columns for s in scans]) if columns and fit else None
        _fit_objectives(src, objs, width, labels,
                        lambda c: None if colvals is None else colvals[:, columns.index(c)])
    with_comment = keep_comments and any(s.has_comment for s in scans)
    row_starts = np.cumsum([0] + [len(s.labels) for s in scans])
    del scans

    # pass 2: parse again and write batch by batch
    def batches() -> Iterator[pa.RecordBatch]:
        bar2, cb2 = byte_progress(progress, src, f"write {out.name}")
        try:
            tasks = [byte_ranges.RangeTask(path=str(src), start=s, end=e, first_line=offsets[i] + 1,
                                           require_qid=group is None, width=width, scan=True, on_error=on_error,
                                           chunk_bytes=chunk_bytes, columns=(), max_features=max_features)
                     for i, (s, e) in enumerate(ranges)]

            def parsed_here(i: int) -> Iterator[pa.RecordBatch]:
                r = int(row_starts[i])
                for c in byte_ranges.iter_range(tasks[i]):
                    m = len(c.labels)
                    yield byte_ranges.finished_batch(c, width, all_q[r:r + m], with_comment, stats, objs)
                    r += m

            def spooled() -> Iterator[Iterator[pa.RecordBatch]]:
                out.parent.mkdir(parents=True, exist_ok=True)
                tag = f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}"
                spools = [byte_ranges.SpoolTask(t, str(out.parent / f"{tag}.{i}.spool{TMP_SUFFIX}"),
                                                None if group is None else all_q[row_starts[i]:row_starts[i + 1]],
                                                with_comment, objs)
                          for i, t in enumerate(tasks)]
                for i, replaced in enumerate(byte_ranges.ordered(byte_ranges.spool_range, spools, pool, window)):
                    stats.comments_replaced += replaced
                    yield byte_ranges.spooled_batches(spools[i].path)

            per_range = spooled() if pool is not None else map(parsed_here, range(len(tasks)))
            for i, range_batches in enumerate(per_range):  # ranges in file order
                yield from range_batches
                if cb2 is not None:
                    e = ranges[i][1]
                    cb2((e if e is not None else os.path.getsize(src)) - ranges[i][0])
        finally:
            if bar2 is not None:
                bar2.close()

    return _write(src, out, batches(), fmt=fmt, group=group, objs=objs, drops=drops, width=width, stats=stats,
                  qids=all_q)


def _fit_objectives(src: Path, objs: list[ObjectiveSpec], width: int, labels: np.ndarray | None,
                    column: Callable[[int], np.ndarray | None]) -> None:
    """Check that every objective's column exists; with ``labels`` (a training split) fit each on its values
    (``column(c)``: the values of 0-based input column ``c``)."""
    for o in objs:
        if o.source == "feature" and o.column >= width:
            raise DataError(f"{src}: objective {o.name!r} reads feature {o.feature} but the file has {width} "
                            f"features")
        if labels is not None:
            o.fit_raw(o.raw_from(labels, None if o.source == "label" else column(o.column)))


def _write(src: Path, out: Path, gen: Iterator[pa.RecordBatch], *, fmt: str, group: Path | None,
           objs: list[ObjectiveSpec] | None, drops: list[int], width: int, stats: ParseStats,
           qids: np.ndarray) -> dict:
    """Write the converted file from its record batches (atomically) and return the summary."""
    meta = {"version": 1, "source": str(src), "n_features": width, "group_file": str(group) if group else None,
            "objectives": objectives_to_json(objs) if objs is not None else None, "drop_features": drops}
    first = next(gen)  # its schema is the file's
    write_batches(out, first.schema, _chain(first, gen), fmt=fmt, meta=meta)
    stats.warn(src)
    n_q = int(np.count_nonzero(np.r_[True, qids[1:] != qids[:-1]]))
    return {"input": str(src), "output": str(out), "rows": int(len(qids)), "queries": n_q, "features": width,
            "objectives": [o.name for o in objs] if objs else None}


def _convert_one_pass(src: Path, out: Path, *, fmt: str, group: Path | None, objs: list[ObjectiveSpec] | None,
                      drops: list[int], fit: bool, n_features: int | None, on_error: str, chunk_bytes: int,
                      progress: bool, keep_comments: bool, max_features: int) -> dict:
    """Parse once into a buffer of the dense output and write it in the chunks the two-pass path writes (the same
    file); raises :class:`_OverBudget` before allocating more than :data:`ONE_PASS_BUDGET_BYTES`."""
    sp = parse_into_sink(src, _BudgetSink(count_lines(src), int(n_features or 0), ONE_PASS_BUDGET_BYTES),
                         group_file=group, n_features=n_features, on_error=on_error, chunk_bytes=chunk_bytes,
                         progress=progress, max_features=max_features)
    sink, n, qids, stats = sp.sink, sp.rows, sp.qids, sp.stats
    width = max(stats.width, int(n_features or 0), sink.x.shape[1])
    if width > sink.x.shape[1]:  # an index read by no stored row (a skipped line) widened the file
        sink.views(0, width)
    x, y, lines = sink.x[:n], sink.y[:n], sink.lines[:n]
    if objs is not None:
        _fit_objectives(src, objs, width, y if fit else None, lambda c: x[:, c])
    with_comment = keep_comments and any(b.size for b in sp.comment_bytes)

    def batches() -> Iterator[pa.RecordBatch]:
        r = 0
        for m, off, cbytes in zip(sp.chunk_rows, sp.comment_offsets, sp.comment_bytes, strict=True):
            c = ParsedChunk(x[r:r + m], y[r:r + m], qids[r:r + m], lines[r:r + m], off, cbytes)
            yield byte_ranges.finished_batch(c, width, qids[r:r + m], with_comment, stats, objs)
            r += m

    return _write(src, out, batches(), fmt=fmt, group=group, objs=objs, drops=drops, width=width, stats=stats,
                  qids=qids)


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
