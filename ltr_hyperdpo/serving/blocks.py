"""Query-aligned blocks of raw documents from any input, read in bounded memory.

An input is a LETOR / LightGBM-layout text file (labels optional, see :func:`docno_of`), a converted Parquet or
Arrow IPC file, a :class:`~ltr_hyperdpo.data.RankingDataset`, or arrays (raw features ``X [n, F]`` in the training
files' feature-id order, query ids ``qid [n]``). Blocks hold whole queries only (a query cut by a chunk boundary waits
for the next chunk), so a file larger than memory is scored block by block.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..data.dataset import RankingDataset
from ..data.letor import ParsedChunk, ParseStats, iter_parse
from ..data.store import check_schema, storage_format
from ..data.tables import check_features
from ..data.textio import check_input_path, read_group_file, resolve_group_file
from ..errors import DataError

#: documents per block (whole queries are kept together, so a block can be larger)
BLOCK_ROWS = 65536
_DOCID = re.compile(r"docid\s*=\s*(\S+)")


@dataclass
class QueryBlock:
    """Whole queries: raw features ``[rows, raw_features]``, qids, labels, docnos, and the first input row."""

    raw: np.ndarray
    qids: np.ndarray
    labels: np.ndarray
    docnos: list[str]
    first_row: int

    def __len__(self) -> int:
        return int(self.qids.shape[0])


def docno_of(comment: str | None, qid: int, position: int) -> str:
    """A document's id: ``docid=...`` from its ``# comment`` when there is one, else ``<qid>_<position>`` (the
    0-based position of the document in its query, in input order)."""
    if comment:
        m = _DOCID.search(comment)
        if m:
            return m.group(1)
    return f"{qid}_{position}"


def _docnos(qids: np.ndarray, comments: list[str | None] | None, start_pos: dict[int, int]) -> list[str]:
    out = []
    for i, q in enumerate(qids.tolist()):
        pos = start_pos.get(q, 0)
        start_pos[q] = pos + 1
        out.append(docno_of(comments[i] if comments is not None else None, q, pos))
    return out


def _comments(ch: ParsedChunk) -> list[str | None] | None:
    if ch.comment_bytes.size == 0:
        return None
    raw, offs = ch.comment_bytes.tobytes(), ch.comment_offsets
    return [raw[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(len(ch.labels))]


class _Assembler:
    """Collects rows and releases blocks of whole queries; checks that queries are contiguous."""

    def __init__(self, where: str, block_rows: int):
        self.where = where
        self.block_rows = block_rows
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]] = []
        self.rows = 0
        self.emitted = 0
        self.done: set[int] = set()
        self.current: int | None = None
        self.positions: dict[int, int] = {}

    def add(self, raw: np.ndarray, qids: np.ndarray, labels: np.ndarray,
            comments: list[str | None] | None) -> Iterator[QueryBlock]:
        for q in qids[np.flatnonzero(np.r_[True, qids[1:] != qids[:-1]])].tolist():
            if q == self.current:
                continue
            if q in self.done:
                raise DataError(f"{self.where}: query lines are not contiguous: qid {q} appears again after other "
                                f"queries")
            if self.current is not None:
                self.done.add(self.current)
            self.current = q
        self.parts.append((raw, qids, labels, _docnos(qids, comments, self.positions)))
        self.rows += len(qids)
        if self.rows >= self.block_rows:
            yield from self._release(keep_last=True)

    def _release(self, keep_last: bool) -> Iterator[QueryBlock]:
        raw = np.concatenate([p[0] for p in self.parts])
        q = np.concatenate([p[1] for p in self.parts])
        y = np.concatenate([p[2] for p in self.parts])
        names = [d for p in self.parts for d in p[3]]
        cut = len(q)
        if keep_last:  # the last query may continue in the next chunk
            cut = int(np.flatnonzero(np.r_[True, q[1:] != q[:-1]])[-1])
        if cut > 0:
            yield QueryBlock(raw[:cut], q[:cut], y[:cut], names[:cut], self.emitted)
            self.emitted += cut
        self.parts = [(raw[cut:], q[cut:], y[cut:], names[cut:])] if cut < len(q) else []
        self.rows = len(q) - cut

    def finish(self) -> Iterator[QueryBlock]:
        if self.parts:
            yield from self._release(keep_last=False)


def _text_blocks(path: Path, n_raw: int, group_file: str | os.PathLike | None, block_rows: int,
                 labeled: bool) -> Iterator[QueryBlock]:
    group = resolve_group_file(path, group_file)
    sizes = read_group_file(group) if group is not None else None
    asm = _Assembler(str(path), block_rows)
    stats = ParseStats()
    row = 0
    for ch in iter_parse(path, require_qid=group is None, n_features=n_raw, scan=True, stats=stats,
                         unlabeled=not labeled):
        if stats.width > n_raw:
            raise DataError(f"{path}: has feature index {stats.width} but the run was trained on {n_raw} raw features")
        qids = ch.qids
        if sizes is not None:
            qids = np.searchsorted(np.cumsum(sizes), np.arange(row, row + len(ch.labels)), side="right")
            if row + len(ch.labels) > int(sizes.sum()):
                raise DataError(f"{group}: group sizes sum to {int(sizes.sum())} but {path} has more data rows")
        row += len(ch.labels)
        yield from asm.add(ch.features, qids.astype(np.int64), ch.labels, _comments(ch))
    if sizes is not None and row != int(sizes.sum()):
        raise DataError(f"{group}: group sizes sum to {int(sizes.sum())} but {path} has {row} data rows")
    if row == 0:
        raise DataError(f"{path}: no data lines")
    stats.warn(path)
    yield from asm.finish()


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    try:
        if storage_format(path) == "parquet":
            pf = pq.ParquetFile(path)
            check_schema(pf.schema_arrow, path)
            yield from pf.iter_batches(batch_size=BLOCK_ROWS)
            return
        with pa.memory_map(str(path), "r") as src:
            reader = pa.ipc.open_file(src)
            check_schema(reader.schema, path)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
    except (pa.ArrowInvalid, pa.ArrowIOError) as e:
        raise DataError(f"{path}: not a readable Parquet or Arrow IPC file ({' '.join(str(e).split())[:200]})") \
            from None


def _table_blocks(path: Path, n_raw: int, block_rows: int) -> Iterator[QueryBlock]:
    asm = _Assembler(str(path), block_rows)
    for b in _batches(path):
        feats = b.column("features")
        if feats.type.list_size != n_raw:
            raise DataError(f"{path}: has {feats.type.list_size} features but the run was trained on {n_raw}")
        raw = feats.flatten().to_numpy(zero_copy_only=False).reshape(-1, n_raw)
        com = b.column("comment").to_pylist() if "comment" in b.schema.names else None
        yield from asm.add(raw, b.column("qid").to_numpy().astype(np.int64),
                           b.column("label").to_numpy().astype(np.float32), com)
    yield from asm.finish()


def _array_blocks(x: np.ndarray, qid: np.ndarray, n_raw: int, block_rows: int) -> Iterator[QueryBlock]:
    """Arrays may list a query's documents anywhere: rows are grouped by query (first appearance order) and the
    block's ``first_row`` is not used; :func:`input_order` maps back."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != n_raw:
        raise DataError(f"X must be [rows, {n_raw}] raw features (the training files' feature order), got "
                        f"{tuple(x.shape)}")
    q = np.asarray(qid)
    if q.shape != (x.shape[0],):
        raise DataError(f"qid must have one value per row of X ({x.shape[0]}), got {tuple(q.shape)}")
    order = input_order(q)
    asm = _Assembler("arrays", block_rows)
    _, codes = np.unique(q[order], return_inverse=True)
    labels = np.zeros(x.shape[0], dtype=np.float32)
    for s in range(0, len(order), block_rows):
        idx = order[s:s + block_rows]
        yield from asm.add(x[idx], codes[s:s + block_rows].astype(np.int64), labels[idx], None)
    yield from asm.finish()


def input_order(qid: np.ndarray) -> np.ndarray:
    """Row order that makes queries contiguous (queries by first appearance, rows stable within a query)."""
    _, first, inverse = np.unique(np.asarray(qid), return_index=True, return_inverse=True)
    return np.lexsort((np.arange(len(inverse)), first[inverse]))


def iter_blocks(data: Any, n_raw_features: int, *, qid: np.ndarray | None = None,
                group_file: str | os.PathLike | None = None, block_rows: int = BLOCK_ROWS,
                labeled: bool = False) -> Iterator[QueryBlock]:
    """Blocks of whole queries from a file path, a RankingDataset, or raw features ``data`` with ``qid``.

    Text lines may omit their label (the first token is ``qid:Q`` or ``index:value``; it reads as 0) unless
    ``labeled`` (judgements need real labels)."""
    if isinstance(data, RankingDataset):
        docs = np.arange(data.n_docs)
        for s in range(0, data.n_docs, block_rows):
            e = min(data.n_docs, s + block_rows)
            e = int(data.offsets[np.searchsorted(data.offsets, e, side="left")])  # whole queries
            if e <= s:
                continue
            idx = docs[s:e]
            pos = idx - data.offsets[np.searchsorted(data.offsets, idx, side="right") - 1]
            yield QueryBlock(data.source.take(data.raw_rows(idx)), data.doc_qids[idx], data.labels[idx],
                             [f"{q}_{p}" for q, p in zip(data.doc_qids[idx].tolist(), pos.tolist(), strict=True)], s)
        return
    if qid is not None:
        arr = np.asarray(data, dtype=np.float32)
        if arr.ndim == 2 and np.asarray(qid).shape == (arr.shape[0],):  # rows named in the caller's order
            check_features([arr], np.asarray(qid), "arrays")
        yield from _array_blocks(data, qid, n_raw_features, block_rows)
        return
    if isinstance(data, np.ndarray):
        raise DataError("scoring arrays needs their query ids: pass qid=[one per row]")
    path = check_input_path(data)
    if storage_format(path) == "text":  # the text reader refuses non-finite values itself, naming the line
        yield from _text_blocks(path, n_raw_features, group_file, block_rows, labeled)
    else:
        for block in _table_blocks(path, n_raw_features, block_rows):
            check_features([block.raw], block.qids, str(path), first_row=block.first_row)
            yield block
