"""What ``MultiObjectiveRanker`` makes of its inputs: ``X`` and ``Y`` checked (scikit-learn's checks, then NaN and
infinity refused naming the row, query and column), query ids from LightGBM-style ``group`` sizes or ``qid``, the
run's raw layout (features, then the auxiliary objectives as columns), and the training and validation datasets."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_array

from ..data.dataset import RankingDataset
from ..data.splits import holdout_rows
from ..errors import ConfigError, DataError


def check_finite(a: np.ndarray, q: np.ndarray, name: str, what: str) -> None:
    """Refuse NaN or infinity naming the first row, its query and the column (a ``DataError``, a ``ValueError``)."""
    bad = ~np.isfinite(a)
    if bad.any():
        r, *c = np.argwhere(bad)[0]
        col = f" has {what} {int(c[0]) + 1}" if c else f" has {what}"
        v = float(a[(r, *c)])
        raise DataError(f"{name}: row {int(r) + 1} (qid {q[r]}){col} = {'NaN' if np.isnan(v) else v}")


def check_features(X: Any, n_features: int | None = None, name: str = "X") -> np.ndarray:
    """``X`` as a dense float32 ``[rows, features]`` array (sparse matrices and arrays accepted, as LightGBM's
    ranker does); complex values, 1-D input and empty data are refused by scikit-learn's own checks, a width other
    than ``n_features`` in scikit-learn's words; NaN and infinity are refused later naming the row, query and
    feature (the dataset's own check)."""
    x = check_array(X, accept_sparse=["csr", "csc", "coo"], dtype=np.float32, input_name=name,
                    ensure_all_finite=False)
    if hasattr(x, "toarray"):
        x = x.toarray()
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"X has {x.shape[1]} features, but MultiObjectiveRanker is expecting {n_features} features "
                         f"as input.")
    return np.ascontiguousarray(x, dtype=np.float32)


def queries(n: int, group: Any = None, qid: Any = None) -> np.ndarray:
    """Per-row query ids from LightGBM-style ``group`` sizes or ``qid``; with neither, each row is its own query."""
    if group is not None and qid is not None:
        raise ConfigError("pass group or qid, not both")
    if group is not None:
        sizes = np.asarray(group, dtype=np.int64)
        if sizes.ndim != 1 or np.any(sizes <= 0) or int(sizes.sum()) != n:
            raise DataError(f"group sizes must be positive and sum to the {n} rows, got a sum of {int(sizes.sum())}")
        return np.repeat(np.arange(sizes.size), sizes)
    if qid is not None:
        q = np.asarray(qid)
        if q.shape != (n,):
            raise DataError(f"qid needs one value per row ({n}), got {q.shape}")
        return q
    return np.arange(n)


def raw_layout(x: Any, y: np.ndarray | None, k: int) -> np.ndarray:
    """Features with the auxiliary objectives appended as columns (zeros when scoring): the run's raw layout,
    ``[rows, features + k - 1]``."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"X must be [rows, features], got shape {x.shape}")
    extra = np.zeros((x.shape[0], k - 1), np.float32) if y is None else np.asarray(y, np.float32)[:, 1:]
    return np.concatenate([x, extra], axis=1)


def fit_datasets(raw: np.ndarray, y: np.ndarray, q: np.ndarray, objectives: list[dict], *, normalize: bool, seed: int,
                 vali_fraction: float, eval_set: list | None, eval_group: list | None,
                 eval_qid: list | None) -> tuple[RankingDataset, RankingDataset]:
    """(train, vali) for ``fit``: ``eval_set`` as the validation data, else a seeded ``vali_fraction`` of the queries
    held out first; the objectives and the normaliser are fitted on the training part only.

    Parameters
    ----------
    raw : numpy.ndarray
        ``[rows, features + K - 1]`` in the run's raw layout (:func:`raw_layout`).
    y : numpy.ndarray
        ``[rows, K]`` graded labels.
    q : numpy.ndarray
        ``[rows]`` query ids, contiguous.
    objectives : list of dict
        The objectives' specs (column 0 the label, the others raw columns).
    """
    k = y.shape[1]
    if eval_set:
        xv, yv = eval_set[0]
        yv = np.asarray(yv, np.float32)
        yv = yv[:, None] if yv.ndim == 1 else yv
        qv = queries(len(yv), eval_group[0] if eval_group else None, eval_qid[0] if eval_qid else None)
        tr = RankingDataset.from_arrays(raw, y[:, 0], q, objectives=objectives, normalize=normalize, name="X")
        va = RankingDataset.from_arrays(raw_layout(xv, yv, k), yv[:, 0], qv, state=tr.state, name="eval_set")
        return tr, va
    held = holdout_rows(q, vali_fraction, seed)
    if held is None:
        n_q = int(np.count_nonzero(np.r_[True, q[1:] != q[:-1]]))
        raise DataError(f"too few queries ({n_q}; with 1 sample, 1 query) to hold out a validation part; pass "
                        f"eval_set")
    tr_rows, va_rows = held
    tr = RankingDataset.from_arrays(raw[tr_rows], y[tr_rows, 0], q[tr_rows], objectives=objectives,
                                    normalize=normalize, name="X[train]")
    va = RankingDataset.from_arrays(raw[va_rows], y[va_rows, 0], q[va_rows], state=tr.state, name="X[vali]")
    return tr, va
