"""select-weight: maximise one objective subject to constraints on the others, after training."""
import json

import numpy as np
import pytest
from conftest import error_line, run_config

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.serving.selection import parse_constraint


def test_constraints_parse_or_name_what_is_wrong():
    c = parse_constraint("relevance >= 0.98*reference", ["relevance", "aux1"])
    assert (c.objective, c.op, c.value, c.relative) == ("relevance", ">=", 0.98, True)
    assert c.bound({"relevance": 0.5}) == pytest.approx(0.49) and c.margin(0.5, {"relevance": 0.5}) > 0
    d = parse_constraint(" aux1<=0.3 ", ["relevance", "aux1"])
    assert d.bound({}) == 0.3 and d.margin(0.4, {}) == pytest.approx(-0.1)
    with pytest.raises(ConfigError, match="no objective 'pagerank'; the run's objectives are relevance, aux1"):
        parse_constraint("pagerank >= 0.5", ["relevance", "aux1"])
    with pytest.raises(ConfigError, match="expected OBJECTIVE >= VALUE"):
        parse_constraint("relevance > 0.5", ["relevance", "aux1"])


@pytest.fixture(scope="module")
def trained(synth, tmp_path_factory):
    from ltr_hyperdpo.training import RunConfig, train

    out = tmp_path_factory.mktemp("sel") / "run"
    train(RunConfig.from_dict(run_config(synth, model={"hidden": [16]}, reference={"epochs": 3},
                                         hyperdpo={"epochs": 4, "lr": 3e-3})), out)
    return out


@pytest.mark.slow
def test_the_choice_is_feasible_and_beats_every_feasible_grid_weight(trained, synth):
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.eval.front import evaluate_front
    from ltr_hyperdpo.serving import load_run

    run = load_run(trained)
    vali = RankingDataset.load(synth / "test.parquet", state=run.state)
    names = run.objective_names
    sel = run.select_weight(vali, maximise=names[1], subject_to=[f"{names[0]} >= 0.98*reference"])
    assert sel.margins[f"{names[0]} >= 0.98*reference"] >= 0
    assert sel.figures[names[0]] >= 0.98 * sel.reference[names[0]] - 1e-12
    coarse = np.stack([np.linspace(0, 1, 21), 1 - np.linspace(0, 1, 21)], 1)
    front = evaluate_front(run.ranker, vali, coarse, ks=(10,))
    pts = front.metrics["ndcg@10"]
    feasible = pts[:, 0] >= 0.98 * front.reference_metrics["ndcg@10"][0]
    assert feasible.any() and sel.figures[names[1]] >= pts[feasible, 1].max() - 1e-9
    assert np.isclose(sum(sel.w), 1.0) and sel.evaluated > 101
    with pytest.raises(ConfigError, match=rf"no weight satisfies.*the best {names[0]} reached is"):
        run.select_weight(vali, maximise=names[1], subject_to=[f"{names[0]} >= 2.0"])


@pytest.mark.slow
def test_select_weight_command_prints_the_choice_and_checks_it_on_test(trained, synth, tmp_path, capsys):
    names = json.loads((trained / "plan.json").read_text())["data"]["objective_names"]
    args = ["select-weight", str(trained), "--data", str(synth / "test.parquet"), "--maximise", names[1],
            "--subject-to", f"{names[0]} >= 0.95*reference", "--check", str(synth / "test.parquet")]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predict"].startswith(f"ltr-hyperdpo predict {trained} --data FILE --w ")
    assert out["check"]["figures"] == pytest.approx(out["figures"])  # the same data: the same figures
    assert main(args[:-2] + ["--out", str(tmp_path / "choice.json")]) == 0
    assert json.loads((tmp_path / "choice.json").read_text())["w"] == out["w"]
    capsys.readouterr()
    assert main(args[:6] + ["--subject-to", f"{names[0]} >= 5"]) == 2
    assert "no weight satisfies the constraints" in error_line(capsys, "select-weight")


@pytest.mark.slow
def test_a_temperature_conditioned_run_chooses_beta_too(synth, tmp_path):
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.serving import load_run
    from ltr_hyperdpo.training import RunConfig, train

    out = tmp_path / "temp"
    train(RunConfig.from_dict(run_config(synth, model={"hidden": [16], "temperature_conditioned": True},
                                         reference={"epochs": 2}, hyperdpo={"epochs": 2})), out)
    run = load_run(out)
    data = RankingDataset.load(synth / "test.parquet", state=run.state)
    names = run.objective_names
    sel = run.select_weight(data, maximise=names[1], subject_to=[f"{names[0]} >= 0.9*reference"],
                            beta_range=(0.5, 2.0))
    assert sel.beta is not None and 0.5 <= sel.beta <= 2.0
    assert f"--beta {sel.beta:.6g}" in sel.predict_command(str(out))
    plain = tmp_path / "plain"  # a run that serves any beta by rescaling refuses a beta search
    train(RunConfig.from_dict(run_config(synth, model={"hidden": [8]}, reference={"epochs": 1},
                                         hyperdpo={"epochs": 1})), plain)
    with pytest.raises(ConfigError, match="not temperature-conditioned"):
        load_run(plain).select_weight(data, maximise=names[1], beta_range=(0.5, 2.0))


@pytest.mark.slow
def test_confidence_keeps_a_margin_for_new_queries(trained, synth):
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.serving import load_run

    run = load_run(trained)
    data = RankingDataset.load(synth / "test.parquet", state=run.state)
    names = run.objective_names
    cons = [f"{names[0]} >= 0.98*reference"]
    plain = run.select_weight(data, maximise=names[1], subject_to=cons)
    safe = run.select_weight(data, maximise=names[1], subject_to=cons, confidence=0.95)
    assert safe.confidence["level"] == 0.95 and safe.confidence["lower_margins"][cons[0]] >= 0
    assert safe.margins[cons[0]] >= plain.margins[cons[0]] - 1e-12  # more conservative on the data it saw
    assert safe.figures[names[1]] <= plain.figures[names[1]] + 1e-12  # and it pays for it in the maximised one
    with pytest.raises(ConfigError, match="--confidence"):
        run.select_weight(data, maximise=names[1], subject_to=cons, confidence=1.5)
