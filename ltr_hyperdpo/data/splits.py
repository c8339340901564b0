"""The train / validation / test datasets of a run: read from their files, or a validation split carved by query from
the training file; what is fitted (objectives, normaliser) is fitted on the training part only."""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from .dataset import RankingDataset
from .store import storage_format
from .tables import load_table, table_columns


def query_rows(doc_qids: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The document rows of the given query positions (queries numbered in file order), in that order."""
    starts = np.flatnonzero(np.r_[True, doc_qids[1:] != doc_qids[:-1]])
    ends = np.r_[starts[1:], doc_qids.shape[0]]
    return np.concatenate([np.arange(starts[i], ends[i]) for i in queries]).astype(np.int64)


def holdout_rows(doc_qids: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(training rows, validation rows) with a seeded ``fraction`` of the queries (at least one) held out, each in
    file order; None when no training query would be left."""
    n_q = int(np.count_nonzero(np.r_[True, doc_qids[1:] != doc_qids[:-1]]))
    n_va = max(1, int(round(fraction * n_q)))
    if n_q - n_va < 1:
        return None
    perm = np.random.default_rng(seed).permutation(n_q)
    return query_rows(doc_qids, np.sort(perm[n_va:])), query_rows(doc_qids, np.sort(perm[:n_va]))


def load_splits(train: str | os.PathLike, vali: str | os.PathLike | None = None,
                test: str | os.PathLike | None = None, *, objectives: str | list | None = None, normalize: bool = True,
                vali_fraction: float = 0.15, seed: int = 0
                ) -> tuple[RankingDataset, RankingDataset, RankingDataset | None]:
    """(train, vali, test). Without ``vali``, a seeded ``vali_fraction`` of the training queries is held out first;
    objectives and normaliser are then fitted on the training queries only, and reused for vali and test."""
    table = load_table(train)
    name = str(train)
    if vali is not None:
        tr = RankingDataset.from_table(table, objectives=objectives, fit=True, normalize=normalize, name=name,
                                       labels_checked=storage_format(train) == "text")
        va = RankingDataset.load(vali, state=tr.state)
    else:
        q, _ = table_columns(table)
        held = holdout_rows(q, vali_fraction, seed)
        if held is None:
            n_q = int(np.count_nonzero(np.r_[True, q[1:] != q[:-1]]))
            raise DataError(f"{train}: too few queries ({n_q}) to hold out a validation split")
        tr_rows, va_rows = held
        tr = RankingDataset.from_table(table, objectives=objectives, fit=True, normalize=normalize,
                                       name=f"{name}[train]", labels_checked=storage_format(train) == "text",
                                       rows=tr_rows)
        va = RankingDataset.from_table(table, state=tr.state, name=f"{name}[vali]", labels_checked=True,
                                       rows=va_rows)
    te = RankingDataset.load(test, state=tr.state) if test is not None else None
    return tr, va, te


__all__ = ["holdout_rows", "load_splits", "query_rows"]
