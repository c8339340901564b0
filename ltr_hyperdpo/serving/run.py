"""A finished run, loaded from its directory, that scores new data at any trade-off.

``load_run(RUN).score(data, w)`` applies what the run fitted on its training split (the input-column selection and
the feature normaliser in ``data_state.json``) to raw features, so a user never handles model inputs: data are LETOR
/ LightGBM-layout text (labels optional), converted Parquet/Arrow files, a RankingDataset, or arrays.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import read_structured_file
from ..data.dataset import RankingDataset
from ..data.state import DatasetState
from ..errors import ConfigError, RunDirError
from ..methods.registry import get_method
from ..models.io import load_scorer
from ..models.ranker import Ranker
from ..runs.device import resolve_device
from ..training.config import RunConfig
from ..training.plan import RunPlan, run_plan, saved_config
from ..utils.io import reading
from .blocks import BLOCK_ROWS, QueryBlock, input_order, iter_blocks
from .importance import Importance, permutation_importance
from .selection import Selection, select_weight
from .state import load_run_state


def check_preference(w: Any, n_objectives: int, names: Sequence[str] | None = None) -> np.ndarray:
    """A preference weight vector ``[objectives]``: finite, non-negative, not all zero; scaled to sum to 1."""
    v = np.asarray(w, dtype=np.float64).reshape(-1)
    label = f" ({', '.join(names)})" if names else ""
    if v.shape[0] != n_objectives:
        raise ConfigError(f"a weight vector needs {n_objectives} values{label}, got {v.shape[0]}")
    if not np.all(np.isfinite(v)) or np.any(v < 0) or v.sum() <= 0:
        raise ConfigError(f"weights must be finite, >= 0 and not all 0, got {v.tolist()}")
    return v / v.sum()


@dataclass(kw_only=True)
class Run:
    """A trained run, loaded by `load_run`: score data at any trade-off, choose one, explain it.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run directory.
    config : RunConfig
        The run's config as given (``config.json``).
    state : DatasetState
        The objectives and the feature normaliser fitted on the run's training split (``data_state.json``); new data
        is transformed with them.
    ranker : Ranker
        Scores model inputs (selected, normalised features) at any preference ``w``.
    method : str
        The method the run trained (``hyperdpo``, ``dpo_ls``, ...).
    device : torch.device, default cpu
        Where the models are.
    plan : RunPlan or None
        What the run trained with (``plan.json``); ``None`` for runs older than the plan.
    """

    run_dir: Path
    config: RunConfig
    state: DatasetState
    ranker: Ranker
    method: str
    device: torch.device = torch.device("cpu")
    plan: RunPlan | None = None

    @property
    def objective_names(self) -> list[str]:
        """The objectives' names, in the order of ``w``."""
        return [o.name for o in self.state.objectives]

    @property
    def n_objectives(self) -> int:
        """K, the number of objectives (the length of ``w``)."""
        return len(self.state.objectives)

    @property
    def n_raw_features(self) -> int:
        """Feature columns of the raw input (objective columns included: they are dropped here)."""
        return self.state.n_raw_features

    def preference(self, w: Any) -> np.ndarray:
        """``w`` checked and normalised to the simplex.

        Parameters
        ----------
        w : array-like
            One non-negative weight per objective, in the run's objective order (``objective_names``).

        Returns
        -------
        numpy.ndarray
            ``[objectives]`` float64, summing to 1.

        Raises
        ------
        ConfigError
            ``w`` has the wrong length, a negative or non-finite value, or is all zero.
        """
        return check_preference(w, self.n_objectives, self.objective_names)

    def score_block(self, block: QueryBlock, w: Any, beta: float | None = None, batch_size: int = 64) -> np.ndarray:
        """Scores of one block of whole queries, in input order within the block.

        Parameters
        ----------
        block : QueryBlock
            Raw features and query ids of whole queries (from ``iter_blocks``).
        w : array-like
            The preference, one weight per objective.
        beta : float, optional
            The temperature of a temperature-conditioned model (default: the training one).
        batch_size : int, default 64
            Queries per forward pass.

        Returns
        -------
        numpy.ndarray
            ``[rows]`` float64 scores.

        Raises
        ------
        ConfigError
            ``beta`` is not a finite number > 0, or ``w`` is not a valid preference.
        """
        if beta is not None and not (np.isfinite(beta) and beta > 0):
            raise ConfigError(f"beta must be a finite number > 0, got {beta}")
        wv = torch.from_numpy(self.preference(w).astype(np.float32)).to(self.device)
        x = self.state.transform().apply(block.raw)
        starts = np.flatnonzero(np.r_[True, block.qids[1:] != block.qids[:-1]])
        ends = np.r_[starts[1:], len(block)]
        out = np.empty(len(block), dtype=np.float64)
        order = np.argsort(ends - starts, kind="stable")  # similar lengths together: little padding
        with torch.no_grad():
            for s in range(0, len(order), batch_size):
                qs = order[s:s + batch_size]
                lens = ends[qs] - starts[qs]
                width = int(lens.max())
                feats = np.zeros((len(qs), width, x.shape[1]), dtype=np.float32)
                mask = np.zeros((len(qs), width), dtype=bool)
                for b, q in enumerate(qs):
                    feats[b, :lens[b]] = x[starts[q]:ends[q]]
                    mask[b, :lens[b]] = True
                sc = self.ranker.score(torch.from_numpy(feats).to(self.device), torch.from_numpy(mask).to(self.device),
                                       wv, beta).float().cpu().numpy()
                for b, q in enumerate(qs):
                    out[starts[q]:ends[q]] = sc[b, :lens[b]]
        return out

    def iter_scores(self, data: Any, w: Any, beta: float | None = None, *, qid: np.ndarray | None = None,
                    group_file: str | os.PathLike | None = None, batch_size: int = 64,
                    block_rows: int = BLOCK_ROWS) -> Iterator[tuple[QueryBlock, np.ndarray]]:
        """(block, scores) over the input in blocks of whole queries: bounded memory for any file size.

        Parameters
        ----------
        data : str, os.PathLike, RankingDataset or numpy.ndarray
            A LETOR/LightGBM text or converted Parquet/Arrow file, a dataset, or raw features ``[rows, raw_features]``
            with ``qid``.
        w : array-like
            The preference, one weight per objective.
        beta : float, optional
            The temperature of a temperature-conditioned model (default: the training one).
        qid : numpy.ndarray, optional
            ``[rows]`` query ids of raw feature arrays.
        group_file : str or os.PathLike, optional
            The group-size file of LightGBM-layout text (default: ``<data>.group`` when present).
        batch_size : int, default 64
            Queries per forward pass.
        block_rows : int, default 65536
            Rows per block (whole queries; a longer query is its own block).

        Yields
        ------
        tuple of (QueryBlock, numpy.ndarray)
            Each block and its ``[rows]`` scores.
        """
        for block in iter_blocks(data, self.n_raw_features, qid=qid, group_file=group_file, block_rows=block_rows):
            yield block, self.score_block(block, w, beta, batch_size)

    def select_weight(self, data: RankingDataset | str | os.PathLike, *, maximise: str,
                      subject_to: Sequence[str] = (), k: int | None = None,
                      beta_range: tuple[float, float] | None = None, confidence: float | None = None) -> Selection:
        """Choose a trade-off after training: maximise one objective subject to constraints, on validation data.

        A dense grid over the simplex is searched, then refined locally around the best feasible points (see
        ``ltr_hyperdpo.serving.selection``).

        Parameters
        ----------
        data : RankingDataset, str or os.PathLike
            The data the choice is made on (a validation split, never the one you report).
        maximise : str
            The objective whose NDCG@k is maximised.
        subject_to : sequence of str, default ()
            Constraints such as ``"relevance >= 0.98*reference"`` (relative to the reference model's figure) or
            ``"pagerank >= 0.60"``.
        k : int, optional
            The NDCG cut-off (default: the run's first ``eval.ks``).
        beta_range : tuple of float, optional
            Also search the temperature in ``[low, high]`` (temperature-conditioned models).
        confidence : float, optional
            Require each constraint to hold at this one-sided bootstrap confidence over queries (e.g. 0.9), not only
            on the mean.

        Returns
        -------
        Selection
            The chosen ``w`` (and β), its figures, the reference's, each constraint's margin and the ``predict``
            command that serves it.

        Raises
        ------
        ConfigError
            An unknown objective, a malformed constraint, or constraints no weight satisfies (the message gives the
            best achievable values).
        """
        ds = data if isinstance(data, RankingDataset) else RankingDataset.load(data, state=self.state)
        return select_weight(self, ds, maximise=maximise, subject_to=tuple(subject_to), k=k, beta_range=beta_range,
                             confidence=confidence)

    def feature_importance(self, data: RankingDataset | str | os.PathLike, w: Any = None, *, k: int | None = None,
                           repeats: int = 5, seed: int = 0) -> Importance:
        """Permutation importance per objective at ``w`` and at every vertex of the simplex.

        Each feature column is shuffled within queries (seeded, ``repeats`` times); the importance is the drop in
        NDCG@k, so how importance moves along the front can be read off the vertices.

        Parameters
        ----------
        data : RankingDataset, str or os.PathLike
            Labelled data to measure on.
        w : array-like, optional
            The preference (default: the run's main objective's vertex).
        k : int, optional
            The NDCG cut-off (default: the run's first ``eval.ks``).
        repeats : int, default 5
            Shuffles per feature (the spread is reported).
        seed : int, default 0
            Seed of the shuffles.

        Returns
        -------
        Importance
            ``mean``/``std`` ``[weights, objectives, features]`` (``weights[0]`` is ``w``, the rest the vertices).
        """
        ds = data if isinstance(data, RankingDataset) else RankingDataset.load(data, state=self.state)
        return permutation_importance(self, ds, w, k=k, repeats=repeats, seed=seed)

    def score(self, data: Any, w: Any, beta: float | None = None, *, qid: np.ndarray | None = None,
              group_file: str | os.PathLike | None = None, batch_size: int = 64) -> np.ndarray:
        """One score per input row, in input order, at preference ``w``.

        Parameters
        ----------
        data : str, os.PathLike, RankingDataset or numpy.ndarray
            A LETOR/LightGBM text or converted Parquet/Arrow file (labels optional), a dataset, or raw features
            ``[rows, raw_features]`` with ``qid``.
        w : array-like
            The preference, one weight per objective in the run's objective order (normalised to sum 1).
        beta : float, optional
            The temperature of a temperature-conditioned model (default: the training one).
        qid : numpy.ndarray, optional
            ``[rows]`` query ids of raw feature arrays (rows of a query need not be contiguous).
        group_file : str or os.PathLike, optional
            The group-size file of LightGBM-layout text.
        batch_size : int, default 64
            Queries per forward pass.

        Returns
        -------
        numpy.ndarray
            ``[rows]`` float64 scores.

        Raises
        ------
        ConfigError
            ``w`` or ``beta`` is invalid.
        DataError
            The input cannot be read or has the wrong number of features (the message names file and line).
        """
        parts = [s for _, s in self.iter_scores(data, w, beta, qid=qid, group_file=group_file,
                                                batch_size=batch_size)]
        scores = np.concatenate(parts) if parts else np.zeros(0)
        if qid is None:
            return scores
        out = np.empty_like(scores)
        out[input_order(np.asarray(qid))] = scores  # arrays are scored grouped by query: back to input order
        return out


def load_run(run_dir: str | os.PathLike, device: str = "cpu") -> Run:
    """Load a finished run directory written by `train`.

    Every file loads with ``torch.load(weights_only=True)``: a run directory cannot execute code.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run directory.
    device : str, default "cpu"
        Where to put the models: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns
    -------
    Run
        The trained run.

    Raises
    ------
    UserError
        The directory does not exist or holds no finished run (``RunDirError``), or a file in it is missing or
        damaged (the message names it).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not (run_dir / "method.json").exists():
        raise RunDirError(f"{run_dir}: no trained model (method.json is missing: is the run finished?)")
    with reading(run_dir / "config.json"):
        cfg = saved_config(run_dir)
    with reading(run_dir / "plan.json"):
        plan = run_plan(run_dir)
    with reading(run_dir / "method.json"):
        meta = read_structured_file(run_dir / "method.json")
        method = get_method(meta["method"])
    reference, _ = load_scorer(run_dir / "reference.pt")
    state = load_run_state(run_dir)
    with reading(run_dir / "method.json"):
        ranker = method.load(run_dir, reference, meta)
    dev = resolve_device(device)
    if dev.type != "cpu":
        ranker.to(dev)
    return Run(run_dir=run_dir, config=cfg, state=state, ranker=ranker, method=str(meta["method"]), device=dev,
               plan=plan)
