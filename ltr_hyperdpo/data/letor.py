"""Parsing LETOR / SVMlight ranking text into dense float32 rows and Arrow tables.

Two layouts are read:

* LETOR / SVMlight with query ids: ``label qid:Q idx:val ... [# comment]`` (MSLR, MQ2007/8, Istella, Yahoo).
* The LightGBM / XGBoost layout: no ``qid:``; query sizes one per line in a side file (``.group`` / ``.query``).

Indices are 1-based; missing indices are 0 (sparse lines) and dense lines work the same way. Parsing is done by a
numba kernel over byte chunks. Labels are validated as they are read: negative labels fail with file:line,
non-integer labels are accepted with one warning (NDCG uses the gain ``2^y - 1`` of the value as given).
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..utils.progress import progress_bar
from ._parse_kernel import ERR_INDEX_TOO_LARGE, ERROR_TEXT, OK, parse_chunk
from .limits import DEFAULT_MAX_FEATURES, MAX_LABEL
from .textio import (
    LetorFormatError,
    check_input_path,
    count_lines,
    group_qids,
    is_gzip,
    iter_line_chunks,
    resolve_group_file,
)

DEFAULT_CHUNK_BYTES = 4 << 20




class LetorFormatWarning(UserWarning):
    """Something in the input was accepted with a change: skipped lines, clipped values, replaced characters."""


@dataclass
class ParsedChunk:
    """Rows parsed from one byte chunk; ``features`` is ``[rows, width]`` float32, ``lines`` are 1-based."""

    features: np.ndarray
    labels: np.ndarray
    qids: np.ndarray
    lines: np.ndarray
    comment_offsets: np.ndarray
    comment_bytes: np.ndarray


@dataclass
class ParseStats:
    """What parsing accepted with a change, gathered so each kind is warned about once per file."""

    clipped: int = 0
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    fractional: tuple[int, float] | None = None
    comments_replaced: int = 0
    comment_first_line: int | None = None
    width: int = 0

    def shifted(self, offset: int) -> ParseStats:
        """The same stats with every line number moved by ``offset`` (worker ranges count lines from 1)."""
        return ParseStats(self.clipped, self.bad, [(ln + offset, t) for ln, t in self.bad_examples],
                          None if self.fractional is None else (self.fractional[0] + offset, self.fractional[1]),
                          self.comments_replaced,
                          None if self.comment_first_line is None else self.comment_first_line + offset, self.width)

    def merge(self, o: ParseStats) -> None:
        """Add another range's stats (ranges merged in file order)."""
        self.clipped += o.clipped
        self.bad += o.bad
        self.bad_examples = (self.bad_examples + o.bad_examples)[:5]
        self.fractional = self.fractional or o.fractional
        self.comments_replaced += o.comments_replaced
        self.comment_first_line = self.comment_first_line or o.comment_first_line
        self.width = max(self.width, o.width)

    def warn(self, path: str | os.PathLike) -> None:
        """One warning per kind of accepted change."""
        if self.clipped:
            warnings.warn(f"{path}: {self.clipped} value(s) beyond the float32 range were clipped to +-3.4e38",
                          LetorFormatWarning, stacklevel=3)
        if self.bad:
            first = "; ".join(f"line {ln}: {t}" for ln, t in self.bad_examples)
            warnings.warn(f"{path}: skipped {self.bad} malformed line(s); first: {first}", LetorFormatWarning,
                          stacklevel=3)
        if self.fractional is not None:
            warnings.warn(f"{path}: labels are not all integers (first at line {self.fractional[0]}: "
                          f"{self.fractional[1]:g}); NDCG uses the gain 2^y - 1 of the value as given and counts "
                          f"labels >= 1 as relevant", LetorFormatWarning, stacklevel=3)
        if self.comments_replaced:
            warnings.warn(f"{path}: {self.comments_replaced} comment(s) were not valid UTF-8 (first at line "
                          f"{self.comment_first_line}) and were decoded with replacement characters",
                          LetorFormatWarning, stacklevel=3)


def _token(buf: np.ndarray, s: int, e: int) -> str:
    return bytes(buf[s:min(e, s + 80)]).decode("utf-8", "replace")


class DenseSink:
    """Preallocated output for a whole file (rows = its line count), so chunks are parsed in place, no copy."""

    def __init__(self, n_rows_max: int, width: int):
        self.x = np.zeros((n_rows_max, width), dtype=np.float32)
        self.y = np.empty(n_rows_max, dtype=np.float32)
        self.q = np.empty(n_rows_max, dtype=np.int64)
        self.lines = np.empty(n_rows_max, dtype=np.int64)
        self.rows = 0

    def views(self, n_lines: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if width > self.x.shape[1]:
            # rare: a later chunk has a larger index; widen once (rows so far are copied)
            new = np.zeros((self.x.shape[0], width), dtype=np.float32)
            new[:self.rows, :self.x.shape[1]] = self.x[:self.rows]
            self.x = new
        r = self.rows
        return self.x[r:r + n_lines], self.y[r:r + n_lines], self.q[r:r + n_lines], self.lines[r:r + n_lines]


#: inputs up to this size are parsed by the kernel's own Python (``parse_chunk.py_func``): for a small file, numba's
#: import and first dispatch (about 0.5 s) cost more than the parse itself
SMALL_INPUT_BYTES = 64 << 10


def _run_kernel(in_python: bool, buf: np.ndarray, n: int, *args: Any) -> tuple:
    """``parse_chunk``'s result for ``buf[:n]``: in Python for a small input when that parse is clean (no error,
    no skipped or clipped value), else compiled. Input the Python run finds anything wrong with is parsed again by
    the compiled kernel, so errors, skipped lines and clipped values always come from one implementation."""
    if in_python:
        stamp = args[10]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # int64 wrap-around as in compiled code, without NumPy's warnings
            try:
                res = parse_chunk.py_func(bytes(buf[:n]), n, *args)
            except (OverflowError, ValueError, IndexError):
                res = None
        if res is not None and res[4] == OK and res[1] == 0 and res[8] == 0:
            return res
        stamp[:] = 0
    return parse_chunk.run(buf, n, *args)


def warm_compiled_kernel() -> None:
    """Load the compiled kernel in this process (numba's import and first dispatch) by parsing one line: called
    before forking parse workers, so that they inherit it instead of each loading it again."""
    buf = np.frombuffer(b"1 qid:1 1:1\n", dtype=np.uint8)
    n = buf.shape[0]
    parse_chunk.run(buf, n, 1, True, 1, False, np.zeros((1, 1), np.float32), np.empty(1, np.float32),
                    np.empty(1, np.int64), np.empty(1, np.int64), np.empty(2, np.int64), np.empty(n, np.uint8),
                    np.zeros(2, np.int64), np.empty(16, np.int64), False, 1)


def iter_parse(path: str | os.PathLike, *, require_qid: bool = True, n_features: int | None = None,
               on_error: str = "raise", chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               progress: Callable[[int], None] | None = None, sink: DenseSink | None = None,
               start: int = 0, end: int | None = None, first_line: int = 1, scan: bool = False,
               stats: ParseStats | None = None, unlabeled: bool = False,
               max_features: int = DEFAULT_MAX_FEATURES) -> Iterator[ParsedChunk]:
    """Parse ``[start, end)`` of a LETOR text file chunk by chunk.

    Each chunk's width is the widest index seen so far; with ``scan=True`` the width stays ``n_features`` (columns
    beyond it are not stored) and the widest index is recorded in ``stats.width``. ``on_error='raise'`` raises
    :class:`LetorFormatError` on the first bad line; ``'warn'`` skips bad lines (counted in ``stats``). Negative
    labels always raise. With a ``sink``, rows are written into its preallocated arrays. When ``stats`` is not
    given, the accepted changes are warned about at the end; an input with no data line raises. ``unlabeled``
    accepts lines without a label (first token ``qid:Q`` or ``index:value``), read as label 0, for scoring. A feature
    index above ``max_features`` (or ``n_features`` when larger) is an error naming file:line.
    """
    if on_error not in ("raise", "warn"):
        raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}")
    path = check_input_path(path)
    own_stats = stats is None
    st = ParseStats() if stats is None else stats
    lenient = on_error == "warn"
    width = int(n_features or 0)
    limit = max(int(max_features), width)
    size = (os.path.getsize(path) if end is None else end) - start
    in_python = size <= SMALL_INPUT_BYTES and not is_gzip(path)
    stamp = np.zeros(max(width, 1 << 16) + 1, dtype=np.int64)
    any_rows = False
    for buf, n, chunk_line in iter_line_chunks(path, chunk_bytes, start, end, first_line):
        n_lines = int(np.count_nonzero(buf[:n] == 10)) + 1
        while True:
            if sink is not None:
                width = max(width, sink.x.shape[1])
                out_x, out_y, out_q, out_l = sink.views(n_lines, width)
            else:
                out_x = np.zeros((n_lines, width), dtype=np.float32)
                out_y = np.empty(n_lines, dtype=np.float32)
                out_q = np.empty(n_lines, dtype=np.int64)
                out_l = np.empty(n_lines, dtype=np.int64)
            com_off = np.empty(n_lines + 1, dtype=np.int64)
            com_buf = np.empty(n, dtype=np.uint8)
            bad = np.empty(16, dtype=np.int64)
            stamp[:] = 0
            rows, n_bad, need, com_len, err, err_line, es, ee, n_clip = _run_kernel(
                in_python, buf, n, width, require_qid, chunk_line, lenient,
                out_x, out_y, out_q, out_l, com_off, com_buf, stamp, bad, unlabeled, limit)
            if err != OK and not lenient:
                what = ERROR_TEXT[int(err)]
                if err == ERR_INDEX_TOO_LARGE:
                    what = f"feature index above the limit of {limit} features (raise it with --max-features)"
                raise LetorFormatError(path, int(err_line), what, _token(buf, es, ee))
            if need >= stamp.shape[0]:
                stamp = np.zeros(int(need) + 1, dtype=np.int64)
            if need > width and not scan:
                width = int(need)
                continue
            break
        st.width = max(st.width, int(need), width)
        st.clipped += int(n_clip)
        if n_bad:
            if len(st.bad_examples) < 5:
                st.bad_examples.append((int(err_line), f"{ERROR_TEXT[int(err)]} ({_token(buf, es, ee)!r})"))
            st.bad += int(n_bad)
        if progress is not None:
            progress(n)
        if rows == 0:
            continue
        labels = out_y[:rows]
        neg = np.flatnonzero((labels < 0) | (labels > MAX_LABEL))
        if neg.size:
            what = "negative label (relevance grades must be >= 0)" if labels[neg[0]] < 0 else \
                f"label above {MAX_LABEL:g} (its NDCG gain 2^y - 1 overflows)"
            raise LetorFormatError(path, int(out_l[neg[0]]), what, f"{float(labels[neg[0]]):g}")
        if st.fractional is None:
            frac = np.flatnonzero(labels != np.floor(labels))
            if frac.size:
                st.fractional = (int(out_l[frac[0]]), float(labels[frac[0]]))
        any_rows = True
        if sink is not None:
            sink.rows += rows
        yield ParsedChunk(out_x[:rows], out_y[:rows], out_q[:rows], out_l[:rows],
                          com_off[:rows + 1].copy(), com_buf[:com_len].copy())
    if own_stats:
        st.warn(path)
        if not any_rows:
            raise LetorFormatError(path, None, "empty file: no data lines")


def check_contiguous(path: str | os.PathLike, qids: np.ndarray, lines: np.ndarray) -> None:
    """Raise if a query's lines are not contiguous (a qid reappears after another qid)."""
    if qids.size == 0:
        return
    starts = np.flatnonzero(np.r_[True, qids[1:] != qids[:-1]])
    run_q = qids[starts]
    if np.unique(run_q).size == run_q.size:
        return
    order = np.argsort(run_q, kind="stable")
    dup = np.flatnonzero(run_q[order][1:] == run_q[order][:-1])
    second_runs = order[dup + 1]
    first_bad = int(starts[second_runs.min()])
    raise LetorFormatError(path, int(lines[first_bad]),
                           f"query lines are not contiguous: qid {int(qids[first_bad])} appears again after other "
                           f"queries", f"qid:{int(qids[first_bad])}")


def comment_array(ch: ParsedChunk, stats: ParseStats | None = None) -> pa.Array:
    """The chunk's ``# comments`` as a string array; invalid UTF-8 is decoded with replacement (and counted)."""
    raw = ch.comment_bytes.tobytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        offs = ch.comment_offsets
        texts = []
        for i in range(len(ch.labels)):
            piece = raw[offs[i]:offs[i + 1]]
            try:
                texts.append(piece.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(piece.decode("utf-8", "replace"))
                if stats is not None:
                    stats.comments_replaced += 1
                    if stats.comment_first_line is None:
                        stats.comment_first_line = int(ch.lines[i])
        return pa.array(texts, type=pa.string())
    return pa.StringArray.from_buffers(len(ch.labels), pa.py_buffer(ch.comment_offsets.astype(np.int32)),
                                       pa.py_buffer(ch.comment_bytes))


_ARROW_TYPES = {np.dtype(np.float32): pa.float32(), np.dtype(np.int64): pa.int64()}


def numeric_array(values: np.ndarray, dtype: type) -> pa.Array:
    """A 1-d NumPy array as an Arrow array over the same memory. Built from buffers, not with ``pa.array``, which
    imports pandas (0.2 s) on first use to check for pandas types: the data commands start without it."""
    v: np.ndarray = np.ascontiguousarray(values, dtype=dtype).reshape(-1)
    return pa.Array.from_buffers(_ARROW_TYPES[v.dtype], len(v), [None, pa.py_buffer(v)])


def chunk_to_batch(ch: ParsedChunk, width: int, qids: np.ndarray | None = None, with_comment: bool = False,
                   stats: ParseStats | None = None) -> pa.RecordBatch:
    """Turn a parsed chunk into a RecordBatch ``qid, label, features[, comment]`` (features zero-copy when possible)."""
    x = ch.features
    if x.shape[1] != width:
        x = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    x = np.ascontiguousarray(x)
    feats = pa.FixedSizeListArray.from_arrays(numeric_array(x, np.float32), width)
    cols = [numeric_array(ch.qids if qids is None else qids, np.int64), numeric_array(ch.labels, np.float32), feats]
    names = ["qid", "label", "features"]
    if with_comment:
        cols.append(comment_array(ch, stats))
        names.append("comment")
    return pa.RecordBatch.from_arrays(cols, names=names)


def byte_progress(enabled: bool, path: Path, desc: str) -> tuple[Any, Callable[[int], None] | None]:
    """A progress bar over the file's bytes (on a terminal) and its update callback."""
    bar = progress_bar(enabled, None if is_gzip(path) else os.path.getsize(path), desc, unit="B", unit_scale=True)
    return bar, (bar.update if bar is not None else None)


@dataclass
class SinkParse:
    """A whole file parsed in place into a :class:`DenseSink`: its rows, query ids, parse statistics, and per chunk
    the row count and the ``# comments`` (offsets and bytes)."""

    sink: DenseSink
    rows: int
    qids: np.ndarray
    stats: ParseStats
    chunk_rows: list[int]
    comment_offsets: list[np.ndarray]
    comment_bytes: list[np.ndarray]


def parse_into_sink(path: Path, sink: DenseSink, *, group_file: Path | None, n_features: int | None,
                    on_error: str, chunk_bytes: int, progress: bool, max_features: int = DEFAULT_MAX_FEATURES
                    ) -> SinkParse:
    """Parse ``path`` into ``sink`` (a progress bar over its bytes), then read the query ids (from the lines, which
    must keep each query contiguous, or from ``group_file``); an input with no data line raises."""
    stats = ParseStats()
    sizes: list[int] = []
    offsets: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    bar, cb = byte_progress(progress, path, f"parse {path.name}")
    try:
        for c in iter_parse(path, require_qid=group_file is None, n_features=n_features, on_error=on_error,
                            chunk_bytes=chunk_bytes, progress=cb, sink=sink, stats=stats, max_features=max_features):
            sizes.append(len(c.labels))
            offsets.append(c.comment_offsets)
            parts.append(c.comment_bytes)
    finally:
        if bar is not None:
            bar.close()
    n = sink.rows
    if n == 0:
        raise LetorFormatError(path, None, "empty file: no data lines")
    if group_file is not None:
        qids = group_qids(path, group_file, n)
    else:
        qids = sink.q[:n]
        check_contiguous(path, qids, sink.lines[:n])
    return SinkParse(sink, n, qids, stats, sizes, offsets, parts)


def parse_letor(path: str | os.PathLike, *, group_file: str | os.PathLike | None = None,
                n_features: int | None = None, on_error: str = "raise",
                chunk_bytes: int = DEFAULT_CHUNK_BYTES, progress: bool = False,
                keep_comments: bool = True) -> pa.Table:
    """Parse a LETOR/SVMlight file (optionally with a group side file) into an Arrow table.

    Columns: ``qid`` int64, ``label`` float32, ``features`` fixed-size list of float32 (dense, width = the largest
    index or ``n_features``), and ``comment`` (string) when any line has a ``# comment``. The output is written in
    place into one preallocated buffer (sized by a line count), so peak memory is ~1x the dense output.
    """
    path = check_input_path(path)
    group_file = resolve_group_file(path, group_file)
    sp = parse_into_sink(path, DenseSink(count_lines(path), int(n_features or 0)), group_file=group_file,
                         n_features=n_features, on_error=on_error, chunk_bytes=chunk_bytes, progress=progress)
    sink, n = sp.sink, sp.rows
    with_comment = keep_comments and any(b.size for b in sp.comment_bytes)
    com_off, total = [np.zeros(1, np.int64)], 0
    for off, part in zip(sp.comment_offsets, sp.comment_bytes, strict=True):
        com_off.append(off[1:] + total)
        total += part.size
    merged = ParsedChunk(sink.x[:n], sink.y[:n], sp.qids, sink.lines[:n],
                         np.concatenate(com_off) if with_comment else np.zeros(n + 1, np.int64),
                         np.concatenate(sp.comment_bytes) if with_comment else np.empty(0, np.uint8))
    table = pa.Table.from_batches([chunk_to_batch(merged, sink.x.shape[1], sp.qids, with_comment, sp.stats)])
    sp.stats.warn(path)
    return table


__all__ = ["LetorFormatError", "LetorFormatWarning", "ParsedChunk", "ParseStats", "iter_parse", "parse_letor",
           "parse_into_sink", "SinkParse",
           "check_contiguous", "chunk_to_batch", "comment_array", "DEFAULT_CHUNK_BYTES"]
