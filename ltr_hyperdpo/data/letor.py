"""Streaming reader for LETOR / SVMlight ranking text into Arrow tables.

Two layouts are read:

* LETOR / SVMlight with query ids: ``label qid:Q idx:val ... [# comment]`` (MSLR, MQ2007/8, Istella, Yahoo).
* The LightGBM / XGBoost layout: no ``qid:``; query sizes one per line in a side file (``.group`` / ``.query``).

Indices are 1-based; missing indices are 0 (sparse lines) and dense lines work the same way.
Parsing is done by a numba kernel over byte chunks, so peak memory stays near the dense float32 output.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa

from ._parse_kernel import ERROR_TEXT, OK, parse_chunk

DEFAULT_CHUNK_BYTES = 4 << 20


class LetorFormatError(ValueError):
    """A malformed LETOR/SVMlight input: the message names the file, the line and the offending token."""

    def __init__(self, path: str | os.PathLike, line: int | None, reason: str, token: str | None = None):
        self.path = str(path)
        self.line = line
        self.reason = reason
        self.token = token
        where = f"{self.path}:{line}" if line is not None else self.path
        msg = f"{where}: {reason}"
        if token is not None:
            msg += f" (token {token!r})"
        super().__init__(msg)


class LetorFormatWarning(UserWarning):
    """Lines skipped in lenient mode (``on_error='warn'``)."""


@dataclass
class ParsedChunk:
    """Rows parsed from one byte chunk; ``features`` is ``[rows, width]`` float32."""

    features: np.ndarray
    labels: np.ndarray
    qids: np.ndarray
    lines: np.ndarray
    comment_offsets: np.ndarray
    comment_bytes: np.ndarray


def _iter_line_chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[np.ndarray, int, int]]:
    """Yield (buffer, n_valid_bytes, first_line_number) over chunks that end on a line boundary."""
    line_no = 1
    carry = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                if carry:
                    buf = np.frombuffer(carry, dtype=np.uint8)
                    yield buf, buf.shape[0], line_no
                return
            data = carry + block if carry else block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            buf = np.frombuffer(data, dtype=np.uint8)
            n = cut + 1
            yield buf, n, line_no
            line_no += data.count(b"\n", 0, n)
            carry = data[n:]


def _token(buf: np.ndarray, s: int, e: int) -> str:
    return bytes(buf[s:min(e, s + 80)]).decode("utf-8", "replace")


class DenseSink:
    """Preallocated output for a whole file (rows = its newline count), so chunks are parsed in place, no copy."""

    def __init__(self, n_rows_max: int, width: int):
        self.x = np.zeros((n_rows_max, width), dtype=np.float32)
        self.y = np.empty(n_rows_max, dtype=np.float32)
        self.q = np.empty(n_rows_max, dtype=np.int64)
        self.lines = np.empty(n_rows_max, dtype=np.int64)
        self.rows = 0

    def views(self, n_lines: int, width: int):
        if width > self.x.shape[1]:
            # rare: a later chunk has a larger index; widen once (rows so far are copied)
            new = np.zeros((self.x.shape[0], width), dtype=np.float32)
            new[:self.rows, :self.x.shape[1]] = self.x[:self.rows]
            self.x = new
        r = self.rows
        return self.x[r:r + n_lines], self.y[r:r + n_lines], self.q[r:r + n_lines], self.lines[r:r + n_lines]


def count_lines(path: str | os.PathLike, chunk_bytes: int = 1 << 24) -> int:
    """Number of newline characters in a file (+1 for a last line without one)."""
    n = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk_bytes)
            if not b:
                break
            n += b.count(b"\n")
            last = b[-1:]
    return n + (last != b"\n")


def iter_parse(path: str | os.PathLike, *, require_qid: bool = True, n_features: int | None = None,
               on_error: str = "raise", chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               progress: Callable[[int], None] | None = None, sink: DenseSink | None = None) -> Iterator[ParsedChunk]:
    """Parse a LETOR text file chunk by chunk; each chunk's width is the widest index seen so far.

    ``on_error='raise'`` raises :class:`LetorFormatError` on the first bad line; ``'warn'`` skips bad lines and
    emits one :class:`LetorFormatWarning` at the end naming the count and the first few lines.
    With a ``sink``, rows are written straight into its preallocated arrays and the chunks are views of it.
    """
    if on_error not in ("raise", "warn"):
        raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    lenient = on_error == "warn"
    width = int(n_features or 0)
    stamp = np.zeros(max(width, 1 << 16) + 1, dtype=np.int64)
    bad_total = 0
    clipped = 0
    bad_examples: list[str] = []
    any_rows = False
    for buf, n, first_line in _iter_line_chunks(path, chunk_bytes):
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
            rows, n_bad, need, com_len, err, err_line, es, ee, n_clip = parse_chunk(
                buf, n, width, require_qid, first_line, lenient,
                out_x, out_y, out_q, out_l, com_off, com_buf, stamp, bad)
            if err != OK and not lenient:
                raise LetorFormatError(path, int(err_line), ERROR_TEXT[int(err)], _token(buf, es, ee))
            if need > width:
                width = int(need)
                if width >= stamp.shape[0]:
                    stamp = np.zeros(width + 1, dtype=np.int64)
                continue
            break
        clipped += int(n_clip)
        if n_bad:
            if len(bad_examples) < 5:
                bad_examples.append(f"line {int(err_line)}: {ERROR_TEXT[int(err)]} ({_token(buf, es, ee)!r})")
            bad_total += int(n_bad)
        if progress is not None:
            progress(n)
        if rows == 0:
            continue
        any_rows = True
        if sink is not None:
            sink.rows += rows
        yield ParsedChunk(out_x[:rows], out_y[:rows], out_q[:rows], out_l[:rows],
                          com_off[:rows + 1].copy(), com_buf[:com_len].copy())
    if clipped:
        warnings.warn(f"{path}: {clipped} value(s) beyond the float32 range were clipped to +-3.4e38",
                      LetorFormatWarning, stacklevel=2)
    if bad_total:
        warnings.warn(f"{path}: skipped {bad_total} malformed line(s); first: {'; '.join(bad_examples)}",
                      LetorFormatWarning, stacklevel=2)
    if not any_rows:
        raise LetorFormatError(path, None, "empty file: no data lines")


def read_group_file(path: str | os.PathLike) -> np.ndarray:
    """Read a LightGBM/XGBoost ``.group``/``.query`` side file (one positive query size per line)."""
    path = Path(path)
    sizes = []
    with open(path, "r", encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            s = line.strip()
            if not s:
                continue
            try:
                v = int(s)
            except ValueError:
                raise LetorFormatError(path, no, "group size is not an integer", s) from None
            if v <= 0:
                raise LetorFormatError(path, no, "group size must be positive", s)
            sizes.append(v)
    if not sizes:
        raise LetorFormatError(path, None, "empty group file")
    return np.asarray(sizes, dtype=np.int64)


def find_group_file(path: str | os.PathLike) -> Path | None:
    """Return the side file ``PATH.group`` / ``PATH.query`` (or with the extension replaced) if one exists."""
    p = Path(path)
    for cand in (Path(str(p) + ".group"), Path(str(p) + ".query"), p.with_suffix(".group"), p.with_suffix(".query")):
        if cand.exists():
            return cand
    return None


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
                           f"query lines are not contiguous: qid {int(qids[first_bad])} appears again after other queries",
                           f"qid:{int(qids[first_bad])}")


def chunk_to_batch(ch: ParsedChunk, width: int, qids: np.ndarray | None = None,
                   with_comment: bool = False) -> pa.RecordBatch:
    """Turn a parsed chunk into a RecordBatch ``qid, label, features[, comment]`` (features zero-copy when possible)."""
    x = ch.features
    if x.shape[1] != width:
        x = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    x = np.ascontiguousarray(x)
    feats = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), type=pa.float32()), width)
    cols = [pa.array(ch.qids if qids is None else qids, type=pa.int64()),
            pa.array(ch.labels, type=pa.float32()), feats]
    names = ["qid", "label", "features"]
    if with_comment:
        com = pa.StringArray.from_buffers(len(ch.labels), pa.py_buffer(ch.comment_offsets.astype(np.int32)),
                                          pa.py_buffer(ch.comment_bytes))
        cols.append(com)
        names.append("comment")
    return pa.RecordBatch.from_arrays(cols, names=names)


def parse_letor(path: str | os.PathLike, *, group_file: str | os.PathLike | None = None,
                n_features: int | None = None, on_error: str = "raise",
                chunk_bytes: int = DEFAULT_CHUNK_BYTES, progress: bool | Callable[[int], None] = False,
                keep_comments: bool = True) -> pa.Table:
    """Parse a LETOR/SVMlight file (optionally with a group side file) into an Arrow table.

    Columns: ``qid`` int64, ``label`` float32, ``features`` fixed-size list of float32 (dense, width = the largest
    index or ``n_features``), and ``comment`` (string) when any line has a ``# comment``. The output is written in
    place into one preallocated buffer (sized by a newline count), so peak memory is ~1x the dense output.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file")
    sink = DenseSink(count_lines(path), int(n_features or 0))
    com_off, com_parts = [np.zeros(1, np.int64)], []
    total = 0
    for c in _iter_chunks_with_progress(path, group_file, n_features, on_error, chunk_bytes, progress, sink):
        if keep_comments:
            com_off.append(c.comment_offsets[1:] + total)
            com_parts.append(c.comment_bytes)
            total += c.comment_bytes.size
    n = sink.rows
    if group_file is not None:
        qids = assign_group_qids(path, group_file, n)
    else:
        qids = sink.q[:n]
        check_contiguous(path, qids, sink.lines[:n])
    with_comment = keep_comments and total > 0
    merged = ParsedChunk(sink.x[:n], sink.y[:n], qids, sink.lines[:n],
                         np.concatenate(com_off) if with_comment else np.zeros(n + 1, np.int64),
                         np.concatenate(com_parts) if with_comment else np.empty(0, np.uint8))
    return pa.Table.from_batches([chunk_to_batch(merged, sink.x.shape[1], qids, with_comment)])


def _iter_chunks_with_progress(path, group_file, n_features, on_error, chunk_bytes, progress, sink=None):
    bar = None
    cb = progress if callable(progress) else None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=os.path.getsize(path), unit="B", unit_scale=True, desc=f"parse {Path(path).name}")
        cb = bar.update
    try:
        yield from iter_parse(path, require_qid=group_file is None, n_features=n_features, on_error=on_error,
                              chunk_bytes=chunk_bytes, progress=cb, sink=sink)
    finally:
        if bar is not None:
            bar.close()


def assign_group_qids(path, group_file, n_rows: int) -> np.ndarray:
    """Query ids 0..G-1 from a group side file; raises if the sizes do not sum to the row count."""
    sizes = read_group_file(group_file)
    if int(sizes.sum()) != n_rows:
        raise LetorFormatError(group_file, None,
                               f"group sizes sum to {int(sizes.sum())} but {path} has {n_rows} data rows")
    return np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)


