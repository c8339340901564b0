"""`train(config, run_dir) -> RunResult`: stage 1 (reference) then stage 2 (the method), resumable."""
from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.sampling import weight_grid
from ..data.dataset import DatasetState, RankingDataset
from ..data.store import atomic_write_json
from . import checkpoint as ckpt
from . import methods as _methods
from .config import RunConfig
from .reference import train_reference


@dataclass
class RunResult:
    """What a run produced: paths, the validation figures, timings, and the test front when a test split is set."""

    run_dir: str
    method: str
    reference_path: str
    config_path: str
    best_val_reference: float
    best_val_hypervolume: float
    train_seconds: float
    reference_seconds: float
    method_seconds: float
    method_cpu_seconds: float
    history: list = field(default_factory=list)
    front: dict | None = None

    @property
    def model_path(self) -> str:
        """``model.pt`` of a one-model method (multi-run methods list their members in ``method.json``)."""
        return str(Path(self.run_dir) / "model.pt")

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def load_splits(cfg: RunConfig) -> tuple[RankingDataset, RankingDataset, RankingDataset | None]:
    """Train (fitting objectives and normaliser), vali (or a held-out part of train), test."""
    d = cfg.data
    if not d.train:
        raise ValueError("data.train is required")
    tr = RankingDataset.load(d.train, objectives=d.objectives, fit=True, normalize=d.normalize)
    if d.vali:
        va = RankingDataset.load(d.vali, state=tr.state)
    else:
        rng = np.random.default_rng(cfg.seed)
        q = rng.permutation(tr.n_queries)
        n_va = max(1, int(round(d.vali_fraction * tr.n_queries)))
        if tr.n_queries - n_va < 1:
            raise ValueError(f"{d.train}: too few queries to hold out a validation split")
        va = tr.subset(np.sort(q[:n_va]), name=f"{tr.name}[vali]")
        tr = tr.subset(np.sort(q[n_va:]), name=f"{tr.name}[train]")
    te = RankingDataset.load(d.test, state=tr.state) if d.test else None
    return tr, va, te


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def train(cfg: RunConfig, run_dir: str | os.PathLike, *, resume: bool = False, stop_after: int | None = None,
          splits=None, on_epoch=None) -> RunResult:
    """Run both stages into ``run_dir``; with ``resume`` continue from its checkpoints to the same result.

    ``splits`` (train, vali, test) skips loading the data (the benchmark reuses loaded splits); ``on_epoch(stage,
    record)`` is called after every stage-2 epoch (Optuna reports and prunes through it).
    """
    run_dir = ckpt.open_run_dir(run_dir, resume, cfg.threads)
    t_start = time.perf_counter()
    tr, va, te = splits if splits is not None else load_splits(cfg)
    cfg.model.n_features, cfg.model.n_objectives = tr.n_features, tr.n_objectives
    atomic_write_json(run_dir / "config.json", cfg.to_dict())
    atomic_write_json(run_dir / "data_state.json", tr.state.to_dict())
    state = ckpt.load(run_dir / "checkpoint.pt") if resume and (run_dir / "checkpoint.pt").exists() else None
    if not resume and (run_dir / "log.jsonl").exists():
        (run_dir / "log.jsonl").unlink()

    t1 = time.perf_counter()
    reference, ref_hist, ref_best = train_reference(cfg, tr, va, run_dir, resume_state=state, stop_after=stop_after)
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    ref_seconds = time.perf_counter() - t1

    t2, c2 = time.perf_counter(), _cpu()
    ranker, hist, val_hv = _methods.fit_method(cfg, tr, va, reference, run_dir, resume_state=state,
                                               stop_after=stop_after, on_epoch=on_epoch)
    method_seconds, method_cpu = time.perf_counter() - t2, _cpu() - c2

    front = None
    if te is not None:
        from ..eval.front import evaluate_front
        from ..eval.report import write_front

        grid = weight_grid(tr.n_objectives, cfg.eval.grid, method=cfg.eval.grid_method, seed=cfg.seed)
        res = evaluate_front(ranker, te, grid, ks=tuple(cfg.eval.ks), ref_point=cfg.eval.ref_point,
                             blank_policy=cfg.eval.blank_policy)
        write_front(res, run_dir / "front")
        front = res.to_dict()
    result = RunResult(str(run_dir), cfg.method, str(run_dir / "reference.pt"), str(run_dir / "config.json"),
                       float(ref_best), float(val_hv), time.perf_counter() - t_start, ref_seconds, method_seconds,
                       method_cpu, list(ref_hist) + list(hist), front)
    atomic_write_json(run_dir / "result.json", result.to_dict())
    return result


def load_run(run_dir: str | os.PathLike):
    """(ranker, config, fitted data state) of a finished run."""
    run_dir = Path(run_dir)
    if not (run_dir / "method.json").exists() and not (run_dir / "model.pt").exists():
        raise FileNotFoundError(f"{run_dir}: no trained model (is the run finished?)")
    cfg = RunConfig.load(run_dir / "config.json")
    reference, _ = ckpt.load_scorer(run_dir / "reference.pt")
    state = DatasetState.from_dict(json.loads((run_dir / "data_state.json").read_text()))
    return _methods.load_ranker(run_dir, reference), cfg, state
