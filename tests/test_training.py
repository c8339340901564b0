"""Training end to end: controllability on conflicting synthetic objectives, resume, NaN stop, CLI, real data."""
import json

import numpy as np
import pytest
import torch
from conftest import StopTraining, shared_path, stop_after
from scipy.stats import spearmanr

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.data.dataset import RankingDataset
from ltr_hyperdpo.errors import RunDirError, TrainingDivergedError
from ltr_hyperdpo.eval.front import evaluate_front
from ltr_hyperdpo.serving import load_run
from ltr_hyperdpo.training import RunConfig, train


@pytest.fixture(scope="module")
def synth_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    for name, seed, q in (("train", 0, 240), ("test", 1, 80)):
        assert main(["synth", str(d / f"{name}.parquet"), "--queries", str(q), "--docs-per-query", "50",
                     "--features", "30", "--correlation", "-0.6", "--seed", str(seed)]) == 0
    return d


def small_cfg(d, **over):
    c = {"data": {"train": str(d / "train.parquet"), "test": str(d / "test.parquet"), "slate_length": 50,
                  "batch_size": 16},
         "model": {"kind": "mlp", "hidden": [64, 32], "dropout": 0.0},
         "reference": {"epochs": 6, "lr": 3e-3}, "hyperdpo": {"epochs": 6, "lr": 3e-3}, "progress": False}
    for k, v in over.items():
        c.setdefault(k, {}).update(v) if isinstance(v, dict) else c.__setitem__(k, v)
    return RunConfig.from_dict(c)


@pytest.mark.slow
def test_controllability_on_conflicting_objectives(synth_files, tmp_path):
    res = train(small_cfg(synth_files), tmp_path / "run")
    run = load_run(tmp_path / "run")
    te = RankingDataset.load(synth_files / "test.parquet", state=run.state)
    grid = np.stack([np.linspace(0, 1, 11), 1 - np.linspace(0, 1, 11)], 1)
    fr = evaluate_front(run.ranker, te, grid)
    n1, n2 = fr.metrics["ndcg@10"][:, 0], fr.metrics["ndcg@10"][:, 1]
    assert spearmanr(grid[:, 0], n1).statistic >= 0.8
    assert spearmanr(grid[:, 0], n2).statistic <= -0.8
    assert fr.hypervolume > fr.reference_hypervolume
    # the saved front (written by train) agrees with this evaluation
    saved = json.loads((tmp_path / "run" / "front" / "front.json").read_text())
    assert saved["hypervolume"] == pytest.approx(fr.hypervolume, rel=1e-9)
    assert (tmp_path / "run" / "front" / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in log} == {"reference", "hyperdpo"}
    assert res.best_val_hypervolume > 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_resume_gives_the_same_result(synth_files, tmp_path, kind):
    over = {"reference": {"epochs": 3}, "hyperdpo": {"epochs": 3},
            "model": {"kind": kind, "dropout": 0.1, "d_model": 16, "n_heads": 2, "n_layers": 1}}
    full = train(small_cfg(synth_files, **over), tmp_path / "full")
    with pytest.raises(StopTraining):
        train(small_cfg(synth_files, **over), tmp_path / "cut", on_epoch=stop_after(2))  # killed mid reference stage
    with pytest.raises(StopTraining):  # killed mid stage 2
        train(small_cfg(synth_files, **over), tmp_path / "cut", resume=True, on_epoch=stop_after(2))
    resumed = train(small_cfg(synth_files, **over), tmp_path / "cut", resume=True)
    a = torch.load(full.model_path, weights_only=False)["state"]
    b = torch.load(resumed.model_path, weights_only=False)["state"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert resumed.front["hypervolume"] == full.front["hypervolume"]
    with pytest.raises(RunDirError, match="--resume"):
        train(small_cfg(synth_files, **over), tmp_path / "full")


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_last_good_checkpoint(synth_files, tmp_path, monkeypatch):
    import ltr_hyperdpo.methods.hyperdpo as api

    calls = {"n": 0}
    real = api.pl_dpo_loss

    def flaky(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] > 20 else out

    monkeypatch.setattr(api, "pl_dpo_loss", flaky)
    with pytest.raises(TrainingDivergedError, match="loss became nan at epoch 2") as ei:
        train(small_cfg(synth_files), tmp_path / "run")
    assert "checkpoint.pt" in str(ei.value)
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert ck["stage"] == "hyperdpo" and ck["state"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_config_errors_name_the_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  train: x\n  batchsize: 3\n")
    with pytest.raises(ValueError, match=r"config key 'data.batchsize': unknown key; allowed: train, vali"):
        RunConfig.load(p)
    with pytest.raises(ValueError, match="reference.loss"):
        RunConfig.from_dict({"reference": {"loss": "hinge"}})


@pytest.mark.slow
def test_cli_train_front_and_beta(synth_files, tmp_path, capsys):
    cfgp = tmp_path / "run.json"
    c = small_cfg(synth_files).to_dict()
    c["data"]["test"] = None
    c["reference"]["epochs"] = c["hyperdpo"]["epochs"] = 2
    c["model"]["temperature_conditioned"] = True
    cfgp.write_text(json.dumps(c))
    assert main(["train", "--config", str(cfgp), "--out", str(tmp_path / "r"), "--set", "hyperdpo.beta=0.5"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["test_hypervolume"] is None and out["best_val_hypervolume"] > 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["hyperdpo"]["beta"] == 0.5
    assert main(["front", str(tmp_path / "r"), "--data", str(synth_files / "test.parquet"), "--grid", "5",
                 "--out", str(tmp_path / "f")]) == 0
    text = capsys.readouterr().out
    assert "hypervolume (ndcg@10, reference point [0.0, 0.0], maximise)" in text
    f1 = json.loads((tmp_path / "f" / "front.json").read_text())
    assert len(f1["points"]) == 5 and f1["blank_policy"] == "skip"
    assert main(["front", str(tmp_path / "r"), "--data", str(synth_files / "test.parquet"), "--grid", "5",
                 "--out", str(tmp_path / "f2"), "--beta", "2.0"]) == 0
    f2 = json.loads((tmp_path / "f2" / "front.json").read_text())
    assert f2["beta"] == 2.0 and f2["points"] != f1["points"]
    assert main(["train", "--out", str(tmp_path / "x"), "--set", "data.train=" + str(tmp_path / "missing.txt")]) == 2


@pytest.mark.slow
def test_real_mq2008_pipeline(tmp_path):
    d = shared_path("data", "ltr", "mq2008_fold1")
    cfg = RunConfig.from_dict({
        "data": {"train": str(d / "train.txt"), "vali": str(d / "vali.txt"), "test": str(d / "test.txt"),
                 "objectives": "mq2008", "batch_size": 32},
        "model": {"kind": "mlp", "hidden": [32], "dropout": 0.0},
        "reference": {"epochs": 2}, "hyperdpo": {"epochs": 2}, "eval": {"grid": 6}, "progress": False})
    res = train(cfg, tmp_path / "mq")
    f = res.front
    assert f["objectives"] == ["relevance", "pagerank", "inlinks"]
    assert len(f["points"]) == 6 and f["hypervolume"] > 0
    assert set(f["blank_queries"]) == {"relevance", "pagerank", "inlinks"}
    assert 0 < f["reference"]["ndcg@10"][0] <= 1
    # the text splits were converted once to Arrow caches beside the run, and a resume reuses them
    caches = sorted((tmp_path / "mq" / "data_cache").glob("*.arrow"))
    assert [c.name.split(".")[0] for c in caches] == ["test", "train", "vali"]
    stamps = [c.stat().st_mtime_ns for c in caches]
    train(cfg, tmp_path / "mq", resume=True)
    assert [c.stat().st_mtime_ns for c in caches] == stamps


@pytest.mark.slow
def test_stage2_takes_conditioning_from_config_and_is_order_independent(synth_files, tmp_path):
    base = small_cfg(synth_files, reference={"epochs": 2}, hyperdpo={"epochs": 1}).to_dict()
    base["data"]["test"] = None
    r = train(RunConfig.from_dict(base), tmp_path / "ref")
    runs = {}
    for name, model in (("film", {"conditioning": "film"}), ("concat", {"conditioning": "concat"}),
                        ("film2", {"conditioning": "film"})):
        c = json.loads(json.dumps(base))
        c["model"].update(model)
        c["reference"]["checkpoint"] = r.reference_path
        torch.manual_seed(len(name))  # unrelated global RNG use must not change the result
        runs[name] = train(RunConfig.from_dict(c), tmp_path / name)
    saved = {n: torch.load(x.model_path, weights_only=False) for n, x in runs.items()}
    assert saved["concat"]["config"]["conditioning"] == "concat" and saved["film"]["config"]["conditioning"] == "film"
    assert all(torch.equal(saved["film"]["state"][k], saved["film2"]["state"][k]) for k in saved["film"]["state"])


def test_temperature_conditioned_beta_must_lie_in_the_trained_range():
    from ltr_hyperdpo.errors import ConfigError

    with pytest.raises(ConfigError, match=r"hyperdpo.beta': 1 lies outside hyperdpo.beta_range \[0.05, 0.1\].*"
                                          r"geometric mean 0.07071"):
        RunConfig.from_dict({"model": {"temperature_conditioned": True}, "hyperdpo": {"beta_range": [0.05, 0.1]}})
    RunConfig.from_dict({"model": {"temperature_conditioned": True},
                         "hyperdpo": {"beta_range": [0.05, 0.1], "beta": 0.07}})
    RunConfig.from_dict({"hyperdpo": {"beta_range": [0.05, 0.1]}})  # not conditioned on beta: any beta


def test_tune_keeps_beta_inside_the_sampled_range():
    import optuna

    from ltr_hyperdpo.tune import suggest

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        c = suggest(study.ask(), {"model": {"temperature_conditioned": True}})
        lo, hi = c["hyperdpo"]["beta_range"]
        assert lo <= c["hyperdpo"]["beta"] <= hi
        RunConfig.from_dict(c)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_freeze_backbone_trains_the_conditioning_network_only(synth_files, tmp_path, kind):
    over = {"reference": {"epochs": 2}, "hyperdpo": {"epochs": 2},
            "model": {"kind": kind, "freeze_backbone": True, "d_model": 16, "n_heads": 2, "n_layers": 1}}
    res = train(small_cfg(synth_files, **over), tmp_path / "r")
    ref = torch.load(res.reference_path, weights_only=True)["state"]
    pol = torch.load(res.model_path, weights_only=True)["state"]
    for k, v in ref.items():
        assert torch.equal(pol[k], v), k  # the backbone is the reference's, unchanged
    cond = [k for k in pol if k not in ref]
    # the conditioning network: FiLM / low-rank deltas for the MLP, hyper prompts and output towers for the transformer
    assert cond and all(k.startswith(("film.", "prompt_net.", "lowrank.", "towers.")) for k in cond)
    assert kind != "transformer" or any(k.startswith("towers.") for k in cond)
    assert res.front["hypervolume"] > res.front["reference_hypervolume"]


@pytest.mark.slow
def test_lr_schedulers_are_validated_and_stepped(synth_files, tmp_path):
    from ltr_hyperdpo.errors import ConfigError

    with pytest.raises(ConfigError, match="config key 'hyperdpo.lr_scheduler': unknown scheduler 'Steplr'"):
        RunConfig.from_dict({"hyperdpo": {"lr_scheduler": "Steplr"}})
    with pytest.raises(ConfigError, match="config key 'reference.lr_scheduler': StepLR"):
        RunConfig.from_dict({"reference": {"lr_scheduler": {"name": "StepLR", "args": {"step": 2}}}})
    over = {"reference": {"epochs": 3, "lr": 0.004, "lr_scheduler": {"name": "StepLR",
                                                                    "args": {"step_size": 1, "gamma": 0.5}}},
            "hyperdpo": {"epochs": 3, "lr": 0.004, "lr_scheduler": "cosine"}}
    train(small_cfg(synth_files, **over), tmp_path / "r")
    log = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    ref = [r["lr"] for r in log if r["stage"] == "reference"]
    stage2 = [r["lr"] for r in log if r["stage"] == "hyperdpo"]
    assert ref == pytest.approx([0.002, 0.001, 0.0005])
    assert stage2[0] < 0.004 and stage2 == sorted(stage2, reverse=True) and stage2[-1] == pytest.approx(0.0002)


def test_several_weights_per_list_share_one_reference_forward_and_vertices_can_be_forced():
    from ltr_hyperdpo.core import sample_weights
    from ltr_hyperdpo.methods.hyperdpo import sample_preferences

    g = torch.Generator().manual_seed(0)
    w = sample_preferences(400, 3, 0.5, 1.0, g)
    assert set(map(tuple, w.tolist())) <= {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)}
    mixed = sample_preferences(4000, 3, 0.5, 0.25, g)
    assert 0.2 < (mixed.max(1).values == 1).float().mean().item() < 0.3
    # without vertex oversampling the draws are exactly Dirichlet's
    assert torch.equal(sample_preferences(5, 3, 0.5, 0.0, torch.Generator().manual_seed(1)),
                       sample_weights(5, 3, 0.5, generator=torch.Generator().manual_seed(1)))


@pytest.mark.slow
def test_weights_per_list_trains_and_calls_the_reference_once_per_list(synth_files, tmp_path, monkeypatch):
    import ltr_hyperdpo.methods.hyperdpo as hd

    seen = []
    real = hd.HyperDPO.objective

    def spy(self, ctx, pol, ref_s, b, w, beta, gen, tie_noise=None):
        # the features once per list (the trunk is shared); scores, labels, weights and tie draws per (list, weight)
        seen.append((pol.shape[0], 3 * b.features.shape[0], b.labels.shape[0], w.shape[0], tie_noise.shape[0]))
        assert torch.equal(ref_s[0::3], ref_s[1::3]) and torch.equal(ref_s[0::3], ref_s[2::3])
        return real(self, ctx, pol, ref_s, b, w, beta, gen, tie_noise)

    monkeypatch.setattr(hd.HyperDPO, "objective", spy)
    res = train(small_cfg(synth_files, hyperdpo={"epochs": 1}, reference={"epochs": 1},
                          method={"name": "hyperdpo", "params": {"weights_per_list": 3}}),
                tmp_path / "r")
    assert seen and all(len(set(s)) == 1 for s in seen)
    assert res.front["hypervolume"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("select", ["hypervolume", "scalarised"])
def test_the_one_shot_run_keeps_the_epoch_its_selection_figure_ranks_best(synth_files, tmp_path, select):
    """``method.params.select`` names the validation figure whose best epoch is kept; the run reports the kept
    epoch's validation hypervolume. The two figures disagree on this run (checked), so each choice is seen."""
    cfg = small_cfg(synth_files, reference={"epochs": 2}, hyperdpo={"epochs": 8, "patience": 8, "lr": 1e-2},
                    model={"hidden": [16]}, method={"name": "hyperdpo", "params": {"select": select}})
    res = train(cfg, tmp_path / "run")
    log = [r for r in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines())
           if r["stage"] == "hyperdpo"]
    w = np.asarray(json.loads((tmp_path / "run" / "plan.json").read_text())["eval"]["val_weights"])
    for r in log:  # the logged figure is the mean over validation weights of w . NDCG(w)
        assert r["val_scalarised"] == pytest.approx(float(np.mean((w * np.asarray(r["val_ndcg@10"])).sum(1))))
    by = {k: max(log, key=lambda r: r[k])["epoch"] for k in ("val_hypervolume", "val_scalarised")}
    assert by["val_hypervolume"] != by["val_scalarised"]
    kept = next(r for r in log if r["epoch"] == by[f"val_{select}"])
    assert res.best_val_hypervolume == pytest.approx(kept["val_hypervolume"])
    assert json.loads((tmp_path / "run" / "plan.json").read_text())["method"]["params"]["select"] == select
