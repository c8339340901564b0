"""Feature normalisation fitted on the training split: log1p for heavy-tailed non-negative columns, then standardise."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

SKEW_THRESHOLD = 3.0


@dataclass
class FeatureNormalizer:
    """Per-column ``(log1p?) -> (x - mean) / std``; ``log1p`` is chosen for columns with min >= 0 and skewness > 3."""

    log1p: list[bool] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None

    def fit(self, x: np.ndarray, chunk: int = 65536) -> FeatureNormalizer:
        """Fit on ``[docs, features]`` float32 (computed in float64, chunked to bound memory)."""
        return self.fit_blocks(lambda: (x[i:i + chunk] for i in range(0, x.shape[0], chunk)), x.shape[1])

    def fit_blocks(self, blocks: Callable[[], Iterable[np.ndarray]], n_features: int) -> FeatureNormalizer:
        """Fit from a re-iterable source of ``[rows, features]`` blocks (three passes: moments, skewness, the
        moments after ``log1p``), so the data never needs to be in memory at once."""
        f = n_features
        n = 0
        mn = np.full(f, np.inf)
        s1 = np.zeros(f)
        s2 = np.zeros(f)
        s3 = np.zeros(f)
        for blk in blocks():
            b = blk.astype(np.float64)
            if b.size:
                mn = np.minimum(mn, b.min(axis=0))
            n += b.shape[0]
            s1 += b.sum(0)
            s2 += (b * b).sum(0)
        mu = s1 / max(n, 1)
        var = np.maximum(s2 / max(n, 1) - mu * mu, 0)
        for blk in blocks():
            b = blk.astype(np.float64) - mu
            s3 += (b ** 3).sum(0)
        skew = s3 / max(n, 1) / np.maximum(var, 1e-24) ** 1.5
        logc = (mn >= 0) & (skew > SKEW_THRESHOLD)
        m = np.zeros(f)
        v = np.zeros(f)
        for blk in blocks():
            b = self._pre(blk.astype(np.float64), logc)
            m += b.sum(0)
            v += (b * b).sum(0)
        m /= max(n, 1)
        sd = np.sqrt(np.maximum(v / max(n, 1) - m * m, 0))
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
