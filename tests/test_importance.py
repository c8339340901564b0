"""Permutation importance on data where the informative features are known: feature 1 drives relevance, feature 2
drives the second objective (through feature 5, its noisy copy, which grades it and is dropped from the input),
features 3, 4 and 6 are noise."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.serving import load_run
from ltr_hyperdpo.training import RunConfig, train


def write_letor(path, n_queries: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for q in range(n_queries):
        x = rng.normal(size=(12, 6))
        x[:, 4] = x[:, 1] + 0.1 * rng.normal(size=12)  # the second objective's source, a copy of feature 2
        rel = np.clip(np.round(1.2 * x[:, 0] + 1.5 + 0.3 * rng.normal(size=12)), 0, 4).astype(int)
        for d in range(12):
            feats = " ".join(f"{j + 1}:{x[d, j]:.5f}" for j in range(6))
            lines.append(f"{rel[d]} qid:{q + 1} {feats}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def known_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("importance")
    write_letor(d / "train.txt", 150, 0)
    write_letor(d / "test.txt", 60, 1)
    spec = {"objectives": [{"name": "relevance"},
                           {"name": "aux", "source": "feature", "feature": 5, "transform": "quantile"}]}
    (d / "objectives.json").write_text(json.dumps(spec))
    cfg = RunConfig.from_dict({"data": {"train": str(d / "train.txt"), "objectives": str(d / "objectives.json"),
                                        "batch_size": 16},
                               "model": {"hidden": [32]}, "reference": {"epochs": 6}, "hyperdpo": {"epochs": 6},
                               "progress": False})
    train(cfg, d / "run")
    return d, load_run(d / "run")


@pytest.mark.slow
def test_importance_finds_the_informative_feature_of_each_objective(known_run):
    d, run = known_run
    imp = run.feature_importance(d / "test.txt", [0.5, 0.5], repeats=3, seed=0)
    assert imp.feature_ids == [1, 2, 3, 4, 6]  # feature 5 grades an objective: not an input
    assert imp.weight_labels == ["w", "e_relevance", "e_aux"]
    f = {fid: c for c, fid in enumerate(imp.feature_ids)}
    rel_at_rel = imp.mean[1, 0]  # relevance's drop at its own vertex, per feature
    aux_at_aux = imp.mean[2, 1]
    assert rel_at_rel[f[1]] > 0.1 and rel_at_rel[f[1]] > 5 * max(abs(rel_at_rel[f[j]]) for j in (3, 4, 6))
    assert aux_at_aux[f[2]] > 0.1 and aux_at_aux[f[2]] > 5 * max(abs(aux_at_aux[f[j]]) for j in (3, 4, 6))
    assert int(np.argmax(rel_at_rel)) == f[1] and int(np.argmax(aux_at_aux)) == f[2]
    assert (imp.std >= 0).all() and imp.std[1, 0, f[1]] < rel_at_rel[f[1]]  # spread smaller than the effect
    # seeded: the same figures again
    again = run.feature_importance(d / "test.txt", [0.5, 0.5], repeats=3, seed=0)
    np.testing.assert_array_equal(again.mean, imp.mean)


@pytest.mark.slow
def test_importance_command_prints_and_writes_csv(known_run, tmp_path, capsys):
    d, _ = known_run
    out = tmp_path / "imp.csv"
    assert main(["importance", str(d / "run"), "--data", str(d / "test.txt"), "--w", "1", "0", "--repeats", "2",
                 "--objective", "aux", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| feature | aux @ w | aux @ e_aux |" in text
    rows = out.read_text().splitlines()
    assert rows[0] == "weight,w,objective,feature,ndcg_drop,std" and len(rows) == 1 + 3 * 2 * 5
    assert main(["importance", str(d / "run"), "--data", str(d / "test.txt"), "--objective", "nope"]) == 2


@pytest.mark.slow
def test_importance_refuses_bad_weights(known_run):
    d, run = known_run
    with pytest.raises(ConfigError, match="--w needs 2"):
        run.feature_importance(d / "test.txt", [1, 0, 0])
