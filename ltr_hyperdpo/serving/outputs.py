"""Writing scores and judgements, streamed block by block and atomically.

* ``tsv``: ``qid  docno  score``, one row per input row, in input order (header line first).
* ``trec``: a TREC run, ``qid Q0 docno rank score tag``, each query sorted by score, ties broken by input position
  (earlier first) as the evaluation does.
* ``parquet``: columns ``row`` (input row), ``qid``, ``docno``, ``score``, in input order.
* qrels: ``qid 0 docno grade`` per objective (the graded labels the run evaluates, quantile grades included).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..data.state import DatasetState
from ..utils.io import atomic_path, output_dir
from .blocks import QueryBlock

FORMATS = ("tsv", "trec", "parquet")


def ranked(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score, ties by ascending position (the evaluation's tie-break)."""
    return np.argsort(-scores, kind="stable")


def _query_ranges(qids: np.ndarray) -> Iterator[tuple[int, int]]:
    starts = np.flatnonzero(np.r_[True, qids[1:] != qids[:-1]])
    ends = np.r_[starts[1:], len(qids)]
    yield from zip(starts.tolist(), ends.tolist(), strict=True)


def write_scores(path: str | os.PathLike, scored: Iterable[tuple[QueryBlock, np.ndarray]], fmt: str = "tsv",
                 tag: str = "ltr_hyperdpo") -> dict:
    """Write (block, scores) pairs to ``path`` in ``fmt``; returns counts. Nothing is left on failure."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    n_rows = n_queries = 0
    with atomic_path(path) as tmp, ExitStack() as stack:
        writer: pq.ParquetWriter | None = None
        fh: IO[str] | None = None
        if fmt != "parquet":
            fh = stack.enter_context(open(tmp, "w", encoding="utf-8"))
            if fmt == "tsv":
                fh.write("qid\tdocno\tscore\n")
        for block, scores in scored:
            if fmt == "parquet":
                t = pa.table({"row": pa.array(np.arange(block.first_row, block.first_row + len(block)), pa.int64()),
                              "qid": pa.array(block.qids, pa.int64()), "docno": pa.array(block.docnos, pa.string()),
                              "score": pa.array(scores, pa.float64())})
                if writer is None:
                    writer = stack.enter_context(pq.ParquetWriter(tmp, t.schema, compression="zstd"))
                writer.write_table(t)
            elif fmt == "tsv":
                assert fh is not None
                fh.write("".join(f"{q}\t{d}\t{s!r}\n" for q, d, s in
                                 zip(block.qids.tolist(), block.docnos, scores.tolist(), strict=True)))
            else:
                assert fh is not None
                lines = []
                for s, e in _query_ranges(block.qids):
                    q = int(block.qids[s])
                    for rank, i in enumerate(ranked(scores[s:e]), 1):
                        lines.append(f"{q} Q0 {block.docnos[s + i]} {rank} {float(scores[s + i])!r} {tag}\n")
                fh.write("".join(lines))
            n_rows += len(block)
            n_queries += sum(1 for _ in _query_ranges(block.qids))
        if fmt == "parquet" and writer is None:  # no rows: still a valid, empty file
            pq.write_table(pa.table({"row": pa.array([], pa.int64()), "qid": pa.array([], pa.int64()),
                                     "docno": pa.array([], pa.string()), "score": pa.array([], pa.float64())}), tmp)
    return {"output": str(path), "format": fmt, "rows": n_rows, "queries": n_queries}


def write_qrels(out_dir: str | os.PathLike, blocks: Iterable[QueryBlock], state: DatasetState) -> dict:
    """One TREC qrels file per objective, ``OUT/qrels.<objective>.txt``, graded as the run grades it."""
    out = output_dir(out_dir)
    names = [o.name for o in state.objectives]
    paths = {n: out / f"qrels.{n}.txt" for n in names}
    rows = 0
    with ExitStack() as stack:
        tmps = {n: stack.enter_context(atomic_path(p)) for n, p in paths.items()}
        handles = {n: stack.enter_context(open(t, "w", encoding="utf-8")) for n, t in tmps.items()}
        for block in blocks:
            for o in state.objectives:
                col = block.raw[:, o.column] if o.source == "feature" else None
                g = o.grade_raw(o.raw_from(block.labels, col))
                handles[o.name].write("".join(f"{q} 0 {d} {v:g}\n" for q, d, v in
                                              zip(block.qids.tolist(), block.docnos, g.tolist(), strict=True)))
            rows += len(block)
        for h in handles.values():
            h.close()
    return {"output_dir": str(out), "rows": rows, "files": {n: str(p) for n, p in paths.items()}}
