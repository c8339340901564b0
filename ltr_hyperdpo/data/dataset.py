"""Query-grouped ranking data: documents contiguous by query, K graded objectives, model inputs built per batch.

A :class:`RankingDataset` keeps the raw features where they are (a memory-mapped Arrow IPC file, a Parquet table,
an array) and builds model inputs only for the rows asked for (:meth:`RankingDataset.features`): input columns
selected, normaliser applied. What is fitted on the training split (objectives' quantile edges, the normaliser) is
a :class:`~ltr_hyperdpo.data.state.DatasetState`, reused for vali/test and saved with every run.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from ..errors import DataError
from .features import FeatureSource
from .letor import check_contiguous
from .objectives import parse_objectives, parse_spec
from .state import DatasetState, fit_state, grade_matrix
from .store import read_metadata, storage_format
from .tables import check_features, check_grades, check_labels, load_table, table_columns


class RankingDataset:
    """Documents grouped by query, with one graded label per objective.

    Build one with `load` (a file), `from_table` (a converted Arrow table) or `from_arrays`. The features stay in their
    source buffers (a memory-mapped Arrow file, for large data); `features` selects and normalises them on demand.

    Attributes: ``y`` graded labels ``[docs, objectives]`` float32; ``labels`` the raw relevance labels ``[docs]``;
    ``qids`` ``[queries]``; ``offsets`` ``[queries + 1]`` (query i is documents ``offsets[i]:offsets[i+1]``);
    ``objective_names``; ``feature_ids`` (1-based ids of the model's input columns); ``state``.

    Parameters
    ----------
    source : FeatureSource
        The raw feature columns (Arrow buffers or arrays).
    y : numpy.ndarray
        Graded labels ``[docs, objectives]`` (or ``[docs]`` for one objective).
    doc_qids : numpy.ndarray
        ``[docs]`` query id of each document; a query's documents are contiguous.
    state : DatasetState
        The fitted objectives and feature normaliser (of the training split).
    rows : numpy.ndarray, optional
        ``[docs]`` the source row of each document (a subset of the source), default all rows in order.
    labels : numpy.ndarray, optional
        ``[docs]`` raw relevance labels (default ``y[:, 0]``).
    name : str, default "dataset"
        Names the dataset in error messages.

    Raises
    ------
    DataError
        No documents, a feature count the state does not expect, or a query whose documents are not contiguous.
    """

    def __init__(self, source: FeatureSource, y: np.ndarray, doc_qids: np.ndarray, state: DatasetState, *,
                 rows: np.ndarray | None = None, labels: np.ndarray | None = None, name: str = "dataset"):
        if y.ndim == 1:
            y = y[:, None]
        n = y.shape[0]
        if doc_qids.shape[0] != n or (rows is None and source.n_rows != n) or (rows is not None and rows.shape[0]
                                                                                 != n):
            raise ValueError(f"{name}: features, labels and qids disagree on the number of documents")
        if n == 0:
            raise DataError(f"{name}: no documents")
        if source.width != state.n_raw_features:
            raise DataError(f"{name}: has {source.width} features, the fitted state expects {state.n_raw_features}")
        check_contiguous(name, doc_qids, np.arange(1, n + 1))
        starts = np.flatnonzero(np.r_[True, doc_qids[1:] != doc_qids[:-1]])
        self.source = source
        self.rows = rows
        self.y = y.astype(np.float32, copy=False)
        self.labels = y[:, 0].astype(np.float32) if labels is None else labels  # the raw relevance labels
        self.doc_qids = doc_qids
        self.offsets = np.r_[starts, n].astype(np.int64)
        self.qids = doc_qids[starts]
        self.state = state
        self.transform = state.transform()
        self.objective_names = [o.name for o in state.objectives]
        self.feature_ids = self.transform.columns + 1
        self.name = name

    # construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_table(cls, table: pa.Table, *, objectives: str | list | None = None, state: DatasetState | None = None,
                   fit: bool = False, normalize: bool = True, name: str = "dataset", labels_checked: bool = False,
                   rows: np.ndarray | None = None, fit_rows: np.ndarray | None = None) -> RankingDataset:
        """Build from a converted Arrow table; the features stay in the table's buffers.

        Parameters
        ----------
        table : pyarrow.Table
            A table written by `convert` (or `load_table`).
        objectives : str or list, optional
            A preset name (``mq2008``, ``mslr5``, ...) or objective specs; default: the objectives stored in the table.
        state : DatasetState, optional
            Fitted objectives and normaliser to apply (those of a training split).
        fit : bool, default False
            Fit objectives and normaliser here (on a training split).
        normalize : bool, default True
            Fit a feature normaliser (with ``fit``).
        name : str, default "dataset"
            Names the dataset in error messages.
        labels_checked : bool, default False
            The labels and features were already checked (by the text parser, which names lines).
        rows : numpy.ndarray, optional
            ``[docs]`` the table rows to use (default all).
        fit_rows : numpy.ndarray, optional
            The rows the state is fitted on (default ``rows``, else all).

        Returns
        -------
        RankingDataset
            The dataset.

        Raises
        ------
        DataError
            Bad labels or features, or objectives that need fitting without ``fit`` or ``state``.
        """
        q, lab = table_columns(table)
        source = FeatureSource.from_table(table)
        if not labels_checked:  # the text parser has checked them already, naming lines
            check_labels(lab, q, name)
            check_features(source.blocks(), q, name)
        if state is None:
            meta = read_metadata(table.schema)
            if objectives is None and meta.get("objectives"):
                objs, drops = parse_objectives(meta["objectives"]), list(meta.get("drop_features") or [])
            else:
                objs, drops = parse_spec(objectives)
            if fit:
                state = fit_state(source, lab, objs, rows=fit_rows if fit_rows is not None else rows,
                                  normalize=normalize, drop_features=drops)
            elif all(o.fitted for o in objs):
                state = DatasetState(objs, None, source.width, drops)
            else:
                raise DataError(f"{name}: objectives need fitting on a training split (pass fit=True or a state)")
        y = grade_matrix(state.objectives, source, lab, rows)
        check_grades(y, state.objectives, name)
        return cls(source, y, q if rows is None else q[rows], state, rows=rows,
                   labels=lab if rows is None else lab[rows], name=name)

    @classmethod
    def load(cls, path: str | os.PathLike, *, group_file: str | os.PathLike | None = None,
             objectives: str | list | None = None, state: DatasetState | None = None, fit: bool = False,
             normalize: bool = True) -> RankingDataset:
        """Load a LETOR/LightGBM text file or a converted Parquet/Arrow file.

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        group_file : str or os.PathLike, optional
            The group-size file of LightGBM-layout text (default ``<path>.group`` when present).
        objectives : str or list, optional
            A preset name or objective specs (default: the objectives stored in a converted file).
        state : DatasetState, optional
            Fitted objectives and normaliser to apply: ``run.state`` for data scored by a run.
        fit : bool, default False
            Fit objectives and normaliser on this file (a training split).
        normalize : bool, default True
            Fit a feature normaliser (with ``fit``).

        Returns
        -------
        RankingDataset
            The dataset.

        Raises
        ------
        DataError
            The file cannot be read (the message names file and line), or objectives need fitting.
        """
        table = load_table(path, group_file=group_file)
        return cls.from_table(table, objectives=objectives, state=state, fit=fit, normalize=normalize,
                              name=str(path), labels_checked=storage_format(path) == "text")

    @classmethod
    def from_arrays(cls, x: np.ndarray, labels: np.ndarray, doc_qids: np.ndarray, *,
                    objectives: str | list | None = None, state: DatasetState | None = None,
                    normalize: bool = True, name: str = "arrays") -> RankingDataset:
        """From raw features, labels and query ids; without a ``state`` the objectives and normaliser are fitted here.

        Parameters
        ----------
        x : numpy.ndarray
            Raw features ``[docs, raw_features]``.
        labels : numpy.ndarray
            Relevance labels ``[docs]``.
        doc_qids : numpy.ndarray
            Query ids ``[docs]``; a query's documents are contiguous.
        objectives : str or list, optional
            A preset name or objective specs (default: relevance only).
        state : DatasetState, optional
            Fitted objectives and normaliser to apply instead of fitting.
        normalize : bool, default True
            Fit a feature normaliser (without ``state``).
        name : str, default "arrays"
            Names the dataset in error messages.

        Returns
        -------
        RankingDataset
            The dataset.

        Raises
        ------
        DataError
            Non-finite features, labels that are not grades, or non-contiguous queries.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.float32)
        check_labels(labels, doc_qids, name)
        source = FeatureSource([x])
        check_features(source.blocks(), np.asarray(doc_qids), name)
        if state is None:
            objs, drops = parse_spec(objectives)
            state = fit_state(source, labels, objs, normalize=normalize, drop_features=drops)
        y = grade_matrix(state.objectives, source, labels)
        check_grades(y, state.objectives, name)
        return cls(source, y, np.asarray(doc_qids, dtype=np.int64), state, labels=labels, name=name)

    # access --------------------------------------------------------------------------------------------------
    @property
    def n_queries(self) -> int:
        """Number of queries."""
        return int(self.qids.shape[0])

    @property
    def n_docs(self) -> int:
        """Number of documents."""
        return int(self.y.shape[0])

    @property
    def n_features(self) -> int:
        """Number of model inputs per document (after column selection)."""
        return self.transform.n_features

    @property
    def n_objectives(self) -> int:
        """K, the number of objectives."""
        return int(self.y.shape[1])

    @property
    def list_sizes(self) -> np.ndarray:
        """``[queries]`` documents per query."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return self.n_queries

    def raw_rows(self, docs: np.ndarray) -> np.ndarray:
        """The source rows of the given documents.

        Parameters
        ----------
        docs : numpy.ndarray
            ``[n]`` document indices.

        Returns
        -------
        numpy.ndarray
            ``[n]`` int64 source rows.
        """
        docs = np.asarray(docs, dtype=np.int64)
        return docs if self.rows is None else self.rows[docs]

    def features(self, docs: np.ndarray | Sequence[int]) -> np.ndarray:
        """Model inputs of the given documents: selected and normalised features.

        Parameters
        ----------
        docs : numpy.ndarray or sequence of int
            ``[n]`` document indices.

        Returns
        -------
        numpy.ndarray
            ``[n, features]`` float32.
        """
        return self.transform.apply(self.source.take(self.raw_rows(np.asarray(docs, dtype=np.int64))))

    @property
    def x(self) -> np.ndarray:
        """All model inputs ``[docs, features]`` (built on demand: prefer :meth:`features` for large data)."""
        return self.features(np.arange(self.n_docs))

    def query(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Features and grades of query i.

        Parameters
        ----------
        i : int
            Query position (0-based, in file order).

        Returns
        -------
        tuple of numpy.ndarray
            (features ``[docs_i, features]``, grades ``[docs_i, objectives]``).
        """
        s, e = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.features(np.arange(s, e)), self.y[s:e]

    def subset(self, query_indices: np.ndarray, name: str | None = None) -> RankingDataset:
        """The given queries as a dataset; the features are shared, not copied.

        Parameters
        ----------
        query_indices : numpy.ndarray
            Query positions to keep, in the order wanted.
        name : str, optional
            The subset's name (default ``<name>[subset]``).

        Returns
        -------
        RankingDataset
            The subset.
        """
        query_indices = np.asarray(query_indices)
        docs = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in query_indices])
        return RankingDataset(self.source, self.y[docs], self.doc_qids[docs], self.state, rows=self.raw_rows(docs),
                              labels=self.labels[docs], name=name or f"{self.name}[subset]")

    def blank_mask(self) -> np.ndarray:
        """Where a query has no relevant document (all grades < 1), per objective.

        Returns
        -------
        numpy.ndarray
            ``[objectives, queries]`` bool, True = blank.
        """
        return np.stack([np.maximum.reduceat(self.y[:, j], self.offsets[:-1]) < 1 for j in range(self.n_objectives)])

    def blank_queries(self, k: int = 0) -> int:
        """Number of queries with no relevant document (all grades < 1) for objective k.

        Parameters
        ----------
        k : int, default 0
            The objective.

        Returns
        -------
        int
            The count.
        """
        return int(np.count_nonzero(self.blank_mask()[k]))

    def label_histogram(self, k: int = 0) -> dict[float, int]:
        """Count of documents per grade of objective k.

        Parameters
        ----------
        k : int, default 0
            The objective.

        Returns
        -------
        dict
            grade -> number of documents.
        """
        v, c = np.unique(self.y[:, k], return_counts=True)
        return {float(a): int(b) for a, b in zip(v, c, strict=True)}

    def summary(self) -> dict:
        """Sizes, list-length statistics, per-objective label histograms and blank-query counts.

        Returns
        -------
        dict
            What ``ltr-hyperdpo inspect`` prints.
        """
        ls = self.list_sizes
        return {
            "name": self.name, "queries": self.n_queries, "documents": self.n_docs, "features": self.n_features,
            "list_size": {"min": int(ls.min()), "median": float(np.median(ls)), "max": int(ls.max())},
            "objectives": {n: {"histogram": self.label_histogram(k), "blank_queries": self.blank_queries(k)}
                           for k, n in enumerate(self.objective_names)},
        }


__all__ = ["RankingDataset"]
