"""Experiment tracking through the training callbacks: a run with ``logging: {tensorboard: DIR, mlflow: URI}``
writes a TensorBoard event file and an MLflow run, and both read back equal to ``log.jsonl`` (losses, validation
hypervolume, every objective's NDCG at every validation weight), with the plan as parameters and the front as
artifacts."""
from __future__ import annotations

import json

import pytest

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.runs.tracking import flat_params, scalars
from ltr_hyperdpo.training import RunConfig, train


def test_scalars_flatten_validation_grids_and_skip_what_is_not_a_number():
    rec = {"stage": "hyperdpo", "epoch": 2, "loss": 0.5, "val_hypervolume": float("nan"), "best": True,
           "val_ndcg@10": [[0.1, 0.2], [0.3, 0.4]]}
    got = dict(scalars(rec, ["rel", "fresh"]))
    assert got == {"loss": 0.5, "val_ndcg@10/rel/w0": 0.1, "val_ndcg@10/fresh/w0": 0.2, "val_ndcg@10/rel/w1": 0.3,
                   "val_ndcg@10/fresh/w1": 0.4}
    assert flat_params({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": "1", "a.c": "[1, 2]", "d": "x"}


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    d = tmp_path_factory.mktemp("tracked")
    for name, seed, q in (("train", 0, 60), ("test", 1, 25)):
        assert main(["synth", str(d / f"{name}.parquet"), "--queries", str(q), "--docs-per-query", "12",
                     "--features", "10", "--seed", str(seed)]) == 0
    uri = (d / "mlruns").as_uri()
    cfg = RunConfig.from_dict({"data": {"train": str(d / "train.parquet"), "test": str(d / "test.parquet"),
                                        "batch_size": 16},
                               "model": {"hidden": [16]}, "reference": {"epochs": 2}, "hyperdpo": {"epochs": 3},
                               "logging": {"tensorboard": "tb", "mlflow": uri, "mlflow_experiment": "t"},
                               "progress": False})
    train(cfg, d / "run")
    log = [json.loads(x) for x in (d / "run" / "log.jsonl").read_text().splitlines()]
    return d, uri, log


def test_tensorboard_event_file_reads_back_the_log(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    d, _, log = tracked_run
    acc = EventAccumulator(str(d / "run" / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for stage in ("reference", "hyperdpo"):
        recs = [r for r in log if r["stage"] == stage]
        loss = [(e.step, e.value) for e in acc.Scalars(f"{stage}/loss")]
        assert loss == [(r["epoch"], pytest.approx(r["loss"], rel=1e-6)) for r in recs]
    hd = [r for r in log if r["stage"] == "hyperdpo"]
    hv = [e.value for e in acc.Scalars("hyperdpo/val_hypervolume")]
    assert hv == [pytest.approx(r["val_hypervolume"], rel=1e-6) for r in hd]
    nd = hd[-1]["val_ndcg@10"]  # [weights, objectives]
    assert len(nd) >= 2 and all(f"hyperdpo/val_ndcg@10/{o}/w{i}" in tags for i in range(len(nd))
                                for o in ("relevance", "aux1"))
    last = acc.Scalars("hyperdpo/val_ndcg@10/aux1/w0")[-1].value
    assert last == pytest.approx(nd[0][1], rel=1e-6)
    assert any(t.startswith("plan") for t in acc.Tags()["tensors"])  # add_text is stored as a text tensor
    assert any(t.startswith("front/") for t in acc.Tags()["images"])


def test_mlflow_run_reads_back_the_log_plan_and_front(tracked_run):
    from mlflow.tracking import MlflowClient

    d, uri, log = tracked_run
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("t")
    (run,) = client.search_runs([exp.experiment_id])
    hist = client.get_metric_history(run.info.run_id, "hyperdpo/loss")
    want = [(r["epoch"], r["loss"]) for r in log if r["stage"] == "hyperdpo"]
    assert sorted((m.step, m.value) for m in hist) == [(e, pytest.approx(v, rel=1e-9)) for e, v in want]
    assert client.get_metric_history(run.info.run_id, "hyperdpo/val_ndcg_at_10/relevance/w0")
    plan = json.loads((d / "run" / "plan.json").read_text())
    assert run.data.params["seed"] == str(plan["seed"]) and run.data.params["method.name"] == plan["method"]["name"]
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "front")}
    assert {"front/front.json", "front/front.png", "front/front.html"} <= arts
    assert run.info.status == "FINISHED"


def test_a_tracker_that_cannot_open_names_the_key(tmp_path):
    pytest.importorskip("mlflow")
    from ltr_hyperdpo.runs.tracking import MLflowLog

    with pytest.raises(ConfigError, match="logging.mlflow"):
        MLflowLog("nosuchscheme://x/y", "e")
