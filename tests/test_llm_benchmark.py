"""benchmarks/llm_generation_control.py: the text-only rankers its implicit-reward front is read against."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ltr_hyperdpo.llm.data import PreferenceLists

ROOT = Path(__file__).resolve().parents[1]


def load_control():
    spec = importlib.util.spec_from_file_location("llm_generation_control",
                                                  ROOT / "benchmarks" / "llm_generation_control.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def lists(n: int, seed: int) -> PreferenceLists:
    """Lists of 4 whose ``marker`` label is carried by a word (``excellent`` beats ``poor``) and not by length, and
    whose ``length`` label is the length."""
    rng = np.random.default_rng(seed)
    words = ["the", "answer", "is", "here", "and", "so", "on", "this", "that", "it"]
    prompts, responses, marker, length = [], [], [], []
    for i in range(n):
        rs, m = [], []
        for j in range(4):
            good = j % 2 == 0
            body = " ".join(rng.choice(words, size=int(rng.integers(3, 30))))
            rs.append(f"{body} {'excellent' if good else 'poor'} {body}")
            m.append(1.0 if good else 0.0)
        prompts.append(f"question {i}")
        responses.append(rs)
        marker.append(np.array(m))
        length.append(np.array([float(len(r)) for r in rs]))
    return PreferenceLists(prompts, responses, {"marker": marker, "length": length})


def test_text_baselines_score_the_held_out_pairs_by_length_and_by_words():
    control = load_control()
    out = control.text_baselines(lists(60, 0), lists(20, 1), max_lists=20, list_size=4, seed=0)
    assert out["length"]["longer_wins"] == 1.0  # the label is the length
    assert out["marker"]["bag_of_words"] > 0.95  # the word decides, and it was learnt from the training lists
    assert 0.25 < out["marker"]["longer_wins"] < 0.75  # length carries nothing about the marker


@pytest.mark.slow
def test_control_run_keeps_what_it_generated_and_reports_lengths_from_it(tmp_path, capsys):
    """One seed on the tiny model, end to end: the length table is the mean of the kept generations' lengths."""
    import json

    from conftest import shared_path

    model = shared_path("models", "babyllama_tok105", "hf_llama")
    control = load_control()
    out = tmp_path / "out"
    assert control.main(["--model", str(model), "--data-root", str(shared_path("data")), "--seeds", "0",
                         "--train-lists", "6", "--prompts", "2", "--max-new-tokens", "6", "--eval-lists", "3",
                         "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    saved = json.loads((out / "results.json").read_text())
    # results.json is strict JSON (NaN written as null); the printed line keeps NaN
    assert json.loads(json.dumps(printed), parse_constant=lambda _: None) == saved
    run = printed["runs"][0]
    gens = [json.loads(x) for x in (out / "seed0" / "generated_6@0.1" / "generations.jsonl").read_text().splitlines()]
    assert len(gens) == 2 * 2 * (5 + 1)  # modes x prompts x (grid weights + the reference)
    for mode in ("greedy", "sampled"):
        by_w = [np.mean([len(g["response"]) for g in gens if g["mode"] == mode and g["w"] is not None
                         and np.isclose(g["w"][1], wb)]) for wb in printed["w_brevity"]]
        np.testing.assert_allclose(run[mode]["mean_length"], by_w)
        ref = np.mean([len(g["response"]) for g in gens if g["mode"] == mode and g["w"] is None])
        assert run[mode]["reference_length"] == pytest.approx(ref)
    implicit = json.loads((out / "seed0" / "implicit" / "front.json").read_text())
    np.testing.assert_allclose([pt["pairwise_accuracy"] for pt in implicit["points"]], run["front_accuracy"])
