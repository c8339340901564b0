"""Converted tables: their qid, label and feature columns, reading one (or parsing LETOR text on the fly), and the
checks every input passes before it becomes a dataset (labels, features, objective grades), each naming the row and
query it refuses."""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import DataError
from .features import FeatureSource
from .letor import parse_letor
from .limits import MAX_LABEL
from .objectives import ObjectiveSpec
from .store import open_table, storage_format
from .textio import check_input_path


def table_arrays(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(qids [docs] int64, labels [docs] float32, features [docs, features] float32) of a converted table (the
    features are one array: chunked tables are copied)."""
    q, y = table_columns(table)
    src = FeatureSource.from_table(table)
    x = src.chunks[0] if len(src.chunks) == 1 else np.concatenate(src.chunks)
    return q, y, x


def table_columns(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(qids [docs] int64, labels [docs] float32) of a converted table."""
    q = table.column("qid").to_numpy().astype(np.int64, copy=False)
    y = table.column("label").to_numpy().astype(np.float32, copy=False)
    return q, y


def load_table(path: str | os.PathLike, group_file: str | os.PathLike | None = None, **parse_kw: Any) -> pa.Table:
    """A converted Arrow/Parquet file (Arrow IPC memory-mapped), or LETOR text parsed on the fly."""
    path = check_input_path(path)
    if storage_format(path) != "text":
        return open_table(path)
    return parse_letor(path, group_file=group_file, **parse_kw)


def check_labels(labels: np.ndarray, doc_qids: np.ndarray, name: str) -> None:
    """Negative, non-finite or overflowing labels (above ``MAX_LABEL``) fail naming the row and query; non-integer
    labels warn once."""
    bad = np.flatnonzero(~np.isfinite(labels) | (labels < 0) | (labels > MAX_LABEL))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{name}: row {i + 1} (qid {int(doc_qids[i])}) has label {float(labels[i]):g}; relevance "
                        f"grades must be finite, >= 0 and <= {MAX_LABEL:g} (the NDCG gain 2^y - 1 overflows above)")
    frac = np.flatnonzero(labels != np.floor(labels))
    if frac.size:
        i = int(frac[0])
        warnings.warn(f"{name}: labels are not all integers (first at row {i + 1}: {float(labels[i]):g}); NDCG uses "
                      f"the gain 2^y - 1 of the value as given and counts labels >= 1 as relevant", stacklevel=3)


def check_features(blocks: Iterable[np.ndarray], doc_qids: np.ndarray, name: str, first_row: int = 0) -> None:
    """Non-finite feature values (NaN, inf: possible in Parquet/Arrow files and arrays, refused by the text reader)
    fail naming the row (counted from ``first_row``), query and feature, as text input does. ``doc_qids`` holds the
    qids of the blocks' rows."""
    start = 0
    for block in blocks:
        bad = ~np.isfinite(block)
        if bad.any():
            r, c = (int(v[0]) for v in np.nonzero(bad))
            i = start + r
            raise DataError(f"{name}: row {first_row + i + 1} (qid {int(doc_qids[i])}) has feature {c + 1} = "
                            f"{float(block[r, c])}; feature values must be finite")
        start += len(block)


def check_grades(y: np.ndarray, objectives: list[ObjectiveSpec], name: str) -> None:
    """Objective grades must be finite and >= 0 (an identity transform of a signed feature is not a grade)."""
    for k, o in enumerate(objectives):
        col = y[:, k]
        if not np.all(np.isfinite(col)) or col.min(initial=0.0) < 0:
            raise DataError(f"{name}: objective {o.name!r} gives negative or non-finite grades; use transform "
                            f"'quantile' (or lower_is_better) for a signed feature")
