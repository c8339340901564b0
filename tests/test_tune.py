"""Tuning: resuming a study, several workers on one storage (exact budget, distinct parameters), and the trials
of a killed worker failed and retried on restart (heartbeats on SQLite, dead-process detection on a journal)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.training import RunConfig
from ltr_hyperdpo.tune import open_storage, run_study, storage_file


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    assert main(["synth", str(d / "train.parquet"), "--queries", "80", "--docs-per-query", "20", "--features", "12",
                 "--correlation", "-0.6", "--seed", "0"]) == 0
    cfg = {"data": {"train": str(d / "train.parquet"), "batch_size": 16},
           "model": {"kind": "mlp", "hidden": [16], "dropout": 0.0},
           "reference": {"epochs": 2, "lr": 3e-3}, "hyperdpo": {"epochs": 2}, "eval": {"val_grid": 3},
           "progress": False, "threads": 1}
    (d / "base.json").write_text(json.dumps(cfg))
    return d


def _storage(kind, tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite" else str(tmp_path / "study.journal")


def _worker(base, tmp_path, storage, trials, *extra):
    cmd = [sys.executable, "-m", "ltr_hyperdpo", "tune", "--config", str(base / "base.json"), "--trials",
           str(trials), "--storage", storage, "--work", str(tmp_path / "work"), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _study(storage):
    return optuna.load_study(study_name="ltr_hyperdpo", storage=open_storage(storage, 60))


def test_storage_kinds(tmp_path):
    assert storage_file("sqlite:///a/b.db").as_posix() == "a/b.db"
    assert storage_file(str(tmp_path / "s.journal")) == tmp_path / "s.journal"
    assert storage_file("postgresql://u@h/db") is None and storage_file(None) is None
    assert isinstance(open_storage(str(tmp_path / "s.journal"), 60), optuna.storages.JournalStorage)


@pytest.mark.slow
def test_tune_runs_and_resumes(base, tmp_path):
    cfg = json.loads((base / "base.json").read_text())
    st = f"sqlite:///{tmp_path / 'study.db'}"
    r1 = run_study(cfg, tmp_path / "w", 2, st, progress=False)
    r2 = run_study(cfg, tmp_path / "w", 3, st, progress=False)
    assert r1["finished_trials"] == 2 and r2["finished_trials"] == 3 and r2["n_trials"] == 3
    assert r1["study_dir"] == r2["study_dir"] and Path(r2["best_config"]) == Path(r2["study_dir"]) / "best_config.json"
    best = json.loads(Path(r2["best_config"]).read_text())
    assert RunConfig.from_dict(best).hyperdpo.lr == pytest.approx(r2["best_params"]["lr"])
    assert sorted(p.name for p in Path(r2["study_dir"]).glob("trial_*")) == ["trial_0", "trial_1", "trial_2"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_workers_started_together_share_the_budget(base, tmp_path, kind):
    storage = _storage(kind, tmp_path)
    procs = [_worker(base, tmp_path, storage, 4) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    trials = _study(storage).get_trials()
    assert len(trials) == 4 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == 4
    workers = {t.system_attrs["ltr_hyperdpo_worker"]["pid"] for t in trials}
    assert workers == {p.pid for p in procs}  # both worked


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_killed_workers_trial_is_failed_and_retried(base, tmp_path, kind):
    storage = _storage(kind, tmp_path)
    victim = _worker(base, tmp_path, storage, 2, "--heartbeat", "1")
    deadline = time.time() + 600  # generous: a loaded machine starts workers slowly
    while time.time() < deadline:  # wait until the victim runs a trial
        time.sleep(0.2)
        try:
            running = _study(storage).get_trials(states=(TrialState.RUNNING,))
        except Exception:  # noqa: BLE001 - the study may not exist yet
            continue
        if running and "config" in running[0].user_attrs:  # its parameters drawn: the trial is training
            break
    else:
        pytest.fail("the worker never started a trial")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    p = _worker(base, tmp_path, storage, 2, "--heartbeat", "1")
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
    trials = _study(storage).get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].number == running[0].number
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retried) == 1 and retried[0].params == failed[0].params
    assert retried[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 2


@pytest.mark.slow
def test_budget_check_and_new_trial_are_atomic(base, tmp_path, monkeypatch):
    """Two workers that check the budget at the same moment: without the lock both would see 0 of 1 trials and
    both ask for one (the ask is slowed down to widen the window)."""
    import threading

    real_ask = optuna.Study.ask

    def slow_ask(self, *a, **k):
        time.sleep(0.5)
        return real_ask(self, *a, **k)

    monkeypatch.setattr(optuna.Study, "ask", slow_ask)
    cfg = json.loads((base / "base.json").read_text())
    storage = _storage("sqlite", tmp_path)
    errors = []

    def worker(i):
        try:
            run_study(cfg, tmp_path / f"w{i}", 1, storage, progress=False)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(_study(storage).get_trials()) == 1
