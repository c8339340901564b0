"""`ltr-hyperdpo tune`: an Optuna study maximising validation hypervolume (or, with targets, several validation
NDCGs at once), run by one worker or by many at once on a shared storage.

The search space is the base config's ``search_space`` section, or the default space (learning rate, Dirichlet α, β
or the β range, model size, prompt length) less the keys the base config sets (see :mod:`.space`). Each study owns a
folder ``WORK/<study name>-<study id>`` (the id is drawn once per study and stored in it, so two studies, or two
in-memory runs of one name, sharing ``--work`` never touch each other's files); each trial trains into ``trial_N``
there; intermediate validation hypervolumes are reported every epoch and unpromising trials are pruned (median
pruner). The best trial's full config is written to ``best_config.json`` in the study's folder.

Several workers (processes or machines) share a study through ``--storage``:

* ``sqlite:///study.db`` (one machine) and any SQLAlchemy URL (``postgresql://...``, ``mysql+pymysql://...``;
  several machines) use Optuna's RDB storage with heartbeats: a trial whose worker died is failed when another
  worker (or a restart) next asks for a trial, and retried with the same parameters
  (``RetryHeartbeatStaleTrialCallback``).
* a plain file path (``study.journal``) uses Optuna's JournalStorage file backend (several processes of one
  machine); it has no heartbeat, so a restarted worker fails and retries the trials of dead processes of its host.

Every worker records (host, pid) on a trial in the same locked step that asks for it, so the running trials of a
dead process of this host are failed and retried on any storage, even when it died before its first heartbeat;
a running trial with no such record (its worker died between the two) is failed at once under the lock of a local
storage, and after three heartbeat intervals on a server database. The folder of a trial failed that way is
removed; a trial that failed with an error keeps its folder for inspection.

``--trials`` is the study's total: before asking for a trial, a worker counts the study's complete, pruned and
running trials under a lock beside the storage file (SQLite, journal), so concurrent workers stop at exactly that
many; on PostgreSQL the same steps hold an advisory lock, so the budget is exact there too; on another server
database the count is not locked and concurrent workers may overshoot by at most one trial each.
Every worker seeds its sampler from ``--seed`` and its number in the study (counted in the storage): the first (or
only) worker uses ``--seed`` itself, so a one-worker study on a fresh storage is reproducible, and later workers
propose different parameters. The data are converted once per study: the first worker converts text inputs into
``WORK/data_cache`` (content-keyed) under a lock while the others wait, then read that cache. Creating the study is
serialised by the same lock (and retried on a server database).
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import shutil
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from ..errors import ConfigError
from ..eval.front import evaluate_front
from ..serving import load_run
from ..training import RunConfig, load_run_splits, train, upgrade
from ..utils.io import atomic_write_json
from ..utils.procs import pid_alive
from ..utils.progress import say
from .space import SearchSpace, TargetSpec, suggest

#: states that use up the ``--trials`` budget (failed trials do not: they are retried)
BUDGET_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
#: how many times a trial of a dead worker is retried
MAX_RETRY = 2
#: trial system attribute: the (host, pid) of the worker running it
WORKER_ATTR = "ltr_hyperdpo_worker"
#: study system attribute: the id that names the study's folder under ``--work``
STUDY_ID_ATTR = "ltr_hyperdpo_study_id"
#: trial user attribute: the error a trial failed with (its folder is kept)
ERROR_ATTR = "error"
_engines: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()
#: study system attribute: how many workers have joined (each seeds its sampler with its own number)
WORKERS_ATTR = "ltr_hyperdpo_workers"


# storage -------------------------------------------------------------------------------------------------------
def storage_file(spec: str | None) -> Path | None:
    """The local file behind a storage spec (SQLite database or journal), else ``None``."""
    if not spec:
        return None
    if spec.startswith("sqlite:///"):
        return Path(spec[len("sqlite:///"):])
    return None if "://" in spec else Path(spec)


def open_storage(spec: str | None, heartbeat: int) -> optuna.storages.BaseStorage | None:
    """The Optuna storage for ``--storage`` (``None``: in memory, one worker)."""
    if not spec:
        return None
    if "://" not in spec:
        Path(spec).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(spec)))
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 120}} if spec.startswith("sqlite") else {}
    for attempt in range(5):  # a server database's tables may be created by another worker at the same moment
        try:
            with warnings_off():
                retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
                return RDBStorage(spec, engine_kwargs=kwargs, heartbeat_interval=heartbeat,
                                  grace_period=3 * heartbeat, heartbeat_stale_trial_callback=retry)
        except Exception as e:  # noqa: BLE001 - the last attempt's error is raised with the URL named
            if attempt == 4:
                raise ConfigError(f"--storage {spec}: {' '.join(str(e).split())[:300]}") from None
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def warnings_off() -> Iterator[None]:
    """Optuna's experimental-feature warnings (heartbeats), and its warning that heartbeats belong to
    ``Study.optimize`` (this module beats for the trials it asks for: :class:`Heartbeat`), are noise here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


#: the PostgreSQL advisory-lock key of the study's budget check and study creation (any constant of the project's)
PG_LOCK_KEY = 0x4C545248


@contextlib.contextmanager
def storage_lock(spec: str | None) -> Iterator[None]:
    """An exclusive lock: beside a local storage file (blocking), or a PostgreSQL advisory lock on a PostgreSQL
    storage (held by its own connection); nothing for in-memory or other server storages."""
    if spec and spec.startswith("postgresql"):
        import sqlalchemy

        engine = _engines.setdefault(spec, sqlalchemy.create_engine(spec, poolclass=sqlalchemy.pool.NullPool))
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({PG_LOCK_KEY})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({PG_LOCK_KEY})")
        return
    f = storage_file(spec)
    if f is None:
        yield
        return
    with file_lock(Path(str(f) + ".ltr-hyperdpo-lock")):  # not Optuna's own ".lock"
        yield


class Heartbeat:
    """Records a running trial's heartbeat in the storage every ``interval`` seconds (RDB storages)."""

    def __init__(self, storage: Any, trial_id: int, interval: int):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.is_set():
            self.storage.record_heartbeat(self.trial_id)
            self.stop.wait(self.interval)

    def __enter__(self) -> Heartbeat:
        if isinstance(self.storage, RDBStorage):
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def fail_dead_workers(study: optuna.Study, store: optuna.storages.BaseStorage, heartbeat: int, locked: bool,
                      study_dir: Path) -> int:
    """Fail (and retry) the running trials whose worker is gone: a dead process of this host, or no worker record
    at all (see the module docstring); their trial folders are removed. Returns the number of trials failed."""
    host, n = socket.gethostname(), 0
    now = datetime.datetime.now()
    with warnings_off():
        retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.system_attrs.get(WORKER_ATTR)
        if worker:
            dead = worker["host"] == host and pid_alive(int(worker["pid"])) is False
        else:
            age = (now - t.datetime_start).total_seconds() if t.datetime_start else 0.0
            dead = locked or age > 3 * heartbeat
        if dead and store.set_trial_state_values(t._trial_id, TrialState.FAIL):
            retry(study, store.get_trial(t._trial_id))
            shutil.rmtree(study_dir / f"trial_{t.number}", ignore_errors=True)
            n += 1
    return n


def remove_stale_trial_dirs(study: optuna.Study, study_dir: Path) -> None:
    """Remove the folders of trials failed because their worker died (a heartbeat gone stale, or found dead
    here); trials that failed with an error (:data:`ERROR_ATTR`) keep theirs."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        d = study_dir / f"trial_{t.number}"
        if ERROR_ATTR not in t.user_attrs and d.exists():
            shutil.rmtree(d, ignore_errors=True)


def study_folder(study: optuna.Study, work: Path) -> Path:
    """``WORK/<name>-<id>``: the study's own folder (its id drawn once and stored in the study)."""
    storage, sid = study._storage, study._study_id  # Study.set_system_attr is deprecated; the storage's is not
    uid = storage.get_study_system_attrs(sid).get(STUDY_ID_ATTR)
    if uid is None:
        uid = uuid.uuid4().hex[:8]
        storage.set_study_system_attr(sid, STUDY_ID_ATTR, uid)
    return work / f"{study.study_name}-{uid}"


def worker_seed(seed: int, index: int) -> int:
    """The sampler seed of the study's ``index``-th worker (0 for the first, or only, one): ``seed`` itself for it,
    so a one-worker study on a fresh storage is reproducible, and distinct for every later worker."""
    return (seed + 1_000_003 * index) % (2 ** 31 - 1)


def join_study(study: optuna.Study, store: Any) -> int:
    """This worker's number in the study (counted in the study's system attributes; call under the storage lock)."""
    if store is None:
        return 0
    n = int(store.get_study_system_attrs(study._study_id).get(WORKERS_ATTR, 0))
    store.set_study_system_attr(study._study_id, WORKERS_ATTR, n + 1)
    return n


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (blocking): the workers of a study convert the data once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# the study -----------------------------------------------------------------------------------------------------
def run_study(base: dict, work: str | Path, n_trials: int, storage: str | None = None,
              study_name: str = "ltr_hyperdpo", seed: int = 0, heartbeat: int = 60,
              progress: bool = True, targets: list[TargetSpec] | None = None) -> dict:
    """Run (or join, or resume) the study until it holds ``n_trials`` complete or pruned trials; returns the best
    trial's value, params and config path (with ``targets``: the Pareto trials). ``base`` may hold a
    ``search_space`` section (:mod:`ltr_hyperdpo.tune.space`)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    base = upgrade(base)  # a copy in today's layout: method parameters under method.params
    section = base.pop("search_space", None)
    space = SearchSpace.parse(section, base) if section is not None else None
    base["progress"] = False
    cfg = RunConfig.from_dict(base)
    # the first worker converts, the others read its cache; workers that are threads of one process also take turns
    # (the loaders' numba parallel kernels are not launched from two threads at once)
    with _LOAD_LOCK, file_lock(work / "data_cache" / ".convert.lock"):
        splits = load_run_splits(cfg, work / "data_cache")
    if targets:
        check_targets(targets, list(splits[0].objective_names))
    store = open_storage(storage, heartbeat)
    directions: list[Any] | None = ["maximize"] * len(targets) if targets else None
    with storage_lock(storage):  # two workers starting together create the study once
        study = optuna.create_study(study_name=study_name, storage=store, load_if_exists=True,
                                    direction=None if directions else "maximize", directions=directions,
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
        if len(study.directions) != (len(targets) if targets else 1):
            raise ConfigError(f"study {study_name!r} has {len(study.directions)} objective(s) in {storage}; "
                              f"this run asks for {len(targets) if targets else 1} (--target)")
        study.sampler = optuna.samplers.TPESampler(seed=worker_seed(seed, join_study(study, store)))
        folder = study_folder(study, work)
    locked = storage_file(storage) is not None
    while True:
        if isinstance(store, RDBStorage):
            with warnings_off():
                fail_stale_trials(study)
        with storage_lock(storage):  # the budget check and the new trial, atomically for local storages
            if store is not None:
                fail_dead_workers(study, store, heartbeat, locked, folder)
                remove_stale_trial_dirs(study, folder)
            if len(study.get_trials(deepcopy=False, states=BUDGET_STATES)) >= n_trials:
                break
            with warnings_off():
                trial = study.ask()
            if store is not None:  # who runs it, and a first heartbeat: a worker killed now is still found dead
                store.set_trial_system_attr(trial._trial_id, WORKER_ATTR,
                                            {"host": socket.gethostname(), "pid": os.getpid()})
                if isinstance(store, RDBStorage):
                    store.record_heartbeat(trial._trial_id)
        with Heartbeat(store, trial._trial_id, heartbeat):
            state, value = _run_trial(trial, base, folder, splits, space, targets)
        study.tell(trial, value, state=state)
        shown = (f", validation hypervolume {value:.4f}" if isinstance(value, float) else
                 f", validation NDCG {', '.join(f'{v:.4f}' for v in value)}" if value is not None else "")
        say(progress, f"tune: trial {trial.number} {state.name.lower()}{shown}; {_finished(study)} of {n_trials} "
                      f"done")
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    summary = {"n_trials": len(study.trials), "finished_trials": _finished(study), "running_elsewhere": running,
               "study_dir": str(folder)}
    if not done:
        if running:  # the budget is taken by other workers' trials: nothing to report yet
            return {"best_value": None, "best_params": None, "best_trial": None, "best_config": None, **summary}
        raise ConfigError(f"study {study_name!r}: no trial completed (all were pruned or failed)")
    if targets:
        pareto = [{"trial": t.number, "values": dict(zip([x.label for x in targets], t.values, strict=True)),
                   "params": t.params, "config": str(folder / f"trial_{t.number}" / "config.json")}
                  for t in sorted(study.best_trials, key=lambda t: t.number)]
        atomic_write_json(folder / "pareto.json", pareto)
        return {"targets": [t.label for t in targets], "pareto_trials": pareto, "pareto": str(folder / "pareto.json"),
                **summary}
    best = study.best_trial
    atomic_write_json(folder / "best_config.json", best.user_attrs["config"])
    return {"best_value": best.value, "best_params": best.params, "best_trial": best.number,
            "best_config": str(folder / "best_config.json"), **summary}


def check_targets(targets: list[TargetSpec], names: list[str]) -> None:
    """Each target names an objective of the data and gives one weight per objective."""
    for t in targets:
        if t.objective not in names:
            raise ConfigError(f"--target {t.label}: no objective {t.objective!r}; the data's objectives are "
                              f"{', '.join(names)}")
        if len(t.w) != len(names):
            raise ConfigError(f"--target {t.label}: needs {len(names)} weights ({', '.join(names)})")


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _run_trial(trial: optuna.Trial, base: dict, work: Path, splits: Any, space: SearchSpace | None = None,
               targets: list[TargetSpec] | None = None) -> tuple[TrialState, Any]:
    """Train one trial; (its final state, its value: the validation hypervolume, or with ``targets`` each target's
    validation NDCG). An error other than pruning fails the trial and is raised after the trial is told."""
    cfg_d = suggest(trial, base, space)
    run_dir = work / f"trial_{trial.number}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    trial.set_user_attr("config", cfg_d)

    def on_epoch(stage: str, rec: dict[str, Any]) -> None:
        if "val_hypervolume" in rec and not targets:  # Optuna prunes single-objective studies only
            trial.report(rec["val_hypervolume"], rec["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()

    try:
        cfg = RunConfig.from_dict(cfg_d)
        res = train(cfg, run_dir, splits=(splits[0], splits[1], None), on_epoch=on_epoch)
        if targets:
            run = load_run(run_dir)
            names = list(splits[1].objective_names)
            weights = np.array([t.w for t in targets], dtype=np.float64)
            front = evaluate_front(run.ranker, splits[1], weights, ks=(int(cfg.eval.ks[0]),), engine="kernel",
                                   blank_policy=cfg.eval.blank_policy)
            nd = front.metrics[f"ndcg@{int(cfg.eval.ks[0])}"]
            return TrialState.COMPLETE, [float(nd[i, names.index(t.objective)]) for i, t in enumerate(targets)]
    except optuna.TrialPruned:
        return TrialState.PRUNED, None
    except BaseException as e:
        trial.set_user_attr(ERROR_ATTR, " ".join(str(e).split())[:500] or type(e).__name__)
        trial.study.tell(trial, state=TrialState.FAIL)
        raise
    return TrialState.COMPLETE, res.best_val_hypervolume
