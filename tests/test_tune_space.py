"""Optuna searches the user defines: a ``search_space`` section (every other base value kept), the default space
leaving the user's own values alone, a reproducible one-worker study, multi-objective targets with their Pareto
trials, and two workers on a real PostgreSQL server."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.tune import SearchSpace, parse_targets, run_study, suggest

SPACE = {"hyperdpo.lr": {"float": [3e-4, 1e-2], "log": True}, "hyperdpo.epochs": {"int": [1, 3]},
         "model.hidden": {"categorical": [[8], [16, 8]]}, "method.params.alpha": {"float": [0.2, 2.0]}}


def study() -> optuna.Study:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))


def test_search_space_searches_its_keys_and_keeps_every_other_value():
    base = {"model": {"hidden": [32], "dropout": 0.0}, "reference": {"epochs": 7}}
    space = SearchSpace.parse({"hyperdpo.lr": SPACE["hyperdpo.lr"], "hyperdpo.epochs": SPACE["hyperdpo.epochs"]},
                              base)
    seen = set()
    st = study()
    for _ in range(15):
        t = st.ask()
        c = suggest(t, base, space)
        assert c["model"]["hidden"] == [32] and c["reference"]["epochs"] == 7  # not in the space: kept
        assert 3e-4 <= c["hyperdpo"]["lr"] <= 1e-2 and c["hyperdpo"]["epochs"] in (1, 2, 3)
        assert set(t.params) == {"hyperdpo.lr", "hyperdpo.epochs"}
        seen.add(c["hyperdpo"]["epochs"])
    assert len(seen) > 1
    s2 = SearchSpace.parse({"model.hidden": SPACE["model.hidden"]}, {})
    st = study()
    hidden = {tuple(suggest(st.ask(), {}, s2)["model"]["hidden"]) for _ in range(20)}
    assert hidden <= {(8,), (16, 8)} and len(hidden) == 2


def test_default_space_leaves_the_users_values_alone():
    t = study().ask()
    c = suggest(t, {"model": {"hidden": [32]}, "hyperdpo": {"lr": 0.001}})
    assert c["model"]["hidden"] == [32] and c["hyperdpo"]["lr"] == 0.001
    assert "width" not in t.params and "lr" not in t.params and "beta" in t.params
    t2 = study().ask()
    suggest(t2, {})
    assert {"lr", "beta", "width"} <= set(t2.params)


@pytest.mark.parametrize("section, match", [
    ({"model.nope": {"int": [1, 2]}}, r"search_space\.model\.nope"),
    ({"hyperdpo.lr": {"float": [0.1, 0.01]}}, r"search_space\.hyperdpo\.lr: float needs \[low, high\]"),
    ({"hyperdpo.lr": {"float": [0.0, 0.1], "log": True}}, "log range needs low > 0"),
    ({"hyperdpo.lr": {"float": [0.1, 0.2], "int": [1, 2]}}, "exactly one of"),
    ({"hyperdpo.epochs": {"categorical": []}}, "non-empty list"),
    ({"hyperdpo.epochs": {"int": [0, 3]}}, r"search_space\.hyperdpo\.epochs"),  # epochs >= 1 in the run config
])
def test_a_bad_search_space_names_its_key(section, match):
    with pytest.raises(ConfigError, match=match):
        SearchSpace.parse(section, {})


def test_targets_parse_and_refuse_bad_specs():
    (t,) = parse_targets(["relevance@1,0,0"])
    assert t.objective == "relevance" and t.w == (1.0, 0.0, 0.0) and t.label == "relevance@1,0,0"
    for bad in ("relevance", "relevance@", "@1,0", "x@a,b", "x@0,0", "x@-1,2"):
        with pytest.raises(ConfigError, match="--target"):
            parse_targets([bad])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune_space")
    assert main(["synth", str(d / "train.parquet"), "--queries", "60", "--docs-per-query", "15", "--features", "10",
                 "--seed", "0"]) == 0
    return {"data": {"train": str(d / "train.parquet"), "batch_size": 16},
            "model": {"hidden": [8], "dropout": 0.0}, "reference": {"epochs": 1}, "hyperdpo": {"epochs": 1},
            "eval": {"val_grid": 3}, "progress": False, "threads": 1,
            "search_space": {"hyperdpo.lr": SPACE["hyperdpo.lr"], "method.params.alpha": SPACE["method.params.alpha"]}}


@pytest.mark.slow
def test_a_one_worker_study_is_reproducible_from_its_seed(base, tmp_path):
    a = run_study(base, tmp_path / "a", 3, progress=False, seed=5)
    b = run_study(base, tmp_path / "b", 3, progress=False, seed=5)
    c = run_study(base, tmp_path / "c", 3, progress=False, seed=6)
    pa, pb, pc = ([json.loads((Path(r["study_dir"]) / f"trial_{i}" / "config.json").read_text())["hyperdpo"]["lr"]
                   for i in range(3)] for r in (a, b, c))
    assert pa == pb and pa != pc
    assert a["best_params"] == b["best_params"] and set(a["best_params"]) == {"hyperdpo.lr", "method.params.alpha"}
    trial0 = json.loads((Path(a["study_dir"]) / "trial_0" / "config.json").read_text())
    assert trial0["model"]["hidden"] == [8]  # the base's size, not a searched one


@pytest.mark.slow
def test_targets_make_a_multi_objective_study_with_pareto_trials(base, tmp_path):
    targets = parse_targets(["relevance@1,0", "aux1@0,1"])
    res = run_study(base, tmp_path / "w", 4, progress=False, targets=targets)
    assert res["targets"] == ["relevance@1,0", "aux1@0,1"] and res["pareto_trials"]
    for p in res["pareto_trials"]:
        assert set(p["values"]) == {"relevance@1,0", "aux1@0,1"}
        assert all(0.0 <= v <= 1.0 for v in p["values"].values())
    assert json.loads(Path(res["pareto"]).read_text()) == res["pareto_trials"]
    vals = [tuple(p["values"].values()) for p in res["pareto_trials"]]
    for v in vals:  # no Pareto trial dominates another
        assert not any(all(x >= y for x, y in zip(o, v, strict=True)) and o != v for o in vals)
    with pytest.raises(ConfigError, match="no objective 'nope'"):
        run_study(base, tmp_path / "w2", 1, progress=False, targets=parse_targets(["nope@1,0"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def postgres(tmp_path):
    """A real PostgreSQL server on a free local port (initdb/pg_ctl; run as the postgres user when root)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("no initdb/pg_ctl here (PostgreSQL server binaries)")
    pytest.importorskip("psycopg2", reason="the tune extra's psycopg2-binary talks to PostgreSQL")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    d = Path(tempfile_dir := os.path.join("/tmp", f"ltr-pg-{os.getpid()}-{time.time_ns()}"))
    d.mkdir()
    if as_user:
        shutil.chown(d, "postgres", "postgres")
    data, port = d / "data", free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "--auth=trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(d / "log"), "-w", "-o",
                    f"-p {port} -k {d} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "CREATE DATABASE optuna"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tempfile_dir, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_share_a_postgresql_study_exactly(base, tmp_path, postgres):
    cfg = {k: v for k, v in base.items() if k != "search_space"}
    (tmp_path / "base.json").write_text(json.dumps(cfg))
    cmd = [sys.executable, "-m", "ltr_hyperdpo", "tune", "--config", str(tmp_path / "base.json"), "--trials", "4",
           "--storage", postgres, "--work", str(tmp_path / "work")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    trials = optuna.load_study(study_name="ltr_hyperdpo", storage=postgres).get_trials()
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 4  # the budget check holds a PostgreSQL advisory lock: exact
    assert len({tuple(sorted(t.params.items())) for t in done}) == len(done)  # distinct parameters
    assert {t.system_attrs["ltr_hyperdpo_worker"]["pid"] for t in trials} == {p.pid for p in procs}
