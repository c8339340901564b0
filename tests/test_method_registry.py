"""A new method is one file plus one registry line, and then works everywhere: config, CLI, train, load, front."""
import json

import numpy as np
import pytest
from toy_method import CentreOnly

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.methods import get_method, labels, method_names, register, unregister
from ltr_hyperdpo.serving import load_run
from ltr_hyperdpo.training import RunConfig, train


@pytest.fixture
def toy():
    register(CentreOnly())  # the one registry line
    yield "centre_only"
    unregister("centre_only")


def test_unregistered_method_is_refused_by_the_config():
    with pytest.raises(ConfigError, match="config key 'method.name': expected one of .*got 'centre_only'"):
        RunConfig.from_dict({"method": "centre_only"})


@pytest.mark.slow
def test_toy_method_end_to_end(toy, tmp_path, capsys):
    assert toy in method_names() and labels()[toy] == "centre only (toy)" and get_method(toy).multi_run
    for name, seed, q in (("train", 0, 60), ("test", 1, 20)):
        assert main(["synth", str(tmp_path / f"{name}.parquet"), "--queries", str(q), "--docs-per-query", "20",
                     "--features", "12", "--seed", str(seed)]) == 0
    cfg = {"data": {"train": str(tmp_path / "train.parquet"), "batch_size": 16},
           "model": {"hidden": [16], "dropout": 0.0}, "reference": {"epochs": 2}, "hyperdpo": {"epochs": 2},
           "eval": {"grid": 5}, "progress": False}
    (tmp_path / "run.json").write_text(json.dumps(cfg))
    # through the CLI: --method takes the registered name
    assert main(["train", "--config", str(tmp_path / "run.json"), "--method", toy, "--out", str(tmp_path / "r")]) == 0
    meta = json.loads((tmp_path / "r" / "method.json").read_text())
    assert meta["method"] == toy and len(meta["members"]) == 1
    assert main(["front", str(tmp_path / "r"), "--data", str(tmp_path / "test.parquet"), "--grid", "5",
                 "--out", str(tmp_path / "f")]) == 0
    front = json.loads((tmp_path / "f" / "front.json").read_text())
    pts = np.array([p["ndcg@10"] for p in front["points"]])
    assert len(pts) == 5 and np.allclose(pts, pts[0])  # one model: the same point for every weight
    # and through the Python API, with the method's own parameter (validated, recorded in the plan, used)
    res = train(RunConfig.from_dict({**cfg, "method": {"name": toy, "params": {"main_share": 0.8}}}), tmp_path / "r2")
    assert res.method == toy and load_run(tmp_path / "r2").method == toy
    plan = json.loads((tmp_path / "r2" / "plan.json").read_text())
    assert plan["method"]["params"] == {"main_share": 0.8}
    assert np.allclose(json.loads((tmp_path / "r2" / "method.json").read_text())["members"][0]["w"], [0.8, 0.2])
    with pytest.raises(ConfigError, match=r"config key 'method.params.main_share': must be < 1.0"):
        RunConfig.from_dict({**cfg, "method": {"name": toy, "params": {"main_share": 1.5}}})
