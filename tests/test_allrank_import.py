"""allRank configs as run configs: import-allrank, train --config on an allRank JSON, loss aliases, the dataset
folder layout, and the model options allRank configs need."""
import json

import pytest
import torch
import yaml
from conftest import ROOT, shared_path

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.losses import ALLRANK_NAMES, get_loss, resolve_loss
from ltr_hyperdpo.models.scorers import build_scorer, conditioned_copy
from ltr_hyperdpo.training import RunConfig
from ltr_hyperdpo.training.allrank import from_allrank, is_allrank_config
from ltr_hyperdpo.training.plan import DataSummary, locate_splits, resolve

CONFIG = ROOT / "benchmarks" / "configs" / "allrank_mq2008.json"


def allrank_config(path="DATA", **over):
    d = json.loads(CONFIG.read_text())
    d["data"]["path"] = str(path)
    for k, v in over.items():
        d[k] = v
    return d


def test_detects_allrank_configs():
    assert is_allrank_config(allrank_config())
    assert not is_allrank_config({"data": {"train": "x"}, "model": {"kind": "mlp"}})


def test_every_section_is_mapped():
    imp = from_allrank(allrank_config("/data/mq"))
    c = imp.config
    assert not imp.unmapped
    assert c["data"] == {"train": "/data/mq/train.txt", "vali": "/data/mq/vali.txt", "test": "/data/mq/test.txt",
                         "batch_size": 64, "slate_length": 240, "normalize": False}
    assert c["model"] == {"kind": "transformer", "d_model": 64, "n_layers": 2, "n_heads": 2, "d_ff": 128,
                          "dropout": 0.1}
    r = c["reference"]
    assert (r["lr"], r["weight_decay"], r["epochs"], r["patience"], r["grad_clip"]) == (1e-3, 0.0, 30, 11, 0.0)
    assert r["lr_scheduler"] == {"name": "StepLR", "args": {"step_size": 10, "gamma": 0.5}}
    assert r["loss"] == "lambdaloss" and r["loss_args"] == {"scheme": "ndcg2pp", "k": None, "mu": 10, "sigma": 1.0}
    assert c["eval"] == {"ks": [10, 5], "blank_policy": "one"} and c["method"] == "reference"
    cfg = RunConfig.from_dict(c)  # a valid run config
    assert cfg.model.d_ff == 128 and cfg.reference.loss == "lambdaloss"
    assert any("last epoch" in n for n in imp.notes) and any("blank" in n or "no relevant" in n for n in imp.notes)


def test_mlp_activation_and_objectives():
    d = allrank_config(model={"fc_model": {"sizes": [32, 16], "input_norm": True, "activation": "Tanh",
                                           "dropout": 0.2},
                              "transformer": None, "post_model": {"output_activation": "Sigmoid", "d_output": 1}})
    imp = from_allrank(d, objectives="mq2008")
    m = imp.config["model"]
    assert m == {"kind": "mlp", "hidden": [32, 16], "activation": "Tanh", "dropout": 0.2, "input_norm": True,
                 "output_activation": "Sigmoid"}
    assert imp.config["method"] == "hyperdpo" and imp.config["data"]["objectives"] == "mq2008"
    cfg = RunConfig.from_dict(imp.config)
    assert (cfg.model.activation, cfg.model.output_activation) == ("Tanh", "Sigmoid")  # the user's intent, as given
    plan = resolve(cfg, DataSummary(train="t", vali=None, test=None, n_features=7, n_objectives=3))
    assert (plan.scorer.activation, plan.scorer.output_activation) == ("tanh", "sigmoid")  # torch's names, resolved


def test_unmapped_settings_are_named_in_one_message(tmp_path, capsys):
    d = allrank_config("gs://bucket/mslr", expected_metrics={"val": {"ndcg_5": 0.5}},
                       click_model={"name": "x", "args": {}}, metrics=["ndcg_5", "mrr_10"])
    d["optimizer"] = {"name": "SGD", "args": {"lr": 0.1}}
    d["model"]["transformer"]["positional_encoding"] = {"strategy": "fixed", "max_indices": 240}
    d["loss"] = {"name": "ordinal", "args": {"n": 4}}
    src = tmp_path / "allrank.json"
    src.write_text(json.dumps(d))
    assert main(["import-allrank", str(src), "--out", str(tmp_path / "run.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ltr-hyperdpo import-allrank: error:")
    for word in ("expected_metrics", "click_model", "gs://bucket", "SGD", "positional_encoding", "ordinal",
                 "mrr_10"):
        assert word in err[0], word
    assert not (tmp_path / "run.yaml").exists()
    # train --config on the same file refuses too, before touching the run directory
    assert main(["train", "--config", str(src), "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()


def test_ignore_unmapped_lists_what_was_dropped(tmp_path, capsys):
    src = tmp_path / "allrank.json"
    src.write_text(json.dumps(allrank_config(str(tmp_path), expected_metrics={"val": {"ndcg_5": 0.5}})))
    out = tmp_path / "run.yaml"
    assert main(["import-allrank", str(src), "--out", str(out), "--ignore-unmapped"]) == 0
    text = out.read_text()
    assert "# dropped (no counterpart): expected_metrics" in text and "# note:" in text
    assert RunConfig.from_dict(yaml.safe_load(text)).reference.loss == "lambdaloss"


@pytest.mark.parametrize("name", ALLRANK_NAMES)
def test_every_allrank_loss_name_resolves_to_a_loss(name):
    ours, args, _ = resolve_loss(name, {})
    fn = get_loss(ours, **args)
    s, y = torch.randn(2, 5), torch.tensor([[2.0, 1, 0, 0, 1], [0, 0, 1, 3, 0]])
    assert fn(s, y, torch.ones(2, 5, dtype=torch.bool), torch.Generator().manual_seed(0)).shape == (2,)


def test_loss_alias_arguments():
    assert resolve_loss("approxNDCGLoss", {"alpha": 4.0})[:2] == ("approxndcg", {"temperature": 0.25})
    assert resolve_loss("rankNet_weightByGTDiff", {})[:2] == ("ranknet", {"weight_by_diff": True})
    assert resolve_loss("neuralNDCG", {"temperature": 2.0, "k": 10, "powered_relevancies": True,
                                       "stochastic": False})[:2] == ("neuralndcg", {"temperature": 2.0, "k": 10})
    assert resolve_loss("lambdaLoss", {"weighing_scheme": None})[:2] == ("lambdaloss", {"scheme": "none"})
    assert resolve_loss("listNet", {"eps": 1e-10})[:2] == ("listnet", {})
    for name, args, word in (("neuralNDCG", {"stochastic": True}, "stochastic"),
                             ("lambdaLoss", {"weighing_scheme": "ndcgLoss1_scheme"}, "ndcgLoss1_scheme"),
                             ("lambdaLoss", {"reduction": "mean"}, "reduction"),
                             ("listMLE", {"eps": 0.1}, "eps"), ("rankNet", {"weight_by_diff_powed": True}, "powed")):
        with pytest.raises(ValueError, match=word):
            resolve_loss(name, args)
    with pytest.raises(Exception, match="ndcgLoss1_scheme"):  # and in a run config, naming the key
        RunConfig.from_dict({"reference": {"loss": "lambdaLoss", "loss_args": {"weighing_scheme": "ndcgLoss1_scheme"}}})


def test_dataset_folder_layout():
    d = shared_path("data", "ltr", "mq2008_fold1")
    cfg = RunConfig.from_dict({"data": {"train": str(d)}})
    assert cfg.data.train == str(d)  # the config keeps the user's folder; the splits are located when planning
    assert locate_splits(cfg) == (str(d / "train.txt"), str(d / "vali.txt"), str(d / "test.txt"))
    cfg = RunConfig.from_dict({"data": {"train": str(d), "test": "other.txt"}})
    assert locate_splits(cfg)[2] == "other.txt"  # an explicit split wins


def test_dataset_folder_without_train_split(tmp_path):
    cfg = RunConfig.from_dict({"data": {"train": str(tmp_path)}})  # check() does not look at the file system
    with pytest.raises(Exception, match="data.train.*without a train split"):
        locate_splits(cfg)


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_model_options_keep_the_conditioned_copy_a_no_op(kind):
    model = {"kind": kind, "hidden": [16], "d_model": 16, "n_heads": 2, "activation": "Tanh", "input_norm": True,
             "output_activation": "tanh", "conditioning": "film" if kind == "mlp" else "prompts",
             **({"d_ff": 24} if kind == "transformer" else {})}
    sc = resolve(RunConfig.from_dict({"model": model}),
                 DataSummary(train="t", vali=None, test=None, n_features=7, n_objectives=2)).scorer
    torch.manual_seed(0)
    ref = build_scorer(sc, conditioned=False).eval()
    pol = conditioned_copy(ref, sc).eval()
    x, m = torch.randn(3, 5, 7), torch.ones(3, 5, dtype=torch.bool)
    s = ref(x, m)
    assert float(s.abs().max()) <= 1.0  # the tanh output
    assert torch.allclose(pol(x, m, torch.tensor([[0.3, 0.7]] * 3)), s, atol=1e-6)
    if kind == "transformer":
        assert ref.blocks[0].ff1.out_features == 24
    else:
        assert isinstance(ref.act, torch.nn.Tanh) and ref.input_norm is not None


@pytest.mark.slow
def test_train_accepts_an_allrank_config(tmp_path, capsys):
    d = shared_path("data", "ltr", "mq2008_fold1")
    cfg = allrank_config(str(d))
    cfg["training"]["epochs"] = 2
    src = tmp_path / "allrank.json"
    src.write_text(json.dumps(cfg))
    assert main(["train", "--config", str(src), "--out", str(tmp_path / "run")]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert saved["method"]["name"] == "reference" and plan["reference"]["loss"] == "lambdaloss"
    assert saved["model"]["kind"] == "transformer" and saved["eval"]["blank_policy"] == "one"
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["best_val_reference"] > 0.5
