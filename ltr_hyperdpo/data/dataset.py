"""Query-grouped ranking data over Arrow: documents contiguous by query, offsets, K objectives, model inputs."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import DataError
from .letor import LetorFormatError, check_contiguous, parse_letor
from .normalize import FeatureNormalizer
from .objectives import ObjectiveSpec, fit_objectives, input_columns, objectives_to_json, parse_objectives
from .store import open_table, read_metadata, storage_format
from .textio import check_input_path


def table_arrays(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(qids [docs] int64, labels [docs] float32, features [docs, features] float32) from a converted table."""
    feats = table.column("features")
    width = feats.type.list_size
    arr = feats.combine_chunks() if feats.num_chunks != 1 else feats.chunk(0)
    x = arr.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    q = table.column("qid").to_numpy()
    y = table.column("label").to_numpy().astype(np.float32, copy=False)
    return q, y, x


def load_table(path: str | os.PathLike, group_file: str | os.PathLike | None = None, **parse_kw: Any) -> pa.Table:
    """A converted Arrow/Parquet file, or LETOR text parsed on the fly (the group side file is found if present)."""
    path = check_input_path(path)
    if storage_format(path) != "text":
        return open_table(path)
    return parse_letor(path, group_file=group_file, **parse_kw)


def check_labels(labels: np.ndarray, doc_qids: np.ndarray, name: str) -> None:
    """Negative or non-finite labels fail naming the row and query; non-integer labels warn once."""
    bad = np.flatnonzero(~np.isfinite(labels) | (labels < 0))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{name}: row {i + 1} (qid {int(doc_qids[i])}) has label {float(labels[i]):g}; relevance "
                        f"grades must be finite and >= 0")
    frac = np.flatnonzero(labels != np.floor(labels))
    if frac.size:
        i = int(frac[0])
        warnings.warn(f"{name}: labels are not all integers (first at row {i + 1}: {float(labels[i]):g}); NDCG uses "
                      f"the gain 2^y - 1 of the value as given and counts labels >= 1 as relevant", stacklevel=3)


def check_grades(y: np.ndarray, objectives: list[ObjectiveSpec], name: str) -> None:
    """Objective grades must be finite and >= 0 (an identity transform of a signed feature is not a grade)."""
    for k, o in enumerate(objectives):
        col = y[:, k]
        if not np.all(np.isfinite(col)) or col.min(initial=0.0) < 0:
            raise DataError(f"{name}: objective {o.name!r} gives negative or non-finite grades; use transform "
                            f"'quantile' (or lower_is_better) for a signed feature")


@dataclass
class DatasetState:
    """What is fitted on the training split and reused for vali/test: objectives and the feature normaliser."""

    objectives: list[ObjectiveSpec]
    normalizer: FeatureNormalizer | None
    n_raw_features: int

    def to_dict(self) -> dict:
        return {"objectives": objectives_to_json(self.objectives),
                "normalizer": self.normalizer.to_dict() if self.normalizer else None,
                "n_raw_features": self.n_raw_features}

    @classmethod
    def from_dict(cls, d: dict) -> DatasetState:
        return cls(parse_objectives(d["objectives"]),
                   FeatureNormalizer.from_dict(d["normalizer"]) if d.get("normalizer") else None,
                   int(d["n_raw_features"]))


class RankingDataset:
    """Documents grouped by query.

    Attributes: ``x`` model input ``[docs, features]`` float32, ``y`` graded labels ``[docs, objectives]`` float32,
    ``qids`` ``[queries]``, ``offsets`` ``[queries + 1]`` (query i is rows ``offsets[i]:offsets[i+1]``),
    ``objective_names``, ``feature_ids`` (1-based ids of the input columns).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, doc_qids: np.ndarray, objective_names: list[str],
                 feature_ids: np.ndarray, state: DatasetState | None = None, name: str = "dataset"):
        if y.ndim == 1:
            y = y[:, None]
        if not (x.shape[0] == y.shape[0] == doc_qids.shape[0]):
            raise ValueError(f"{name}: x, y and qids disagree on the number of documents")
        if x.shape[0] == 0:
            raise ValueError(f"{name}: no documents")
        check_contiguous(name, doc_qids, np.arange(1, doc_qids.shape[0] + 1))
        starts = np.flatnonzero(np.r_[True, doc_qids[1:] != doc_qids[:-1]])
        self.x = x
        self.y = y.astype(np.float32, copy=False)
        self.offsets = np.r_[starts, doc_qids.shape[0]].astype(np.int64)
        self.qids = doc_qids[starts]
        self.objective_names = list(objective_names)
        self.feature_ids = np.asarray(feature_ids)
        self.state = state
        self.name = name

    # construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_table(cls, table: pa.Table, *, objectives=None, state: DatasetState | None = None, fit: bool = False,
                   normalize: bool = True, name: str = "dataset", labels_checked: bool = False) -> RankingDataset:
        """Build from a converted table; ``fit=True`` fits objectives and normaliser here (training split)."""
        q, lab, feats = table_arrays(table)
        if not labels_checked:  # the text parser has checked them already, naming lines
            check_labels(lab, q, name)
        meta = read_metadata(table.schema)
        if state is None:
            if objectives is None and meta.get("objectives"):
                objs = parse_objectives(meta["objectives"])
            else:
                objs = parse_objectives(objectives)
            if fit or not all(o.fitted for o in objs):
                if not fit:
                    raise ValueError(f"{name}: objectives need fitting on a training split (pass fit=True or a state)")
                objs = fit_objectives(objs, lab, feats)
            cols = input_columns(objs, feats.shape[1])
            normalizer = FeatureNormalizer().fit(feats[:, cols]) if (normalize and fit) else None
            state = DatasetState(objs, normalizer, feats.shape[1])
        if feats.shape[1] != state.n_raw_features:
            raise ValueError(f"{name}: has {feats.shape[1]} features, the fitted state expects {state.n_raw_features}")
        objs = state.objectives
        cols = input_columns(objs, feats.shape[1])
        y = np.stack([o.grades(lab, feats) for o in objs], axis=1)
        check_grades(y, objs, name)
        x = feats[:, cols] if cols.size != feats.shape[1] else feats
        x = state.normalizer.transform(x) if state.normalizer is not None else np.ascontiguousarray(x)
        return cls(x, y, q, [o.name for o in objs], cols + 1, state=state, name=name)

    @classmethod
    def load(cls, path: str | os.PathLike, *, group_file=None, objectives=None, state: DatasetState | None = None,
             fit: bool = False, normalize: bool = True) -> RankingDataset:
        """Load LETOR text or a converted file; see :meth:`from_table`."""
        table = load_table(path, group_file=group_file)
        return cls.from_table(table, objectives=objectives, state=state, fit=fit, normalize=normalize,
                              name=str(path), labels_checked=storage_format(path) == "text")

    # access --------------------------------------------------------------------------------------------------
    @property
    def n_queries(self) -> int:
        return int(self.qids.shape[0])

    @property
    def n_docs(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_objectives(self) -> int:
        return int(self.y.shape[1])

    @property
    def list_sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return self.n_queries

    def query(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(features ``[docs_i, features]``, labels ``[docs_i, objectives]``) of query i, as views (O(1))."""
        s, e = self.offsets[i], self.offsets[i + 1]
        return self.x[s:e], self.y[s:e]

    def subset(self, query_indices: np.ndarray, name: str | None = None) -> RankingDataset:
        """A new dataset holding the given queries (copied)."""
        query_indices = np.asarray(query_indices)
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in query_indices])
        dq = np.repeat(np.arange(query_indices.size), self.list_sizes[query_indices])
        ds = RankingDataset(self.x[rows], self.y[rows], dq, self.objective_names, self.feature_ids, self.state,
                            name or f"{self.name}[subset]")
        ds.qids = self.qids[query_indices]
        return ds

    def blank_queries(self, k: int = 0) -> int:
        """Number of queries with no relevant document (all grades <= 0) for objective k."""
        mx = np.maximum.reduceat(self.y[:, k], self.offsets[:-1])
        return int(np.count_nonzero(mx <= 0))

    def label_histogram(self, k: int = 0) -> dict[float, int]:
        """Count of documents per grade of objective k."""
        v, c = np.unique(self.y[:, k], return_counts=True)
        return {float(a): int(b) for a, b in zip(v, c, strict=True)}

    def summary(self) -> dict:
        """Sizes, list-length statistics, per-objective label histograms and blank-query counts."""
        ls = self.list_sizes
        return {
            "name": self.name, "queries": self.n_queries, "documents": self.n_docs, "features": self.n_features,
            "list_size": {"min": int(ls.min()), "median": float(np.median(ls)), "max": int(ls.max())},
            "objectives": {n: {"histogram": self.label_histogram(k), "blank_queries": self.blank_queries(k)}
                           for k, n in enumerate(self.objective_names)},
        }


def load_splits(train: str | os.PathLike, vali: str | os.PathLike | None = None,
                test: str | os.PathLike | None = None, *, objectives=None, normalize: bool = True,
                vali_fraction: float = 0.15, seed: int = 0
                ) -> tuple[RankingDataset, RankingDataset, RankingDataset | None]:
    """(train, vali, test): objectives and normaliser fitted on train; without ``vali``, a seeded ``vali_fraction``
    of the training queries is held out; ``test`` is optional."""
    tr = RankingDataset.load(train, objectives=objectives, fit=True, normalize=normalize)
    if vali is not None:
        va = RankingDataset.load(vali, state=tr.state)
    else:
        q = np.random.default_rng(seed).permutation(tr.n_queries)
        n_va = max(1, int(round(vali_fraction * tr.n_queries)))
        if tr.n_queries - n_va < 1:
            raise ValueError(f"{train}: too few queries to hold out a validation split")
        va = tr.subset(np.sort(q[:n_va]), name=f"{tr.name}[vali]")
        tr = tr.subset(np.sort(q[n_va:]), name=f"{tr.name}[train]")
    te = RankingDataset.load(test, state=tr.state) if test is not None else None
    return tr, va, te


__all__ = ["RankingDataset", "DatasetState", "load_splits", "load_table", "table_arrays", "LetorFormatError"]
