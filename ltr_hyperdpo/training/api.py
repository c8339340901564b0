"""`train(config, run_dir) -> RunResult`: stage 1 (reference) then stage 2 (the method), locked and resumable."""
from __future__ import annotations

import os
import resource
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import check_resume_config
from ..core.grids import describe_grid
from ..data.cache import cached_input
from ..data.dataset import RankingDataset
from ..data.leakage import near_copies
from ..data.splits import load_splits
from ..data.store import storage_format
from ..data.textio import resolve_group_file
from ..errors import DataError, UserError
from ..eval.front import evaluate_front
from ..eval.report import write_front
from ..methods.base import FitContext
from ..methods.registry import get_method
from ..runs.callbacks import Callback, EpochHook
from ..runs.device import resolve_device, set_threads
from ..runs.distributed import barrier, init_from_env, is_main, on_main
from ..runs.inputs import check_inputs, record_inputs
from ..runs.rundir import RunLock, check_new_or_resume, discard_unstarted
from ..runs.tracking import trackers
from ..utils.checkpoint import load_latest, previous_path
from ..utils.io import atomic_write_json
from .card import write_model_card, write_versions
from .config import RESUME_HARMLESS_KEYS, RunConfig
from .plan import PLAN_NAME, DataSummary, RunPlan, check_resume_plan, locate_splits, resolve, saved_config, write_plan
from .reference import train_reference

Splits = tuple[RankingDataset, RankingDataset, RankingDataset | None]

#: where a run keeps the Arrow caches of its text inputs (unless ``data.cache_dir`` is set)
DATA_CACHE = "data_cache"


@dataclass(kw_only=True)
class RunResult:
    """What a run produced: paths, the validation figures, timings, and the test front when a test split is set.

    Parameters
    ----------
    run_dir : str
        The run directory.
    method : str
        The method that was trained (``hyperdpo``, ``dpo_ls``, ...).
    reference_path : str
        The reference model's weights (``reference.pt``).
    config_path : str
        ``config.json``: the config as given.
    plan_path : str
        ``plan.json``: what the run resolved from the config and trained with.
    best_val_reference : float
        The reference model's best validation NDCG of the main objective.
    best_val_hypervolume : float
        The validation hypervolume (over the validation grid of weights) of the epoch the method kept (the kept
        epoch is the best by ``method.params.select``).
    train_seconds : float
        Wall time of the whole run.
    reference_seconds : float
        Wall time of the reference stage.
    method_seconds : float
        Wall time of the method's stage(s).
    method_cpu_seconds : float
        CPU time of the method's stage(s) (user + system).
    history : list of dict
        One record per epoch and stage, as in ``log.jsonl``.
    front : dict or None
        The test front (``FrontResult.to_dict()``) when the config has a test split.
    """

    run_dir: str
    method: str
    reference_path: str
    config_path: str
    plan_path: str
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
        """The result as a JSON-ready mapping (what ``ltr-hyperdpo train`` prints).

        Returns
        -------
        dict
            Every field by name.
        """
        return dict(self.__dict__)


def cache_inputs(cfg: RunConfig, cache_dir: str | os.PathLike | None,
                 paths: tuple[str, str | None, str | None] | None = None) -> list[str | None]:
    """The (train, vali, test) paths to read: text splits replaced by their Arrow caches (made once) when a cache
    directory is given (``data.cache_dir`` first). ``paths``: the located splits (default: :func:`locate_splits`)."""
    located = paths or locate_splits(cfg)
    cache = cfg.data.cache_dir or cache_dir
    return [str(cached_input(p, cache, progress=cfg.progress)) if p and cache is not None else p or None
            for p in located]


def load_run_splits(cfg: RunConfig, cache_dir: str | os.PathLike | None = None,
                    paths: tuple[str, str | None, str | None] | None = None) -> Splits:
    """The run's (train, vali, test) datasets: objectives and normaliser fitted on the training split; text splits
    read from their Arrow caches when ``cache_dir`` (or ``data.cache_dir``) is set."""
    d = cfg.data
    located = paths or locate_splits(cfg)
    train_p, vali_p, test_p = cache_inputs(cfg, cache_dir, located)
    pairs = ((train_p, located[0]), (vali_p, located[1]), (test_p, located[2]))
    renamed = [(str(cached), str(user)) for cached, user in pairs if cached and user and cached != user]
    try:
        tr, va, te = load_splits(train_p or located[0], vali_p, test_p, objectives=d.objectives,
                                 normalize=d.normalize, vali_fraction=d.vali_fraction, seed=cfg.seed)
    except (UserError, ValueError, OSError) as e:  # messages name the user's files, not the caches
        msg = str(e)
        for cached, user in renamed:
            msg = msg.replace(cached, user)
        if msg == str(e):
            raise
        raise DataError(msg) from None
    for ds, read, given in ((tr, train_p, located[0]), (va, vali_p, located[1]), (te, test_p, located[2])):
        if ds is not None and read and given:
            ds.name = ds.name.replace(read, given)
    return tr, va, te


def run_inputs(cfg: RunConfig, paths: tuple[str, str | None, str | None]) -> dict[str, str | None]:
    """The files a run reads, by config key (fingerprinted in ``inputs.json``; ``--resume`` refuses a change)."""
    out: dict[str, str | None] = dict(zip(("data.train", "data.vali", "data.test"), paths, strict=True))
    for key in ("data.train", "data.vali", "data.test"):
        path = out[key]
        if path and Path(path).is_file() and storage_format(path) == "text":
            group = resolve_group_file(path, None)
            out[f"{key} (group file)"] = str(group) if group else None
    if isinstance(cfg.data.objectives, str):
        out["data.objectives"] = cfg.data.objectives  # a spec file (a preset name is no file and is skipped)
    out["reference.checkpoint"] = cfg.reference.checkpoint
    return out


def check_resume(run_dir: Path, cfg: RunConfig, plan: RunPlan) -> None:
    """A resumed run must train what it started with: the saved plan (or, for a run from before plans, the saved
    config read through the legacy shim) must equal this one."""
    if (run_dir / PLAN_NAME).exists():
        check_resume_plan(run_dir, plan)
    elif (run_dir / "config.json").exists():
        check_resume_config(run_dir, cfg.to_dict(), RESUME_HARMLESS_KEYS, saved=saved_config(run_dir).to_dict())


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def train(cfg: RunConfig, run_dir: str | os.PathLike, *, resume: bool = False, splits: Splits | None = None,
          on_epoch: Callable[[str, dict], None] | None = None, callbacks: Sequence[Callback] = ()) -> RunResult:
    """Train a run: the reference stage, then the method (HyperDPO by default), into ``run_dir``.

    The directory is held under a lock for the whole run. ``cfg`` is not modified; what the run trains is
    ``resolve(cfg, data)``, written as ``RUN/plan.json`` beside ``config.json``, the models, ``log.jsonl``, the
    checkpoints and, when a test split is set, the test front (``front/``).

    Parameters
    ----------
    cfg : RunConfig
        The run's configuration (the user's intent, validated when it was built).
    run_dir : str or os.PathLike
        The run directory: new, empty, or (with ``resume``) an interrupted run of the same config and data.
    resume : bool, default False
        Continue an interrupted run from its last checkpoint; the result equals an uninterrupted run's.
    splits : tuple of RankingDataset, optional
        Already loaded (train, vali, test) splits; skips loading the data (benchmarks reuse loaded splits).
    on_epoch : callable, optional
        ``on_epoch(stage, record)``, called after every epoch once its checkpoint is written (the short form of a
        callback).
    callbacks : sequence of Callback, default ()
        ``ltr_hyperdpo.runs.callbacks.Callback`` objects added to every stage's loop (reference, the method's model
        or each member) beside the built-in ones (early stopping, progress, log, checkpoints, memory release); each
        event gets a ``CallbackEnv`` (``env.stage.name``, ``env.record``; ``env.state.done = True`` stops the
        stage).

    Returns
    -------
    RunResult
        Paths, validation figures, timings and, when a test split is set, the test front.

    Raises
    ------
    ConfigError
        A setting cannot be resolved against the data (e.g. a method parameter out of range for K objectives).
    DataError
        A split cannot be read or does not match the training split (features, objectives).
    UserError
        The run directory is in use or holds another run (``RunDirError``), a resume does not match the run
        (config, data fingerprints), a checkpoint is damaged, or the loss diverged (the last good checkpoint is
        kept).
    """
    run_dir = Path(run_dir)
    device = resolve_device(cfg.device)
    main = init_from_env(device.type).main
    created = not run_dir.exists()
    cbs = (*callbacks, *([EpochHook(on_epoch)] if on_epoch is not None else []))
    # before the lock file, so that a directory not ours is left untouched (rank 0 checks; every rank raises)
    on_main(lambda: check_new_or_resume(run_dir, resume))
    if not main:  # under torchrun, rank 0 holds the lock and writes the run directory
        return _train(cfg, run_dir, resume, splits, cbs, device, [])
    claimed: list[bool] = []
    try:
        with RunLock(run_dir):
            return _train(cfg, run_dir, resume, splits, cbs, device, claimed)
    except BaseException:
        if created and not claimed and run_dir.is_dir() and not any(p.name != ".lock" for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)  # refused before writing anything: leave no directory
        if claimed and not resume:  # failed before its first checkpoint: nothing of it stays
            discard_unstarted(run_dir, created)
        raise


def train_worker(spec: dict) -> dict | None:
    """The per-process entry of a multi-process run for launchers that call a function in every worker (Ray Train's
    ``TorchTrainer``, which sets up the process group); ``torchrun`` runs ``ltr-hyperdpo train`` instead.

    ``spec``: ``{"config": run config dict, "out": run directory (shared by the workers), "resume": bool}``.
    Returns the result dict on rank 0, ``None`` elsewhere."""
    res = train(RunConfig.from_dict(spec["config"]), spec["out"], resume=bool(spec.get("resume", False)))
    return res.to_dict() if is_main() else None


def _train(cfg: RunConfig, run_dir: Path, resume: bool, splits: Splits | None, callbacks: Sequence[Callback],
           device: torch.device, claimed: list[bool]) -> RunResult:
    cfg_dict = cfg.to_dict()
    d = cfg.data
    paths = (d.train, d.vali, d.test) if splits is not None else locate_splits(cfg)
    inputs = run_inputs(cfg, paths)

    def check() -> None:
        check_new_or_resume(run_dir, resume)
        if resume and (run_dir / "config.json").exists():
            check_inputs(run_dir, inputs)
        if not resume:
            record_inputs(run_dir, inputs)  # first: the directory is this run's from here on

    on_main(check)
    claimed.append(True)
    set_threads(cfg.threads)
    t_start = time.perf_counter()
    if splits is None:
        cache = run_dir / DATA_CACHE
        on_main(lambda: cache_inputs(cfg, cache, paths))  # rank 0 converts text inputs once; every process reads
        splits = load_run_splits(cfg, cache, paths)
    tr, va, te = splits
    plan = resolve(cfg, DataSummary(train=paths[0], vali=paths[1], test=paths[2], n_features=tr.n_features,
                                    n_objectives=tr.n_objectives, objective_names=tuple(tr.objective_names)))
    if resume:
        on_main(lambda: check_resume(run_dir, cfg, plan))
    if tr.n_objectives == 1 and plan.method.name != "reference":
        warnings.warn(f"{paths[0]}: only one objective ({tr.objective_names[0]}): stage 2 is single-objective "
                      f"PL-DPO fine-tuning and every weight gives the same point; set data.objectives (a preset such "
                      f"as mslr5 or mq2008, or a spec file) for a trade-off front", stacklevel=2)
    for copy in near_copies(tr):
        warnings.warn(f"{paths[0]}: {copy.message()}", stacklevel=2)
    if tr.state is None:
        raise ValueError("the training split has no fitted state (load it with RankingDataset.load(fit=True))")
    data_state = {**tr.state.to_dict(), "n_features": tr.n_features, "n_objectives": tr.n_objectives}

    def write_inputs() -> None:
        record_inputs(run_dir, inputs)
        atomic_write_json(run_dir / "config.json", cfg_dict)
        write_plan(run_dir, plan)
        write_versions(run_dir)
        atomic_write_json(run_dir / "data_state.json", data_state)
        if not resume and (run_dir / "log.jsonl").exists():
            (run_dir / "log.jsonl").unlink()

    on_main(write_inputs)
    tracked = trackers(cfg.logging, run_dir, list(tr.objective_names)) if is_main() else []
    callbacks = (*callbacks, *tracked)
    ck = run_dir / "checkpoint.pt"
    state = load_latest(ck) if resume and (ck.exists() or previous_path(ck).exists()) else None

    t1 = time.perf_counter()
    reference, ref_hist, ref_best = train_reference(plan, tr, va, run_dir, resume_state=state, callbacks=callbacks,
                                                    device=device, progress=cfg.progress)
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    ref_seconds = time.perf_counter() - t1

    K = tr.n_objectives
    grid = np.asarray(plan.eval.test_weights, dtype=np.float64)
    method = get_method(plan.method.name)
    members = plan.method.member_weights
    ctx = FitContext(method=plan.method.name, train=tr, vali=va, reference=reference, run_dir=run_dir,
                     stage2=plan.stage2, params=plan.method_params(), scorer=plan.scorer,
                     learning_rates=dict(plan.method.learning_rates), seed=plan.seed,
                     batch_size=plan.data.batch_size, slate_length=plan.data.slate_length, front_k=plan.eval.ks[0],
                     val_weights=np.asarray(plan.eval.val_weights, dtype=np.float64),
                     member_weights=np.asarray(members if members is not None else np.ones((1, K)) / K),
                     ref_point=plan.eval.ref_point, progress=cfg.progress, resume=state, callbacks=tuple(callbacks),
                     blank_policy=plan.eval.blank_policy, device=device, precision=plan.precision)
    t2, c2 = time.perf_counter(), _cpu()
    outcome = method.fit(ctx)
    method_seconds, method_cpu = time.perf_counter() - t2, _cpu() - c2
    result = RunResult(run_dir=str(run_dir), method=plan.method.name, reference_path=str(run_dir / "reference.pt"),
                       config_path=str(run_dir / "config.json"), plan_path=str(run_dir / PLAN_NAME),
                       best_val_reference=float(ref_best), best_val_hypervolume=float(outcome.val_hypervolume),
                       train_seconds=time.perf_counter() - t_start, reference_seconds=ref_seconds,
                       method_seconds=method_seconds, method_cpu_seconds=method_cpu,
                       history=list(ref_hist) + list(outcome.history))
    if not is_main():  # rank 0 evaluates and writes the outputs
        barrier()
        return result
    front = None
    if te is not None:
        ks = tuple(plan.eval.ks)
        res = evaluate_front(outcome.ranker, te, grid, ks=ks, ref_point=plan.eval.ref_point,
                             blank_policy=plan.eval.blank_policy, device=device)
        res.extra["grid"] = describe_grid(grid, plan.eval.grid_method)
        if members is not None:  # the budget, and the members' front on their own training weights
            trained = np.asarray(members, dtype=np.float64)
            own = evaluate_front(outcome.ranker, te, trained, ks=ks, ref_point=plan.eval.ref_point,
                                 blank_policy=plan.eval.blank_policy, device=device)
            res.extra["members"] = {"M": int(len(trained)), "grid": describe_grid(trained),
                                    "hypervolume_on_training_weights": own.hypervolume}
        write_front(res, run_dir / "front",
                    serve_command=f"ltr-hyperdpo predict {run_dir} --data DATA --w {{w}} --out scores.tsv")
        front = res.to_dict()
    result.front = front
    result.train_seconds = time.perf_counter() - t_start
    atomic_write_json(run_dir / "result.json", result.to_dict())
    write_model_card(run_dir, cfg, plan, tr, va, front, method.label or plan.method.name)
    front_files = sorted((run_dir / "front").glob("front.*")) if front is not None else []
    for t in tracked:
        t.finish(plan.to_dict(), front_files)
    barrier()
    return result
