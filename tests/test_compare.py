"""compare: ranx's paired tests per weight and objective, against a hand computation; the HV difference interval."""
import json

import numpy as np
import pytest
from conftest import run_config

from ltr_hyperdpo.cli import main


@pytest.fixture(scope="module")
def two_runs(synth, tmp_path_factory):
    from ltr_hyperdpo.training import RunConfig, train

    root = tmp_path_factory.mktemp("cmp")
    for name, method in (("a", "hyperdpo"), ("b", {"name": "dpo_ls", "params": {"members": 3}})):
        train(RunConfig.from_dict(run_config(synth, model={"hidden": [16]}, reference={"epochs": 2},
                                             hyperdpo={"epochs": 2}, method=method)), root / name)
    return root / "a", root / "b"


@pytest.mark.slow
def test_compare_equals_a_hand_computed_paired_t_test(two_runs, synth):
    stats = pytest.importorskip("scipy.stats")
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.eval.front import per_query_ndcg
    from ltr_hyperdpo.serving import load_run
    from ltr_hyperdpo.serving.compare import compare_runs

    runs = {str(p): load_run(p) for p in two_runs}
    a, b = runs.values()
    ds = RankingDataset.load(synth / "test.parquet", state=a.state)
    w = np.array([[0.7, 0.3]])
    res = compare_runs(runs, ds, w, k=10, grid=np.stack([np.linspace(0, 1, 5), 1 - np.linspace(0, 1, 5)], 1),
                       n_boot=200)
    va, blank = per_query_ndcg(a.ranker, ds, w, k=10)
    vb, _ = per_query_ndcg(b.ranker, ds, w, k=10)
    for j, obj in enumerate(ds.objective_names):
        c = res["per_weight"][0]["objectives"][obj]
        keep = ~blank[j]
        assert c["queries"] == int(keep.sum())
        assert c["scores"][str(two_runs[0])] == pytest.approx(va[0, j, keep].mean(), abs=1e-9)
        assert c["scores"][str(two_runs[1])] == pytest.approx(vb[0, j, keep].mean(), abs=1e-9)
        p = stats.ttest_rel(va[0, j, keep], vb[0, j, keep]).pvalue
        assert c["p_values"][f"{two_runs[0]} vs {two_runs[1]}"] == pytest.approx(p, rel=1e-6)
    d = res["hypervolume_difference"][f"{two_runs[1]} - {two_runs[0]}"]
    assert d["mean"] == pytest.approx(res["hypervolume"][str(two_runs[1])] - res["hypervolume"][str(two_runs[0])])
    assert d["ci95"][0] <= d["mean"] <= d["ci95"][1]


@pytest.mark.slow
def test_compare_command(two_runs, synth, tmp_path, capsys):
    a, b = two_runs
    assert main(["compare", str(a), str(b), "--data", str(synth / "test.parquet"), "--w", "1", "0", "--test",
                 "fisher", "--grid", "5", "--out", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "p-values (fisher)" in out and f"hypervolume {b} - {a}" in out
    res = json.loads((tmp_path / "c.json").read_text())
    assert res["stat_test"] == "fisher" and len(res["per_weight"]) == 1 and res["per_weight"][0]["w"] == [1.0, 0.0]
    assert main(["compare", str(a), "--data", str(synth / "test.parquet")]) == 2
