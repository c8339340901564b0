"""Paired bootstrap intervals of hypervolume ratios: over queries, and over seeds when there are several.

A front's figure is a mean over test queries, so its uncertainty has two sources: which queries the test set holds
and which seed trained the model. :func:`paired_hv_ratio` resamples both, hierarchically. A replicate draws the seeds
with replacement; within each drawn seed it draws that seed's test queries with replacement, the same draw for both
methods (paired). It then averages the two fronts' hypervolume ratios over the drawn seeds. The 95 % interval is the
replicates' 2.5 and 97.5 percentiles (the percentile bootstrap).

NDCG means follow the ``skip`` blank-query policy: a query with no relevant document for an objective does not count
for that objective.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pareto import hypervolume


@dataclass(frozen=True)
class FrontSample:
    """One trained model's per-query NDCG on a grid: ``values [weights, objectives, queries]`` and
    ``blank [objectives, queries]`` (True = no relevant document)."""

    values: np.ndarray
    blank: np.ndarray

    def means(self, counts: np.ndarray) -> np.ndarray:
        """NDCG means ``[replicates, weights, objectives]`` of the resampled test sets ``counts [replicates,
        queries]`` (how often each query is drawn)."""
        use = (~self.blank).astype(np.float64)  # [K, Q]
        num = np.einsum("wkq,kq,bq->bwk", self.values, use, counts.astype(np.float64))
        den = np.einsum("kq,bq->bk", use, counts.astype(np.float64))[:, None, :]
        return num / np.maximum(den, 1.0)


def hypervolumes(points: np.ndarray, ref_point: float | list | None = None) -> np.ndarray:
    """Hypervolume of each replicate's front ``points [replicates, weights, objectives]``."""
    return np.array([hypervolume(p, ref_point) for p in points])


@dataclass(frozen=True)
class RatioInterval:
    """A paired ratio's point estimate (the mean over seeds of the full test sets' ratios) and its 95 % interval."""

    mean: float
    low: float
    high: float

    def verdict(self, bar: float, lower_bar: float | None = None) -> str:
        """``met`` when the estimate reaches ``bar`` and the lower bound reaches ``lower_bar`` (default ``bar``),
        ``missed`` when the whole interval lies below ``lower_bar``, else ``tie`` (the interval spans the bar)."""
        floor = bar if lower_bar is None else lower_bar
        if self.mean >= bar and self.low >= floor:
            return "met"
        if self.high < floor:
            return "missed"
        return "tie"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "ci95": [self.low, self.high]}


def paired_hv_ratio(a: list[FrontSample], b: list[FrontSample], *, ref_point: float | list | None = None,
                    n_boot: int = 1000, seed: int = 0, difference: bool = False) -> RatioInterval:
    """HV(a) / HV(b) (with ``difference``: HV(a) − HV(b)) with a hierarchical paired bootstrap over seeds and test
    queries; ``a[s]`` and ``b[s]`` are the two methods' fronts of seed ``s`` on the same test queries."""

    def stat(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray | float:
        return x - y if difference else x / np.maximum(y, 1e-300)

    if len(a) != len(b) or not a:
        raise ValueError("need the same, non-zero number of seeds for both methods")
    full = [float(stat(hypervolume(x.values.mean(axis=2, where=~x.blank[None]), ref_point),
                       hypervolume(y.values.mean(axis=2, where=~y.blank[None]), ref_point))) for x, y in zip(a, b,
                                                                                                             strict=True)]
    rng = np.random.default_rng(seed)
    n_seeds = len(a)
    picks = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    ratios = np.zeros(n_boot)
    for j in range(n_seeds):  # each drawn seed gets its own, independent draw of queries
        for s in range(n_seeds):
            rows = np.flatnonzero(picks[:, j] == s)
            if rows.size == 0:
                continue
            q = a[s].values.shape[2]
            if b[s].values.shape[2] != q:
                raise ValueError(f"seed {s}: the two fronts were measured on different test sets")
            counts = np.zeros((rows.size, q))
            np.add.at(counts, (np.arange(rows.size)[:, None], rng.integers(0, q, size=(rows.size, q))), 1.0)
            ratios[rows] += stat(hypervolumes(a[s].means(counts), ref_point),
                                 hypervolumes(b[s].means(counts), ref_point))
    ratios /= n_seeds
    low, high = np.percentile(ratios, [2.5, 97.5])
    return RatioInterval(float(np.mean(full)), float(low), float(high))


__all__ = ["FrontSample", "RatioInterval", "paired_hv_ratio", "hypervolumes"]
