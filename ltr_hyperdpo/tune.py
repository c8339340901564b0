"""`ltr-hyperdpo tune`: an Optuna study over the main hyperparameters, maximising validation hypervolume, run by
one worker or by many at once on a shared storage.

Searched: learning rate, Dirichlet α, β (or the β range of a temperature-conditioned model), model size (hidden
width, or d_model/layers for the transformer), prompt length (transformer). Each study owns a folder
``WORK/<study name>-<study id>`` (the id is drawn once per study and stored in it, so two studies, or two in-memory
runs of one name, sharing ``--work`` never touch each other's files); each trial trains into ``trial_N`` there;
intermediate validation hypervolumes are reported every epoch and unpromising trials are pruned (median pruner).
The best trial's full config is written to ``best_config.json`` in the study's folder.

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
many; on a server database the count is not locked and concurrent workers may overshoot by at most one trial each.
Every worker seeds its sampler from ``--seed``, its process id and its start time, so workers never propose the
same parameters. Creating the study is serialised by the same lock (and retried on a server database).
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import math
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

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from .errors import ConfigError
from .training import RunConfig, load_run_splits, method_parameters, train, upgrade
from .utils.io import atomic_write_json
from .utils.procs import pid_alive
from .utils.progress import say

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


def suggest(trial: optuna.Trial, base: dict) -> dict:
    """A config dict for this trial: ``base`` with the searched values set."""
    c = upgrade(base)
    h = c.setdefault("hyperdpo", {})
    m = c.setdefault("model", {})
    h["lr"] = trial.suggest_float("lr", 3e-4, 1e-2, log=True)
    if "alpha" in method_parameters(c["method"]["name"]):  # the one-model methods
        c["method"]["params"]["alpha"] = trial.suggest_float("alpha", 0.2, 2.0, log=True)
    if m.get("temperature_conditioned"):
        lo = trial.suggest_float("beta_lo", 0.05, 1.0, log=True)
        hi = lo * trial.suggest_float("beta_span", 2.0, 20.0, log=True)
        h["beta_range"] = [lo, hi]
        h["beta"] = math.sqrt(lo * hi)  # validated and stored inside the trained range (its geometric mean)
    else:
        h["beta"] = trial.suggest_float("beta", 0.1, 5.0, log=True)
    if m.get("kind", "mlp") == "transformer":
        m["d_model"] = trial.suggest_categorical("d_model", [32, 64, 128])
        m["n_layers"] = trial.suggest_int("n_layers", 1, 3)
        m["n_prompts"] = trial.suggest_int("n_prompts", 1, 8)
    else:
        width = trial.suggest_categorical("width", [64, 128, 256])
        m["hidden"] = [width, width // 2]
    return c


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


@contextlib.contextmanager
def storage_lock(spec: str | None) -> Iterator[None]:
    """An exclusive lock beside a local storage file (blocking); nothing for in-memory or server storages."""
    f = storage_file(spec)
    if f is None:
        yield
        return
    f.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(f) + ".ltr-hyperdpo-lock", os.O_RDWR | os.O_CREAT, 0o644)  # not Optuna's own ".lock"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


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


def worker_seed(seed: int) -> int:
    """A sampler seed distinct for every worker and start (pid and start time mixed into ``seed``)."""
    return (seed * 1_000_003 + os.getpid() * 7919 + time.time_ns() // 1000) % (2 ** 31 - 1)


# the study -----------------------------------------------------------------------------------------------------
def run_study(base: dict, work: str | Path, n_trials: int, storage: str | None = None,
              study_name: str = "ltr_hyperdpo", seed: int = 0, heartbeat: int = 60,
              progress: bool = True) -> dict:
    """Run (or join, or resume) the study until it holds ``n_trials`` complete or pruned trials; returns the best
    trial's value, params and config path."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    base = upgrade(base)  # a copy in today's layout: method parameters under method.params
    base["progress"] = False
    splits = load_run_splits(RunConfig.from_dict(base), work / "data_cache")  # text inputs converted once
    store = open_storage(storage, heartbeat)
    with storage_lock(storage):  # two workers starting together create the study once
        study = optuna.create_study(study_name=study_name, storage=store, load_if_exists=True,
                                    direction="maximize", sampler=optuna.samplers.TPESampler(seed=worker_seed(seed)),
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
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
            state, value = _run_trial(trial, base, folder, splits)
        study.tell(trial, value, state=state)
        say(progress, f"tune: trial {trial.number} {state.name.lower()}"
                      + (f", validation hypervolume {value:.4f}" if value is not None else "")
                      + f"; {_finished(study)} of {n_trials} done")
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    summary = {"n_trials": len(study.trials), "finished_trials": _finished(study), "running_elsewhere": running,
               "study_dir": str(folder)}
    if not done:
        if running:  # the budget is taken by other workers' trials: nothing to report yet
            return {"best_value": None, "best_params": None, "best_trial": None, "best_config": None, **summary}
        raise ConfigError(f"study {study_name!r}: no trial completed (all were pruned or failed)")
    best = study.best_trial
    atomic_write_json(folder / "best_config.json", best.user_attrs["config"])
    return {"best_value": best.value, "best_params": best.params, "best_trial": best.number,
            "best_config": str(folder / "best_config.json"), **summary}


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _run_trial(trial: optuna.Trial, base: dict, work: Path, splits: Any) -> tuple[TrialState, float | None]:
    """Train one trial; (its final state, its value). An error other than pruning fails the trial and is raised
    after the trial is told."""
    cfg_d = suggest(trial, base)
    run_dir = work / f"trial_{trial.number}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    trial.set_user_attr("config", cfg_d)

    def on_epoch(stage: str, rec: dict[str, Any]) -> None:
        if "val_hypervolume" in rec:
            trial.report(rec["val_hypervolume"], rec["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()

    try:
        res = train(RunConfig.from_dict(cfg_d), run_dir, splits=(splits[0], splits[1], None), on_epoch=on_epoch)
    except optuna.TrialPruned:
        return TrialState.PRUNED, None
    except BaseException as e:
        trial.set_user_attr(ERROR_ATTR, " ".join(str(e).split())[:500] or type(e).__name__)
        trial.study.tell(trial, state=TrialState.FAIL)
        raise
    return TrialState.COMPLETE, res.best_val_hypervolume
