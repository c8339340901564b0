"""Several processes (torchrun, gloo on the CPU) and device selection.

A run on two processes trains on the same global batches as one process: each process takes a contiguous share
of every batch, the random draws (weights, β, tie-breaks) are made for the whole global batch and sliced, and each
share's loss counts by its size. With dropout 0 the two runs end with the same weights (float32 sums in a different
order: equal to ~1e-5) and rank 0 alone writes one run directory.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from ltr_hyperdpo import load_run
from ltr_hyperdpo.cli import main
from ltr_hyperdpo.data.batching import Slates
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.runs.device import check_precision, resolve_device
from ltr_hyperdpo.runs.distributed import info, on_main
from ltr_hyperdpo.training import RunConfig
from ltr_hyperdpo.utils.sharding import shard_indices


def test_shards_cover_the_batch_contiguously():
    for n in range(2, 30):
        for world in range(1, 6):
            parts = [shard_indices(n, r, world) for r in range(world)]
            assert [i for p in parts for i in p] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_slates_shard_keeps_global_positions():
    b = Slates(torch.randn(5, 4, 3), torch.zeros(5, 4, 2), torch.ones(5, 4, dtype=torch.bool), np.arange(5),
               np.zeros((5, 4), dtype=np.int64))
    s1, f1 = b.shard(1, 2)
    assert s1 is not None and s1.global_size == 5 and s1.positions.tolist() == [3, 4] and f1 == pytest.approx(0.4)
    assert torch.equal(s1.features, b.features[3:])
    assert b.shard(0, 6) == (None, 0.0)  # fewer lists than processes: skipped by all


def test_single_process_helpers():
    assert not info().active and info().main
    assert on_main(lambda: 3) == 3


def test_device_and_precision_choices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")
    with pytest.raises(ConfigError, match="fp16-amp needs a CUDA device"):
        check_precision("fp16-amp", torch.device("cpu"))
    with pytest.raises(Exception, match="device"):
        RunConfig.from_dict({"device": "tpu"})
    with pytest.raises(Exception, match="precision"):
        RunConfig.from_dict({"device": "cpu", "precision": "fp16-amp"})


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth_ddp")
    for name, seed, q in (("train", 0, 96), ("test", 1, 40)):
        assert main(["synth", str(d / f"{name}.parquet"), "--queries", str(q), "--docs-per-query", "30",
                     "--features", "12", "--correlation", "-0.5", "--seed", str(seed)]) == 0
    return d


def _config(d, path, method="hyperdpo", **top):
    c = {"data": {"train": str(d / "train.parquet"), "test": str(d / "test.parquet"), "batch_size": 10},
         "model": {"kind": "mlp", "hidden": [16], "dropout": 0.0},
         "reference": {"epochs": 2, "lr": 3e-3, "loss": "listmle"},  # listmle: random tie-breaks, drawn globally
         "hyperdpo": {"epochs": 2, "lr": 3e-3, "patience": 5},
         "eval": {"grid": 5}, "progress": False, "threads": 1,
         "method": {"name": method, "params": {"weights_per_list": 2} if method == "hyperdpo" else {"members": 3}},
         **top}
    path.write_text(json.dumps(c))
    return path


def _run(args, world, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}",
           "-m", "ltr_hyperdpo", *args] if world > 1 else [sys.executable, "-m", "ltr_hyperdpo", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


#: parameters that only shift every score of a list by the same amount: the output bias, and the low-rank
#: conditioning's bias on the output layer (one value per list, from w). Plackett-Luce losses do not depend on such a
#: shift, so their gradient is 0 up to rounding, which Adam's normalisation turns into steps of random sign.
SHIFT_ONLY = ("out.bias", "lowrank.1.d", "lowrank.1.e")
#: the output towers' hidden biases: for a unit active on every document of a list the bias is a list-wide shift
#: too, moved by the same rounding-driven Adam steps; they are compared through the per-list-centred scores instead
SHIFT_ON_SOME_LISTS = ("lowrank.1.a",)


def _weights(path):
    """A scorer file's parameters, less those that only shift a list's scores (:data:`SHIFT_ONLY`,
    :data:`SHIFT_ON_SOME_LISTS`)."""
    return {k: v for k, v in torch.load(path, weights_only=True)["state"].items()
            if k not in SHIFT_ONLY + SHIFT_ON_SOME_LISTS}


def _centred_score_gap(one, two, data):
    """(largest difference of the two runs' scores on ``data`` under several weights, largest score), each query's
    scores centred (a list-wide shift changes no ranking and no Plackett-Luce loss)."""
    _, inv = np.unique(pq.read_table(data, columns=["qid"])["qid"].to_numpy(), return_inverse=True)

    def centred(v):
        return v - (np.bincount(inv, v) / np.bincount(inv))[inv]

    gap, scale = 0.0, 0.0
    run1, run2 = load_run(one), load_run(two)
    for w in ([1.0, 0.0], [0.0, 1.0], [0.3, 0.7]):
        s1, s2 = run1.score(str(data), w), run2.score(str(data), w)
        gap = max(gap, float(np.abs(centred(s1 - s2)).max()))
        scale = max(scale, float(np.abs(centred(s1)).max()))
    return gap, scale


@pytest.mark.slow
@pytest.mark.parametrize("method", ["hyperdpo", "dpo_ls"])
def test_two_processes_equal_one(synth, tmp_path, method):
    cfg = _config(synth, tmp_path / "run.json", method)
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = _run(["train", "--config", str(cfg), "--out", str(one)], 1)
    assert r1.returncode == 0, r1.stderr[-3000:]
    r2 = _run(["train", "--config", str(cfg), "--out", str(two)], 2)
    assert r2.returncode == 0, r2.stderr[-3000:]
    ref1, ref2 = _weights(one / "reference.pt"), _weights(two / "reference.pt")
    for k in ref1:
        assert torch.allclose(ref1[k], ref2[k], atol=1e-6), k
    model = "model.pt" if method == "hyperdpo" else "members/m01/model.pt"
    m1, m2 = _weights(one / model), _weights(two / model)
    moved = max(float((m1[k] - ref1[k]).abs().max()) for k in ref1 if k in m1)
    assert moved > 1e-3  # stage 2 changed the weights, so the comparison below means something
    for k in m1:
        assert torch.allclose(m1[k], m2[k], atol=1e-5), k
    if method == "hyperdpo":
        gap, scale = _centred_score_gap(one, two, synth / "train.parquet")
        assert gap < 1e-4 * scale  # float32 rounding, amplified by Adam on near-zero gradients
    f1 = json.loads((one / "front" / "front.json").read_text())
    f2 = json.loads((two / "front" / "front.json").read_text())
    assert f2["hypervolume"] == pytest.approx(f1["hypervolume"], abs=1e-3)
    # one run directory written by rank 0: one log record per epoch, marked with the process count
    log = [json.loads(x) for x in (two / "log.jsonl").read_text().splitlines()]
    stages = {"reference": 2, method: 2} if method == "hyperdpo" else {"reference": 2}
    for stage, n in stages.items():
        recs = [r for r in log if r["stage"] == stage]
        assert len(recs) == n and all(r["processes"] == 2 for r in recs)
    assert not list(two.glob("**/*ltr-hyperdpo-tmp"))
    if method != "hyperdpo":
        return
    # --resume under torchrun: back to the checkpoint of the previous epoch (as after a kill), then resume
    shutil.copy(two / "checkpoint.prev.pt", two / "checkpoint.pt")
    assert torch.load(two / "checkpoint.pt", weights_only=True)["state"]["epoch"] == 1
    for f in ("model.pt", "result.json", "method.json"):
        (two / f).unlink()
    r3 = _run(["train", "--config", str(cfg), "--out", str(two), "--resume"], 2)
    assert r3.returncode == 0, r3.stderr[-3000:]
    m3 = _weights(two / model)
    for k in m1:
        assert torch.equal(m2[k], m3[k]), k


@pytest.mark.slow
def test_distributed_error_is_one_line_on_every_process(synth, tmp_path):
    cfg = _config(synth, tmp_path / "run.json")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "config.json").write_text("{}")  # an existing run: refused without --resume
    r = _run(["train", "--config", str(cfg), "--out", str(tmp_path / "busy")], 2)
    assert r.returncode != 0
    # rank 0 prints one line; rank 1 re-raises it silently (torchrun's launcher adds its own failure report)
    ours = [x for x in r.stderr.splitlines() if x.startswith("ltr-hyperdpo")]
    assert len(ours) == 1 and "ltr-hyperdpo train: error:" in ours[0] and "already holds a run" in ours[0]
    assert "File \"" + str(__import__("ltr_hyperdpo").__path__[0]) not in r.stderr  # no traceback of ours


@pytest.mark.slow
def test_two_process_steps_equal_one_in_float64(synth, tmp_path):
    worker = str(Path(__file__).with_name("ddp_step_worker.py"))
    out = {}
    for world in (1, 2):
        out[world] = tmp_path / f"w{world}.pt"
        launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}"] if world > 1 else []
        r = subprocess.run([sys.executable, *launcher, worker, str(synth / "train.parquet"), str(out[world])],
                           capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    a, b = (torch.load(out[w], weights_only=True) for w in (1, 2))
    assert len(a["exp_avg"]) == len(b["exp_avg"]) > 4
    for ga, gb in zip(a["exp_avg"], b["exp_avg"], strict=True):
        assert ga.dtype == torch.float64 and float(ga.abs().max()) > 0
        assert torch.allclose(ga, gb, rtol=1e-6, atol=1e-12)
    for k, v in a["params"].items():
        assert torch.allclose(v, b["params"][k], rtol=0, atol=1e-6), k


@pytest.mark.slow
def test_ray_torchtrainer_runs_the_same_worker(synth, tmp_path):
    """Ray Train's TorchTrainer (2 CPU workers, gloo) calling ``train_worker``: the same run as torchrun's."""
    ray = pytest.importorskip("ray", reason="ray[train] is not installed (optional: pip install 'ray[train]')")
    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer

    from ltr_hyperdpo.training import train_worker

    cfg = json.loads(_config(synth, tmp_path / "run.json").read_text())
    one = tmp_path / "one"
    r1 = _run(["train", "--config", str(tmp_path / "run.json"), "--out", str(one)], 1)
    assert r1.returncode == 0, r1.stderr[-3000:]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    try:
        trainer = TorchTrainer(train_worker, train_loop_config={"config": cfg, "out": str(tmp_path / "ray")},
                               scaling_config=ScalingConfig(num_workers=2, use_gpu=False))
        trainer.fit()
    finally:
        ray.shutdown()
    ref1, ref2 = _weights(one / "reference.pt"), _weights(tmp_path / "ray" / "reference.pt")
    for k in ref1:
        assert torch.allclose(ref1[k], ref2[k], atol=1e-6), k
    log = [json.loads(x) for x in (tmp_path / "ray" / "log.jsonl").read_text().splitlines()]
    assert log and all(r["processes"] == 2 for r in log)
    assert (tmp_path / "ray" / "front" / "front.json").exists()
