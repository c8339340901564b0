"""Feature normalisation fitted on the training split: log1p for heavy-tailed non-negative columns, then standardise."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
from numba import njit, prange

from ..utils.memory import release_mapped_pages

SKEW_THRESHOLD = 3.0
#: rows of the fit's accumulator: minimum, shifted sums of d, d², d³, sums of log1p(x), log1p(x)²
_MIN, _S1, _S2, _S3, _L1, _L2 = range(6)
_ACC_ROWS = 6


@njit(cache=True, parallel=True)
def _accumulate(b: np.ndarray, cols: np.ndarray, shift: np.ndarray, acc: np.ndarray) -> None:
    n_parts = min(b.shape[0], 64)
    part = np.zeros((n_parts, _ACC_ROWS, cols.shape[0]))
    part[:, 0, :] = np.inf
    for t in prange(n_parts):  # row ranges in parallel, each with its own accumulator
        lo = t * b.shape[0] // n_parts
        hi = (t + 1) * b.shape[0] // n_parts
        a = part[t]
        for i in range(lo, hi):
            for j in range(cols.shape[0]):
                v = np.float64(b[i, cols[j]])
                if v < a[0, j]:
                    a[0, j] = v
                d = v - shift[j]
                a[1, j] += d
                a[2, j] += d * d
                a[3, j] += d * d * d
                if v >= 0.0:  # log1p moments matter only for columns that are never negative
                    lv = np.log1p(v)
                    a[4, j] += lv
                    a[5, j] += lv * lv
    for t in range(n_parts):  # in a fixed order: the sums do not depend on the thread count
        for j in range(cols.shape[0]):
            acc[0, j] = min(acc[0, j], part[t, 0, j])
            for r in range(1, _ACC_ROWS):
                acc[r, j] += part[t, r, j]


@dataclass
class FeatureNormalizer:
    """Per-column ``(log1p?) -> (x - mean) / std``; ``log1p`` is chosen for columns with min >= 0 and skewness > 3."""

    log1p: list[bool] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None

    def fit(self, x: np.ndarray, chunk: int = 65536) -> FeatureNormalizer:
        """Fit on ``[docs, features]`` float32 (computed in float64, chunked to bound memory)."""
        return self.fit_blocks(lambda: (x[i:i + chunk] for i in range(0, x.shape[0], chunk)), x.shape[1])

    def fit_blocks(self, blocks: Callable[[], Iterable[np.ndarray]], n_features: int,
                   columns: np.ndarray | None = None) -> FeatureNormalizer:
        """Fit from ``[rows, raw]`` blocks in one streamed pass (only ``columns`` of each block, default all
        ``n_features``): per column the minimum, the moments about a shift (mean, variance, skewness) and the
        moments of ``log1p(x)``, all accumulated in float64 by a compiled kernel without copying the blocks."""
        cols = np.arange(n_features, dtype=np.int64) if columns is None else np.asarray(columns, dtype=np.int64)
        f = cols.shape[0]
        acc = np.zeros((_ACC_ROWS, f))
        acc[_MIN] = np.inf
        shift: np.ndarray | None = None
        n = 0
        for blk in blocks():
            b = np.ascontiguousarray(blk, dtype=np.float32)
            if not b.shape[0]:
                continue
            if shift is None:  # moments about the first block's means: the one-pass sums stay accurate
                shift = b[:, cols].astype(np.float64).mean(0)
            _accumulate(b, cols, shift, acc)
            n += b.shape[0]
            release_mapped_pages()  # a pass over a mapped file keeps only the block it reads
        if shift is None:
            shift = np.zeros(f)
        nn = max(n, 1)
        d1, d2, d3 = acc[_S1] / nn, acc[_S2] / nn, acc[_S3] / nn
        var = np.maximum(d2 - d1 * d1, 0)
        m3 = d3 - 3 * d1 * d2 + 2 * d1 ** 3
        skew = m3 / np.maximum(var, 1e-24) ** 1.5
        logc = (acc[_MIN] >= 0) & (skew > SKEW_THRESHOLD)
        lm = acc[_L1] / nn
        lsd = np.sqrt(np.maximum(acc[_L2] / nn - lm * lm, 0))
        m = np.where(logc, lm, shift + d1)
        sd = np.where(logc, lsd, np.sqrt(var))
        sd[sd < 1e-12] = 1.0
        self.log1p, self.mean, self.std = logc.tolist(), m.tolist(), sd.tolist()
        return self

    @staticmethod
    def _pre(b: np.ndarray, logc: np.ndarray) -> np.ndarray:
        if logc.any():
            b[:, logc] = np.log1p(np.maximum(b[:, logc], 0))
        return b

    def transform(self, x: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """Normalised float32 copy of ``[docs, features]``."""
        if self.mean is None:
            raise RuntimeError("FeatureNormalizer is not fitted")
        if x.shape[1] != len(self.mean):
            raise ValueError(f"normaliser was fitted on {len(self.mean)} features, got {x.shape[1]}")
        logc = np.asarray(self.log1p, dtype=bool)
        mu = np.asarray(self.mean)
        sd = np.asarray(self.std)
        out = np.empty(x.shape, dtype=np.float32)
        for i in range(0, x.shape[0], chunk):
            b = self._pre(x[i:i + chunk].astype(np.float64), logc)
            out[i:i + chunk] = (b - mu) / sd
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FeatureNormalizer:
        return cls(**d)
