"""benchmarks/llm_generation_control.py: the text-only rankers its implicit-reward front is read against."""
import importlib.util
from pathlib import Path

import numpy as np

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
