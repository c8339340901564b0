"""Input columns that are near-copies of an objective: a model can then "learn" the objective by reading it.

In MSLR, feature 135 (url clicks) has Spearman 0.987 with objective 136 (url dwell time) on Fold1 training data;
with 135 left in the input, ranking by raw f135 alone gives NDCG@10 0.763 on that objective. ``train`` and ``inspect``
warn about every kept input column with |Spearman| above the threshold, on (a sample of) the training documents.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils.memory import release_mapped_pages
from .dataset import RankingDataset

THRESHOLD = 0.95


#: sampled rows copied per block (the mapped pages they touched are released after each)
SAMPLE_READ_ROWS = 8192


@dataclass
class NearCopy:
    """A kept input column (1-based id) and the objective it nearly copies."""

    feature: int
    objective: str
    spearman: float

    def message(self) -> str:
        return (f"input feature {self.feature} is a near-copy of objective {self.objective!r} (Spearman "
                f"{self.spearman:+.3f} on the training data): drop it from the input (drop_features, or a strict "
                f"preset such as mslr5_strict) unless that is intended")


#: input columns ranked at a time
COLUMN_BLOCK = 16


def rankdata(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Average ranks (1-based; ties share the mean of their ranks) along ``axis`` (the flattened 1-d array when
    ``None``), as ``scipy.stats.rankdata(method='average')`` computes them, without importing scipy.stats."""
    if axis is None:
        return _average_ranks(np.ravel(a))
    return np.apply_along_axis(_average_ranks, axis, a)


def _average_ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    sv = v[order]
    new = np.r_[True, sv[1:] != sv[:-1]]  # the start of every group of equal values
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(v)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    out = np.empty(len(v), dtype=np.float64)
    out[order] = mean_rank[group]
    return out


def near_copies(ds: RankingDataset, threshold: float = THRESHOLD, sample: int = 100_000,
                seed: int = 0) -> list[NearCopy]:
    """Kept input columns whose |Spearman| with an objective's raw values exceeds ``threshold``."""
    n = ds.n_docs
    docs = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False)) if n > sample else np.arange(n)
    raw_rows = ds.raw_rows(docs)
    labels = ds.labels[docs]
    centred = []  # the objectives' centred ranks and norms
    for o in ds.state.objectives:
        v = o.raw_from(labels, ds.source.column(o.column, raw_rows) if o.source == "feature" else None)
        vr = rankdata(v)
        vr -= vr.mean()
        vs = np.sqrt((vr * vr).sum())
        if vs > 0:
            centred.append((o.name, vr, vs))
    found = []
    columns = np.asarray(ds.transform.columns)
    x = np.empty((raw_rows.shape[0], ds.source.width), dtype=np.float32)
    for s in range(0, raw_rows.shape[0], SAMPLE_READ_ROWS):  # a sample spread over a mapped file: read in blocks
        x[s:s + SAMPLE_READ_ROWS] = ds.source.take(raw_rows[s:s + SAMPLE_READ_ROWS])
        release_mapped_pages()
    for c0 in range(0, columns.size, COLUMN_BLOCK):  # blocks of columns: memory stays small on wide data
        block = columns[c0:c0 + COLUMN_BLOCK]
        xr = rankdata(x[:, block].astype(np.float64), axis=0)
        xr -= xr.mean(0)
        xs = np.sqrt((xr * xr).sum(0))
        for name, vr, vs in centred:
            with np.errstate(invalid="ignore", divide="ignore"):
                rho = (vr @ xr) / (xs * vs)
            for j in np.flatnonzero(np.abs(np.nan_to_num(rho)) > threshold):
                found.append(NearCopy(int(ds.feature_ids[c0 + j]), name, float(rho[j])))
    return sorted(found, key=lambda c: -abs(c.spearman))
