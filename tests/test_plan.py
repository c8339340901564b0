"""The run plan: ``resolve(config, data) -> RunPlan`` applies every auto rule from one table, never mutates the
config, refuses settings that would be ignored, and is what ``plan.json`` records and ``--resume`` compares."""
import dataclasses
import inspect
import json
import warnings

import numpy as np
import pytest

from ltr_hyperdpo import defaults
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.llm.config import LLMConfig
from ltr_hyperdpo.methods.hyperdpo import OneShotParams
from ltr_hyperdpo.methods.registry import get_method, method_names
from ltr_hyperdpo.models.base import ModelConfig, ScorerConfig
from ltr_hyperdpo.training import DataSummary, RunConfig, RunPlan, resolve
from ltr_hyperdpo.training.auto import AUTO_RULES, Facts
from ltr_hyperdpo.training.config import EvalConfig, HyperDPOConfig, load_run_config_dict


def summary(k=2, features=6):
    return DataSummary(train="train.txt", vali=None, test=None, n_features=features, n_objectives=k)


def plan_of(d=None, k=2):
    return resolve(RunConfig.from_dict(d or {}), summary(k))


def test_every_auto_rule_is_a_documented_pure_function_of_a_config_key():
    fields = {"model": {f.name for f in dataclasses.fields(ModelConfig)},
              "eval": {f.name for f in dataclasses.fields(EvalConfig)},
              "method.params": {f.name for m in method_names() for f in dataclasses.fields(get_method(m).Params)}}
    for key, rule in AUTO_RULES.items():
        section, name = key.rsplit(".", 1)
        assert name in fields[section], key
        doc = inspect.getdoc(rule) or ""
        assert "Why:" in doc, f"{key}: the docstring states the rule and the reason"
        assert "%" not in doc and "hypervolume +" not in doc, f"{key}: a reason, not a benchmark delta"
        facts = Facts(n_objectives=3, kind="mlp", conditioning="lowrank")
        assert rule(facts) == rule(facts)  # pure: the same facts, the same value


def test_defaults_resolve_to_the_documented_mlp_plan():
    cfg = RunConfig()
    before = json.dumps(cfg.to_dict(), sort_keys=True)
    plan = resolve(cfg, summary())
    assert json.dumps(cfg.to_dict(), sort_keys=True) == before  # the intent is never mutated
    assert cfg.model.conditioning == "auto" and cfg.model.head_hidden is None
    s = plan.scorer
    assert (s.conditioning, s.conditioned_layers, s.head_hidden, s.rank) == ("lowrank", 1, 32, 16)
    p = plan.method.params
    assert p == {"alpha": defaults.ALPHA, "weights_per_list": 16, "vertex_prob": 0.85,
                 "cond_lr_mult": defaults.COND_LR_MULT, "select": "scalarised"}
    assert plan.method.learning_rates == {"backbone": defaults.LR, "conditioning": defaults.LR * defaults.COND_LR_MULT}
    assert len(plan.eval.val_weights) == 5 and len(plan.eval.test_weights) == 11 and plan.eval.grid_method == "lattice"
    assert set(plan.auto) == {"model.conditioning", "model.conditioned_layers", "model.head_hidden", "model.rank",
                              "method.params.weights_per_list", "method.params.vertex_prob",
                              "method.params.select", "eval.grid", "eval.grid_method", "eval.val_grid"}


def test_the_transformer_and_fully_conditioned_models_resolve_their_own_rules():
    t = plan_of({"model": {"kind": "transformer", "d_model": 32}})
    assert (t.scorer.conditioning, t.scorer.d_ff, t.scorer.rank, t.scorer.head_hidden) == ("prompts", 64, 0, 32)
    assert t.method.params["weights_per_list"] == 2 and t.method.params["vertex_prob"] == 0.95
    assert t.method.params["select"] == "scalarised" and plan_of().method.params["select"] == "scalarised"
    old = plan_of({"model": {"kind": "transformer", "conditioning": "film"}})  # an older config's spelling
    assert old.scorer.conditioning == "prompts"
    film = plan_of({"model": {"conditioning": "film"}})
    assert film.scorer.conditioned_layers == 0 and film.method.params["vertex_prob"] == 0.2
    assert film.method.params["select"] == "hypervolume"
    temp = plan_of({"model": {"temperature_conditioned": True}})
    assert temp.scorer.conditioned_layers == 0 and temp.scorer.head_hidden == 0
    assert temp.method.params["select"] == "hypervolume"


def test_set_values_win_and_are_not_marked_auto():
    plan = plan_of({"model": {"head_hidden": 4, "rank": 8},
                    "method": {"name": "hyperdpo", "params": {"vertex_prob": 0.5, "weights_per_list": 3}},
                    "eval": {"grid": 7, "val_grid": 3}})
    assert (plan.scorer.head_hidden, plan.scorer.rank) == (4, 8)
    assert (plan.method.params["vertex_prob"], plan.method.params["weights_per_list"]) == (0.5, 3)
    assert len(plan.eval.test_weights) == 7 and len(plan.eval.val_weights) == 3
    assert not {"model.head_hidden", "model.rank", "method.params.vertex_prob", "eval.grid"} & set(plan.auto)


def test_resolve_reads_the_rule_table(monkeypatch):
    monkeypatch.setitem(AUTO_RULES, "method.params.vertex_prob", lambda f: 0.42)
    monkeypatch.setitem(AUTO_RULES, "model.head_hidden", lambda f: 7)
    plan = plan_of()
    assert plan.method.params["vertex_prob"] == 0.42 and plan.scorer.head_hidden == 7


def test_multi_run_members_and_the_k3_grids():
    plan = plan_of({"method": "dpo_ls"}, k=3)
    assert len(plan.method.member_weights) == 15 and plan.method.params == {"members": 15}
    assert plan.method.learning_rates == {"model": defaults.LR}
    assert len(plan.eval.test_weights) == 55 and len(plan.eval.val_weights) == 7  # vertices, centroid, midpoints
    soup = plan_of({"method": "dpo_soup"}, k=3)
    assert np.array_equal(soup.method.member_weights, np.eye(3)) and soup.method.params == {}
    assert plan_of({"method": "hyperdpo"}, k=3).method.member_weights is None


@pytest.mark.parametrize("d,k,key", [
    ({"eval": {"val_grid": 6}}, 3, "eval.val_grid"),  # K >= 3 validates at a fixed grid: it would be ignored
    ({"method": {"name": "hyperdpo", "params": {"alpha": [0.3, 0.3]}}}, 3, "method.params.alpha"),
    ({"eval": {"ref_point": [0, 0]}}, 3, "eval.ref_point"),
])
def test_settings_that_depend_on_k_are_checked_when_planning(d, k, key):
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        plan_of(d, k=k)


@pytest.mark.parametrize("d,key", [
    ({"model": {"kind": "transformer", "rank": 8}}, "model.rank"),
    ({"model": {"conditioning": "film", "rank": 8}}, "model.rank"),
    ({"model": {"d_ff": 64}}, "model.d_ff"),
    ({"model": {"kind": "mlp", "conditioning": "prompts"}}, "model.conditioning"),
    ({"model": {"kind": "transformer", "conditioning": "lowrank"}}, "model.conditioning"),
    ({"method": {"name": "dpo_soup", "params": {"members": 4}}}, "method.params.members"),
    ({"method": {"name": "hyperdpo", "params": {"members": 4}}}, "method.params.members"),
])
def test_a_setting_that_would_be_ignored_is_refused(d, key):
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        RunConfig.from_dict(d)


def test_older_layouts_load_with_a_deprecation_warning():
    with pytest.warns(FutureWarning, match="'hyperdpo.cosmos_lambda' is deprecated.*method.params.cosine_weight"):
        cfg = RunConfig.from_dict({"method": "cosmos", "hyperdpo": {"cosmos_lambda": 3.0, "alpha": 0.5}})
    assert cfg.method.params == {"cosine_weight": 3.0, "alpha": 0.5}
    with pytest.warns(FutureWarning, match="model.ff_mult"):
        cfg = RunConfig.from_dict({"model": {"kind": "transformer", "d_model": 32, "ff_mult": 3}})
    assert cfg.model.d_ff == 96
    with pytest.raises(ConfigError, match="'hyperdpo.modpo_w0_min': method dpo_ls has no parameter 'w0_min'"):
        RunConfig.from_dict({"method": "dpo_ls", "hyperdpo": {"modpo_w0_min": 0.1}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # today's layout: no warning
        RunConfig.from_dict({"method": {"name": "modpo", "params": {"w0_min": 0.1}}})


def test_the_plan_round_trips_through_json():
    plan = plan_of({"method": "modpo"}, k=3)
    back = RunPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert back == plan
    assert isinstance(back.scorer, ScorerConfig) and back.method_params().members == 15


def test_one_default_table_for_the_run_config_the_estimator_and_the_llm_config():
    pytest.importorskip("sklearn")
    from ltr_hyperdpo.serving.estimator import MultiObjectiveRanker

    est = MultiObjectiveRanker()
    h, ref, data, model = HyperDPOConfig(), RunConfig().reference, RunConfig().data, ModelConfig()
    assert est.alpha == OneShotParams().alpha == LLMConfig().alpha == defaults.ALPHA
    assert (est.lr, est.epochs, est.beta) == (h.lr, h.epochs, h.beta)
    assert (est.reference_lr, est.reference_epochs, est.reference_loss) == (ref.lr, ref.epochs, ref.loss)
    assert (est.batch_size, est.slate_length, est.vali_fraction) == (data.batch_size, data.slate_length,
                                                                     data.vali_fraction)
    assert (list(est.hidden), est.dropout) == (model.hidden, model.dropout)
    est_plan = resolve(est._config(), summary())
    assert est_plan.method.params == plan_of().method.params  # the estimator trains the run config's model
    assert not est._config().method.params.keys() - {"alpha"}
    assert MultiObjectiveRanker(method="dpo_ls")._config().method.params == {}  # alpha is not the members'


def test_relative_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.txt").write_text("0 qid:1 1:0\n")
    (folder / "run.yaml").write_text("data:\n  train: data/train.txt\n  test: missing.txt\n")
    monkeypatch.chdir(tmp_path)  # another working directory
    d = load_run_config_dict(folder / "run.yaml")
    assert d["data"]["train"] == str(folder / "data" / "train.txt")
    assert d["data"]["test"] == str(folder / "missing.txt")  # a missing file: its error names where it was looked for
    (tmp_path / "legacy.txt").write_text("0 qid:1 1:0\n")  # found only relative to the working directory: kept
    (folder / "old.yaml").write_text("data:\n  train: legacy.txt\n")
    assert load_run_config_dict(folder / "old.yaml")["data"]["train"] == "legacy.txt"
    assert RunConfig.load(folder / "run.yaml").data.train == str(folder / "data" / "train.txt")


# end to end --------------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_run(synth, tmp_path):
    from conftest import run_config

    from ltr_hyperdpo.training import train

    cfg = run_config(synth, model={"hidden": [8]}, reference={"epochs": 1}, hyperdpo={"epochs": 1},
                     method={"name": "hyperdpo", "params": {"cond_lr_mult": 3.0}})
    run = tmp_path / "run"
    train(RunConfig.from_dict(cfg), run)
    return cfg, run


@pytest.mark.slow
def test_plan_json_equals_what_was_trained(tiny_run):
    import torch

    from ltr_hyperdpo.models.io import load_scorer
    from ltr_hyperdpo.serving import load_run
    from ltr_hyperdpo.utils.checkpoint import load_latest

    _, run = tiny_run
    plan = json.loads((run / "plan.json").read_text())
    policy, _ = load_scorer(run / "model.pt")
    assert policy.config.to_dict() == plan["scorer"]  # the model is the planned architecture
    groups = load_latest(run / "checkpoint.pt")["optimizer"]["param_groups"]
    assert {g["name"]: g["lr"] for g in groups} == plan["method"]["learning_rates"]
    assert plan["method"]["learning_rates"]["conditioning"] == pytest.approx(3 * plan["stage2"]["lr"])
    n_cond = sum(q.numel() for n, q in policy.named_parameters() if n.startswith("lowrank."))
    sizes = {g["name"]: len(g["params"]) for g in groups}
    assert sizes["conditioning"] == sum(1 for n, _ in policy.named_parameters() if n.startswith("lowrank."))
    assert n_cond > 0 and isinstance(policy, torch.nn.Module)
    loaded = load_run(run)
    assert loaded.plan.to_dict() == plan and not loaded.plan.legacy
    card = (run / "MODEL_CARD.md").read_text()
    assert "### Plan" in card and "| method.params.vertex_prob | `0.85` (auto) |" in card
    assert f"On the test split `{plan['data']['test']}` (5 weights, lattice grid)" in card  # eval.grid 5


@pytest.mark.slow
def test_resume_with_a_changed_plan_is_refused_naming_the_key(tiny_run, capsys):
    from conftest import error_line

    from ltr_hyperdpo.cli import main

    cfg, run = tiny_run
    changed = {**cfg, "method": {"name": "hyperdpo", "params": {"cond_lr_mult": 3.0, "vertex_prob": 0.5}}}
    (run.parent / "c.json").write_text(json.dumps(changed))
    before = (run / "plan.json").read_text()
    assert main(["train", "--config", str(run.parent / "c.json"), "--out", str(run), "--resume"]) == 2
    line = error_line(capsys, "train")
    assert "plan that changes the result" in line and "method.params.vertex_prob" in line
    assert (run / "plan.json").read_text() == before  # nothing of the refused run was written
    (run.parent / "same.json").write_text(json.dumps({**cfg, "threads": 1}))  # a harmless change resumes
    assert main(["train", "--config", str(run.parent / "same.json"), "--out", str(run), "--resume"]) == 0


@pytest.mark.slow
def test_an_older_run_directory_loads_through_the_legacy_shim(tiny_run):
    from ltr_hyperdpo.serving import load_run

    _, run = tiny_run
    plan = json.loads((run / "plan.json").read_text())
    (run / "plan.json").unlink()
    old = json.loads((run / "config.json").read_text())  # the layout of version 0.4: every hyperdpo key, flat
    old["method"] = "hyperdpo"
    old["hyperdpo"].update({"alpha": 0.3, "weights_per_list": None, "vertex_prob": None, "cond_lr_mult": 3.0,
                            "members": None, "cosmos_lambda": 1.0, "modpo_margin_scale": 1.0, "modpo_w0_min": 0.05})
    old["model"].update({"conditioning": "lowrank", "rank": 16, "ff_mult": 2, "d_ff": None})
    old["eval"]["val_grid"] = 5
    (run / "config.json").write_text(json.dumps(old))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # an old run loads quietly
        loaded = load_run(run)
    assert loaded.plan.legacy and loaded.plan.method.params == plan["method"]["params"]
    assert loaded.plan.scorer.to_dict() == plan["scorer"]


@pytest.mark.slow
def test_cli_method_and_its_parameters_from_set(synth, tmp_path):
    from conftest import run_config

    from ltr_hyperdpo.cli import main

    cfg = run_config(synth, model={"hidden": [8]}, reference={"epochs": 1}, hyperdpo={"epochs": 1},
                     method={"name": "hyperdpo", "params": {"alpha": 0.5}})
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--method", "dpo_ls", "--set",
                 "method.params.members=2", "--out", str(tmp_path / "r")]) == 0
    plan = json.loads((tmp_path / "r" / "plan.json").read_text())
    assert plan["method"]["name"] == "dpo_ls" and plan["method"]["params"] == {"members": 2}
    assert len(plan["method"]["member_weights"]) == 2


def test_the_plan_command_prints_the_plan_without_training(synth, tmp_path, capsys):
    from conftest import error_line, run_config

    from ltr_hyperdpo.cli import main

    (tmp_path / "c.json").write_text(json.dumps(run_config(synth, model={"kind": "transformer", "d_model": 16,
                                                                        "n_heads": 2})))
    assert main(["plan", "--config", str(tmp_path / "c.json"), "--set", "method.params.vertex_prob=0.4"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["scorer"]["conditioning"] == "prompts" and plan["scorer"]["d_ff"] == 32
    assert plan["method"]["params"]["vertex_prob"] == 0.4 and "method.params.weights_per_list" in plan["auto"]
    assert plan["data"]["train"] == str(synth / "train.parquet") and plan["data"]["n_objectives"] == 2
    assert not list(tmp_path.glob("run*"))  # nothing trained, nothing written
    assert main(["plan", "--config", str(tmp_path / "c.json"), "--set", "eval.val_grid=1"]) == 2
    assert "config key 'eval.val_grid': must be >= 2" in error_line(capsys, "plan")


def test_a_saved_plan_from_before_select_resumes_under_the_value_it_was_trained_with(tmp_path):
    """A plan.json written before ``method.params.select`` existed was trained with ``hypervolume``: resuming it
    under that value is no change; under ``scalarised`` it is refused, naming the key."""
    import dataclasses

    from ltr_hyperdpo.errors import RunDirError
    from ltr_hyperdpo.training.plan import PLAN_NAME, check_resume_plan

    plan = plan_of()
    assert plan.method.params["select"] == "scalarised"
    kept_by_hypervolume = dataclasses.replace(plan, method=dataclasses.replace(
        plan.method, params={**plan.method.params, "select": "hypervolume"}))
    old = kept_by_hypervolume.to_dict()
    del old["method"]["params"]["select"]
    (tmp_path / PLAN_NAME).write_text(json.dumps(old))
    check_resume_plan(tmp_path, kept_by_hypervolume)
    with pytest.raises(RunDirError, match="method.params.select"):
        check_resume_plan(tmp_path, plan)
    # what the error and the CHANGELOG tell the user to do: set the old value by hand, which is then not ``auto``
    by_hand = plan_of({"method": {"name": "hyperdpo", "params": {"select": "hypervolume"}}})
    assert "method.params.select" not in by_hand.auto and "method.params.select" in plan.auto
    check_resume_plan(tmp_path, by_hand)
    with pytest.raises(RunDirError, match="method.params.alpha"):
        check_resume_plan(tmp_path, plan_of({"method": {"name": "hyperdpo", "params": {
            "select": "hypervolume", "alpha": 0.7}}}))
