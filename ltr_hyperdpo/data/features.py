"""Raw feature rows and the model-input transform applied per batch.

A :class:`FeatureSource` holds raw features ``[rows, raw_features]`` float32 in one or more chunks: the buffers of
a memory-mapped Arrow IPC file (no copy: pages are read on demand and the kernel may drop them again), of a Parquet
table, or in-memory arrays. :class:`FeatureTransform` selects the input columns (objective columns dropped) and
applies the fitted normaliser, computed in float64 and stored as float32, for just the rows a batch needs; so a
dataset never holds a second, normalised copy of its features.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from ..utils.memory import release_mapped_pages
from .normalize import FeatureNormalizer

#: rows per block when one column is read from row-major data (its pages are released after each block)
COLUMN_READ_ROWS = 1 << 16


@njit(cache=True)
def _select_normalise(raw: np.ndarray, cols: np.ndarray, logc: np.ndarray, mean: np.ndarray, std: np.ndarray,
                      out: np.ndarray) -> None:
    for i in range(raw.shape[0]):
        for j in range(cols.shape[0]):
            v = np.float64(raw[i, cols[j]])
            if logc[j]:
                v = np.log1p(max(v, 0.0))
            out[i, j] = np.float32((v - mean[j]) / std[j])


class FeatureSource:
    """Raw feature rows over chunks ``[rows_c, raw_features]`` float32, addressed by global row number."""

    def __init__(self, chunks: list[np.ndarray]):
        chunks = [c for c in chunks if c.shape[0]] or chunks[:1]
        if not chunks:
            raise ValueError("a feature source needs at least one chunk")
        widths = {c.shape[1] for c in chunks}
        if len(widths) != 1:
            raise ValueError(f"feature chunks disagree on the width: {sorted(widths)}")
        self.chunks = chunks
        self.starts = np.cumsum([0] + [c.shape[0] for c in chunks]).astype(np.int64)
        self.width = widths.pop()

    @classmethod
    def from_table(cls, table: pa.Table) -> FeatureSource:
        """The ``features`` column of a converted table, chunk by chunk, without copying."""
        col = table.column("features")
        width = col.type.list_size
        chunks = [c.flatten().to_numpy(zero_copy_only=False).reshape(-1, width) for c in col.chunks]
        return cls(chunks or [np.zeros((0, width), np.float32)])

    @property
    def n_rows(self) -> int:
        return int(self.starts[-1])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Raw rows ``[len(rows), raw_features]`` float32, in the given order (a copy)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.chunks) == 1:
            return self.chunks[0][rows]
        out = np.empty((rows.shape[0], self.width), dtype=np.float32)
        cid = np.searchsorted(self.starts, rows, side="right") - 1
        for c in np.unique(cid):
            sel = cid == c
            out[sel] = self.chunks[c][rows[sel] - self.starts[c]]
        return out

    def column(self, j: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Raw column ``j`` (0-based) ``[rows]`` float32 (all rows when ``rows`` is None)."""
        parts = []
        for c in self.chunks:  # a strided read touches every page of a mapped file: in row blocks, released
            for s in range(0, c.shape[0], COLUMN_READ_ROWS):
                parts.append(c[s:s + COLUMN_READ_ROWS, j].copy())
                release_mapped_pages()
        full = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return full if rows is None else full[rows]

    def blocks(self, rows: np.ndarray | None = None, block: int = 65536) -> Iterator[np.ndarray]:
        """Raw rows in blocks of at most ``block`` rows (all rows in order, or the given ones)."""
        if rows is None:
            for c in self.chunks:
                for s in range(0, c.shape[0], block):
                    yield c[s:s + block]
            return
        for s in range(0, rows.shape[0], block):
            yield self.take(rows[s:s + block])


@dataclass
class FeatureTransform:
    """Model input from raw rows: the input columns (0-based) and the normaliser fitted on the training split."""

    columns: np.ndarray
    normalizer: FeatureNormalizer | None

    @property
    def n_features(self) -> int:
        return int(self.columns.shape[0])

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """``[rows, raw_features]`` -> ``[rows, input_features]`` float32 (a new array)."""
        if self.normalizer is None:
            return np.ascontiguousarray(raw[:, self.columns], dtype=np.float32)
        n = self.normalizer
        out = np.empty((raw.shape[0], self.columns.shape[0]), dtype=np.float32)
        _select_normalise(np.ascontiguousarray(raw, dtype=np.float32), self.columns,
                          np.asarray(n.log1p, dtype=np.bool_), np.asarray(n.mean, dtype=np.float64),
                          np.asarray(n.std, dtype=np.float64), out)
        return out
