"""``MultiObjectiveRanker``: HyperDPO as a scikit-learn estimator, in the style of LightGBM's ``LGBMRanker``.

Hyperparameters live in the constructor only (``clone``, ``get_params`` and ``set_params`` work); ``fit`` learns
into trailing-underscore attributes; ``save(path)`` writes an ordinary run directory (``load_run`` and ``predict``
read it) and ``load(path)`` reads one back.

Objectives: ``Y`` is ``[n]`` (relevance only) or ``[n, K]`` (column 0 the main objective, the others auxiliary), all
graded labels >= 0 used as given. Queries are given as LightGBM ``group`` sizes (rows contiguous by query) or a
``qid`` per row. Non-finite values in ``X`` or ``Y`` are refused naming the row and query.

Where the run is kept: ``work_dir/run`` when ``work_dir`` is set; otherwise a temporary directory that is removed
when the estimator is refitted, garbage-collected, or the interpreter exits (``save`` copies it first).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_array

from .. import defaults
from ..config import read_structured_file
from ..data.dataset import RankingDataset
from ..errors import ConfigError, DataError
from ..eval.metrics import aggregate, ndcg_rows, pad_lists
from ..methods.registry import get_method, method_names
from ..training import RunConfig, train
from ..utils.io import atomic_write_json
from .estimator_data import check_features, check_finite, fit_datasets, queries, raw_layout
from .importance import permutation_importance
from .run import Run, load_run

ESTIMATOR_FILE = "estimator.json"
#: shuffles per feature behind ``feature_importances_`` (on the validation part, after fit)
IMPORTANCE_REPEATS = 3


class NotFitted(ConfigError, NotFittedError):
    """Raised by ``predict``/``score``/``save`` before ``fit``: one line for the CLI, scikit-learn's
    ``NotFittedError`` for pipelines."""


class MultiObjectiveRanker(BaseEstimator):
    """One model for every trade-off between K ranking objectives (a scikit-learn estimator); pick ``w`` at predict.

    In the style of LightGBM's ``LGBMRanker``: ``fit(X, Y, group=...)`` with ``Y`` ``[n, K]`` (the first column the main
    relevance grade), ``predict(X, group=..., w=...)``. The defaults are the run config's (``ltr_hyperdpo.defaults``),
    each with its rule there. Fitted attributes: ``run_`` (a `Run`), ``n_features_in_``, ``n_objectives_``,
    ``objective_names_``, ``w_`` (the serving weight: the main objective alone), ``evals_result_`` (every validation
    figure per epoch), ``best_iteration_`` (the epoch whose weights were kept), ``feature_importances_`` (the main
    objective's NDCG@10 drop when a feature is shuffled within queries, at ``w_``, on the validation part).

    Parameters
    ----------
    method : str, default "hyperdpo"
        The method (``hyperdpo``, ``dpo_ls``, ``dpo_soup``, ``modpo``, ``cosmos``, ...).
    kind : {"mlp", "transformer"}, default "mlp"
        The scorer.
    hidden : tuple of int, default (256, 128)
        Hidden widths of the MLP.
    dropout : float, default 0.1
        Dropout of the scorer.
    conditioning : str, default "auto"
        How ``w`` enters the model (FiLM for MLPs, hyper prompts for transformers under ``auto``).
    epochs : int, default 20
        Epochs of the method's stage.
    reference_epochs : int, default 20
        Epochs of the reference stage.
    lr : float, default 1e-3
        Learning rate of the method's stage.
    reference_lr : float, default 1e-3
        Learning rate of the reference stage.
    reference_loss : str, default "listnet"
        The reference model's listwise loss.
    alpha : float, default 0.3
        Dirichlet concentration of the sampled weights (one-model methods only; not passed to a method without it).
    beta : float, default 1.0
        DPO temperature β.
    batch_size : int, default 32
        Queries per training batch.
    slate_length : int, default 120
        Documents per training list (longer lists are sampled).
    objective_names : tuple of str, optional
        Names of ``Y``'s columns (default ``relevance``, ``objective_1``, ...).
    normalize : bool, default True
        Fit a feature normaliser on the training part.
    vali_fraction : float, default 0.15
        Share of queries held out for validation when no ``eval_set`` is given.
    seed : int, default 0
        Seeds the run.
    work_dir : str, optional
        Where the run directory is written (default: a temporary directory removed with the estimator).
    """

    def __init__(self, method: str = "hyperdpo", kind: str = "mlp", hidden: tuple[int, ...] = defaults.HIDDEN,
                 dropout: float = defaults.DROPOUT, conditioning: str = "auto", epochs: int = defaults.EPOCHS,
                 reference_epochs: int = defaults.EPOCHS, lr: float = defaults.LR,
                 reference_lr: float = defaults.LR, reference_loss: str = defaults.REFERENCE_LOSS,
                 alpha: float = defaults.ALPHA, beta: float = defaults.BETA, batch_size: int = defaults.BATCH_SIZE,
                 slate_length: int = defaults.SLATE_LENGTH, objective_names: tuple[str, ...] | None = None,
                 normalize: bool = True, vali_fraction: float = defaults.VALI_FRACTION, seed: int = defaults.SEED,
                 work_dir: str | None = None):
        self.method = method
        self.kind = kind
        self.hidden = hidden
        self.dropout = dropout
        self.conditioning = conditioning
        self.epochs = epochs
        self.reference_epochs = reference_epochs
        self.lr = lr
        self.reference_lr = reference_lr
        self.reference_loss = reference_loss
        self.alpha = alpha
        self.beta = beta
        self.batch_size = batch_size
        self.slate_length = slate_length
        self.objective_names = objective_names
        self.normalize = normalize
        self.vali_fraction = vali_fraction
        self.seed = seed
        self.work_dir = work_dir

    def __sklearn_tags__(self):  # noqa: ANN204 - scikit-learn's Tags
        """A ranker: needs ``y``; takes sparse ``X`` (densified, as LightGBM's ranker does)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        return tags

    # configuration ---------------------------------------------------------------------------------------------
    def _config(self) -> RunConfig:
        return RunConfig.from_dict({
            "data": {"train": "<arrays>", "batch_size": self.batch_size, "slate_length": self.slate_length,
                     "normalize": self.normalize, "vali_fraction": self.vali_fraction},
            "model": {"kind": self.kind, "hidden": list(self.hidden), "dropout": self.dropout,
                      "conditioning": self.conditioning},
            "reference": {"epochs": self.reference_epochs, "lr": self.reference_lr, "loss": self.reference_loss},
            "hyperdpo": {"epochs": self.epochs, "lr": self.lr, "beta": self.beta},
            "method": {"name": self.method, "params": self._method_params()}, "seed": self.seed, "progress": False})

    def _method_params(self) -> dict:
        """The estimator's method parameters the method takes (``alpha`` for the one-model methods)."""
        if self.method not in method_names():
            return {}
        taken = {f.name for f in fields(get_method(self.method).Params)}
        return {"alpha": self.alpha} if "alpha" in taken else {}

    def _objectives(self, n_features: int, k: int) -> list[dict]:
        names = list(self.objective_names) if self.objective_names else \
            ["relevance"] + [f"objective_{j}" for j in range(1, k)]
        if len(names) != k:
            raise ConfigError(f"objective_names has {len(names)} names for {k} objectives")
        return [{"name": names[0]}] + [{"name": names[j], "source": "feature", "feature": n_features + j,
                                        "transform": "identity"} for j in range(1, k)]

    # learning --------------------------------------------------------------------------------------------------
    def fit(self, X: Any, Y: Any, group: Any = None, qid: Any = None, eval_set: list | None = None,
            eval_group: list | None = None, eval_qid: list | None = None) -> MultiObjectiveRanker:
        """Train the reference and the one-shot model.

        Parameters
        ----------
        X : array-like or sparse matrix
            ``[n, F]`` features (sparse is densified).
        Y : array-like
            ``[n]`` or ``[n, K]`` graded labels; column 0 is the main relevance, the others the auxiliary objectives.
        group : array-like, optional
            Query sizes in row order (LightGBM's ``group``).
        qid : array-like, optional
            ``[n]`` query id per row (contiguous), instead of ``group``.
        eval_set : list, optional
            ``[(X_val, Y_val)]`` validation data (default: a seeded ``vali_fraction`` of the queries).
        eval_group : list, optional
            ``[group_val]`` for ``eval_set``.
        eval_qid : list, optional
            ``[qid_val]`` for ``eval_set``.

        Returns
        -------
        MultiObjectiveRanker
            The fitted estimator.

        Raises
        ------
        DataError
            ``Y`` missing, rows disagreeing, NaN/inf (naming row, query and feature), or too few queries to hold out.
        ConfigError
            A parameter is invalid (the message names it).
        """
        if Y is None:
            raise DataError("MultiObjectiveRanker requires y to be passed, but the target y is None (graded labels, "
                            "[n] or [n, K])")
        x = check_features(X)
        y = check_array(Y, ensure_2d=False, dtype=np.float32, input_name="y", ensure_all_finite=False)
        y = y[:, None] if y.ndim == 1 else y
        if y.shape[0] != x.shape[0]:
            raise DataError(f"X has {x.shape[0]} rows but Y has {y.shape[0]}")
        k = y.shape[1]
        q = queries(x.shape[0], group, qid)
        check_finite(x, q, "X", "feature")
        check_finite(y, q, "Y", "objective")
        objectives = self._objectives(x.shape[1], k)
        raw = raw_layout(x, y, k)
        cfg = self._config()
        tr, va = fit_datasets(raw, y, q, objectives, normalize=self.normalize, seed=self.seed,
                              vali_fraction=self.vali_fraction, eval_set=eval_set, eval_group=eval_group,
                              eval_qid=eval_qid)
        self._release_temporary()
        work = Path(self.work_dir) if self.work_dir else Path(tempfile.mkdtemp(prefix="ltr-hyperdpo-estimator-"))
        run_dir = work / "run"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        try:
            self.result_ = train(cfg, run_dir, splits=(tr, va, None))
            self._write_estimator_file(run_dir, x.shape[1], [o["name"] for o in objectives])
            self._attach(load_run(run_dir), x.shape[1])
            self._learned(va)
        except BaseException:
            if not self.work_dir:
                shutil.rmtree(work, ignore_errors=True)
            raise
        if not self.work_dir:  # removed with the estimator (garbage collection, a refit, or the interpreter's exit)
            self._temporary = weakref.finalize(self, shutil.rmtree, str(work), True)
        return self

    def _learned(self, va: RankingDataset) -> None:
        """``evals_result_``, ``best_iteration_`` and ``feature_importances_`` from the finished run."""
        evals: dict[str, list[float]] = {}
        for rec in self.result_.history:
            for key, v in rec.items():
                if key.startswith("val_") and isinstance(v, (int, float)):
                    evals.setdefault(f"{rec['stage']}/{key}", []).append(float(v))
        self.evals_result_ = {"valid_0": evals}
        stage = [r for r in self.result_.history if r.get("stage") == self.method]
        keyed = [r for r in stage if any(k.startswith("val_") and isinstance(v, float) for k, v in r.items())]
        if keyed:
            key = next(k for k, v in keyed[0].items() if k.startswith("val_") and isinstance(v, float))
            self.best_iteration_ = int(max(keyed, key=lambda r: r[key])["epoch"])
        else:
            self.best_iteration_ = int(stage[-1]["epoch"]) if stage else 0
        imp = permutation_importance(self.run_, va, self.w_, repeats=IMPORTANCE_REPEATS, seed=self.seed)
        out = np.zeros(self.n_features_in_)  # a feature the model does not take (constant, dropped) has none
        for c, fid in enumerate(imp.feature_ids):
            if fid <= self.n_features_in_:
                out[fid - 1] = imp.mean[0, 0, c]  # the main objective's NDCG@k drop at the serving weight
        self.feature_importances_ = out

    def _release_temporary(self) -> None:
        """Remove the temporary run directory of an earlier fit (``work_dir`` unset)."""
        fin = self.__dict__.pop("_temporary", None)
        if fin is not None:
            fin()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_temporary", None)  # a pickled copy does not own the temporary directory
        return state

    def _write_estimator_file(self, run_dir: Path, n_features: int, names: list[str]) -> None:
        atomic_write_json(run_dir / ESTIMATOR_FILE, {"params": self.get_params(), "n_features_in": n_features,
                                                     "objective_names": names})

    def _attach(self, run: Run, n_features: int) -> None:
        self.run_ = run
        self.run_dir_ = str(run.run_dir)
        self.n_features_in_ = n_features
        self.n_objectives_ = run.n_objectives
        self.objective_names_ = run.objective_names
        self.w_ = np.eye(run.n_objectives)[0]  # the serving weight: the main objective alone

    # prediction ------------------------------------------------------------------------------------------------
    def predict(self, X: Any, group: Any = None, qid: Any = None, w: Any = None,
                beta: float | None = None) -> np.ndarray:
        """Scores at preference ``w``.

        Without ``group``/``qid`` each row is its own list: fine for the per-document MLP; a transformer scores lists,
        so pass the queries.

        Parameters
        ----------
        X : array-like or sparse matrix
            ``[n, n_features_in_]`` features.
        group : array-like, optional
            Query sizes in row order.
        qid : array-like, optional
            ``[n]`` query id per row.
        w : array-like, optional
            The preference, one weight per objective (default ``w_``: the main objective alone).
        beta : float, optional
            The temperature of a temperature-conditioned model.

        Returns
        -------
        numpy.ndarray
            ``[n]`` scores, in row order.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            The estimator is not fitted.
        ValueError
            ``X`` has the wrong width (naming ``n_features_in_``), NaN/inf, or ``w`` is invalid.
        """
        if not hasattr(self, "run_"):
            raise NotFitted("this MultiObjectiveRanker is not fitted: call fit (or load) first")
        x = check_features(X, self.n_features_in_)
        if group is None and qid is None and self.run_.config.model.kind != "mlp":
            raise ConfigError("the transformer scores whole lists: pass group or qid")
        wv = w if w is not None else self.w_
        q = queries(x.shape[0], group, qid)
        check_finite(x, q, "X", "feature")
        return self.run_.score(raw_layout(x, None, self.n_objectives_), wv, beta, qid=q)

    def score(self, X: Any, y: Any, group: Any = None, qid: Any = None, w: Any = None, k: int = 10) -> float:
        """Mean NDCG@k of the main objective at ``w``, over queries with a relevant document.

        Gain 2^y − 1, discount 1/log2(i + 1), ties broken by position.

        Parameters
        ----------
        X : array-like or sparse matrix
            ``[n, n_features_in_]`` features.
        y : array-like
            ``[n]`` main relevance grades, or ``[n, K]`` (the first column is used).
        group : array-like, optional
            Query sizes in row order (default: each row its own query, as in `predict`).
        qid : array-like, optional
            ``[n]`` query id per row.
        w : array-like, optional
            The preference (default ``w_``).
        k : int, default 10
            The cut-off.

        Returns
        -------
        float
            Mean NDCG@k.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            The estimator is not fitted.
        """
        if not hasattr(self, "run_"):
            raise NotFitted("this MultiObjectiveRanker is not fitted: call fit (or load) first")
        x = check_features(X, self.n_features_in_)
        yy = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        main = yy if yy.ndim == 1 else yy[:, 0]
        q = queries(x.shape[0], group, qid)
        s = self.predict(x, qid=q, w=w)
        order = np.argsort(q, kind="stable")  # lists in query order, rows in input order within a query
        qs = q[order]
        cuts = np.flatnonzero(np.r_[True, qs[1:] != qs[:-1], True])
        lists = [order[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        sc, lengths = pad_lists([s[i] for i in lists])
        lab, _ = pad_lists([main[i] for i in lists])
        per = ndcg_rows(sc, lab, lengths, k)
        blank = np.array([not (main[i] >= 1).any() for i in lists])
        return float(aggregate(per, blank, "skip").mean)

    # persistence -----------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> str:
        """Copy the fitted run directory to ``path``: an ordinary run directory (``ltr-hyperdpo predict`` serves it).

        Parameters
        ----------
        path : str or os.PathLike
            A new directory.

        Returns
        -------
        str
            The directory written.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            The estimator is not fitted.
        ConfigError
            ``path`` exists.
        """
        if not hasattr(self, "run_dir_"):
            raise NotFitted("nothing to save: the estimator is not fitted")
        dest = Path(path)
        if dest.exists():
            raise ConfigError(f"{dest}: exists; choose a new path")
        shutil.copytree(self.run_dir_, dest, ignore=shutil.ignore_patterns(".lock", "checkpoint*.pt"))
        return str(dest)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MultiObjectiveRanker:
        """An estimator from a directory written by `save`.

        Parameters
        ----------
        path : str or os.PathLike
            The directory.

        Returns
        -------
        MultiObjectiveRanker
            The fitted estimator.
        """
        meta = read_structured_file(Path(path) / ESTIMATOR_FILE)
        params: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
        est = cls(**params)
        est._attach(load_run(path), int(meta["n_features_in"]))
        return est
