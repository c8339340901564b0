"""`convert`: LETOR/SVMlight text to Parquet or Arrow IPC, streaming, atomic, with optional fitted objectives."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from .letor import (DEFAULT_CHUNK_BYTES, _iter_chunks_with_progress, assign_group_qids, check_contiguous,
                    chunk_to_batch, find_group_file)
from .objectives import ObjectiveSpec, fit_objectives, objectives_to_json, parse_objectives
from .store import open_table, read_metadata, write_batches


def objectives_from_file(path: str | os.PathLike) -> list[ObjectiveSpec]:
    """The fitted objectives stored in a converted (training) file, to convert vali/test with the same bins."""
    meta = read_metadata(open_table(path).schema)
    if not meta.get("objectives"):
        raise ValueError(f"{path}: holds no fitted objectives (convert the training split with --objectives)")
    return parse_objectives(meta["objectives"])


def convert(input_path: str | os.PathLike, output_path: str | os.PathLike, *, group_file=None,
            objectives: str | list | None = None, objectives_from: str | os.PathLike | None = None,
            fmt: str | None = None, n_features: int | None = None, on_error: str = "raise",
            chunk_bytes: int = DEFAULT_CHUNK_BYTES, progress: bool = False, keep_comments: bool = True) -> dict:
    """Convert one text file; returns a summary dict. Nothing is written if parsing fails.

    With ``objectives`` (preset/spec) the objectives are fitted on this file (use it for the training split); with
    ``objectives_from`` the fitted objectives of an already converted training file are reused.
    An ``objectives`` column (fixed-size list of float32, one grade per objective) is then added.
    """
    input_path = Path(input_path)
    if group_file is None and not _has_qid(input_path):
        group_file = find_group_file(input_path)
    chunks = list(_iter_chunks_with_progress(input_path, group_file, n_features, on_error, chunk_bytes, progress))
    width = max([c.features.shape[1] for c in chunks] + [int(n_features or 0)])
    n_rows = sum(c.labels.shape[0] for c in chunks)
    if group_file is not None:
        all_q = assign_group_qids(input_path, group_file, n_rows)
    else:
        all_q = np.concatenate([c.qids for c in chunks])
        check_contiguous(input_path, all_q, np.concatenate([c.lines for c in chunks]))
    objs = None
    if objectives_from is not None:
        objs = objectives_from_file(objectives_from)
    elif objectives is not None:
        objs = parse_objectives(objectives)
        need = sorted({o.feature for o in objs if o.source == "feature"})
        for f in need:
            if f > width:
                raise ValueError(f"{input_path}: objective feature {f} exceeds the file's {width} features")
        # Fit on just the needed columns so the full matrix is never concatenated.
        lab = np.concatenate([c.labels for c in chunks])
        sub = np.zeros((n_rows, 0), dtype=np.float32)  # label-only objectives read no feature column
        if need:
            cols = np.zeros((n_rows, max(need)), dtype=np.float32)
            r = 0
            for c in chunks:
                m = c.labels.shape[0]
                w = min(c.features.shape[1], max(need))
                cols[r:r + m, :w] = c.features[:, :w]
                r += m
            sub = cols
        objs = fit_objectives(objs, lab, sub)
    with_comment = keep_comments and any(c.comment_bytes.size for c in chunks)

    def batches():
        start = 0
        for c in chunks:
            m = c.labels.shape[0]
            b = chunk_to_batch(c, width, all_q[start:start + m], with_comment)
            start += m
            if objs is not None:
                feats = c.features
                if feats.shape[1] < width:
                    feats = np.pad(feats, ((0, 0), (0, width - feats.shape[1])))
                g = np.stack([o.grades(c.labels, feats) for o in objs], axis=1).astype(np.float32)
                b = b.append_column("objectives", pa.FixedSizeListArray.from_arrays(pa.array(g.reshape(-1)), len(objs)))
            yield b

    gen = batches()
    first = next(gen)  # its schema is the file's; it is written first, not rebuilt
    meta = {"version": 1, "source": str(input_path), "n_features": width,
            "group_file": str(group_file) if group_file else None,
            "objectives": objectives_to_json(objs) if objs is not None else None}
    write_batches(output_path, first.schema, itertools.chain([first], gen), fmt=fmt, meta=meta)
    n_q = int(np.count_nonzero(np.r_[True, all_q[1:] != all_q[:-1]]))
    return {"input": str(input_path), "output": str(output_path), "rows": n_rows, "queries": n_q,
            "features": width, "objectives": [o.name for o in objs] if objs else None}


def _has_qid(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    return b"qid:" in head
