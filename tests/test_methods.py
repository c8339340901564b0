"""Baselines (DPO-LS, soup, MODPO-style, COSMOS-style), LambdaMART anchor, Optuna tuning, the reproduce script."""
import importlib.util
import json

import numpy as np
import pytest
import torch
from conftest import ROOT, StopTraining, stop_after

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.models import MemberRanker, ScorerConfig, SoupRanker, build_scorer
from ltr_hyperdpo.serving import load_run
from ltr_hyperdpo.training import RunConfig, load_run_splits, train


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    for name, seed, q in (("train", 0, 120), ("test", 1, 40)):
        assert main(["synth", str(d / f"{name}.parquet"), "--queries", str(q), "--docs-per-query", "30",
                     "--features", "16", "--correlation", "-0.6", "--seed", str(seed)]) == 0
    return d


def cfg(d, method, **params):
    if method in ("dpo_ls", "modpo"):
        params = {"members": 5, **params}
    return RunConfig.from_dict({"data": {"train": str(d / "train.parquet"), "test": str(d / "test.parquet"),
                                         "batch_size": 16},
                                "model": {"kind": "mlp", "hidden": [32], "dropout": 0.0},
                                "reference": {"epochs": 3, "lr": 3e-3},
                                "hyperdpo": {"epochs": 3, "lr": 3e-3},
                                "eval": {"grid": 5}, "method": {"name": method, "params": params},
                                "progress": False})


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dpo_ls", "dpo_soup", "modpo", "cosmos", "reference"])
def test_each_method_trains_saves_and_reloads(files, tmp_path, method):
    res = train(cfg(files, method), tmp_path / method)
    assert res.method == method and res.front is not None and len(res.front["points"]) == 5
    run = load_run(tmp_path / method)
    ranker, c, state = run.ranker, run.config, run.state
    assert c.method.name == method and run.method == method and run.plan.method.name == method
    meta = json.loads((tmp_path / method / "method.json").read_text())
    n_members = {"dpo_ls": 5, "modpo": 5, "dpo_soup": 2}.get(method, 0)
    assert len(meta["members"]) == n_members
    if n_members:  # the budget and the members' own-weights front are stated beside the dense-grid front
        assert res.front["members"]["M"] == n_members and res.front["members"]["hypervolume_on_training_weights"] > 0
    assert res.front["grid"] == {"kind": "segment", "points": 5}
    # the reloaded ranker reproduces the saved front
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.eval.front import evaluate_front

    te = RankingDataset.load(files / "test.parquet", state=state)
    fr = evaluate_front(ranker, te, np.array([p["w"] for p in res.front["points"]]))
    assert fr.hypervolume == pytest.approx(res.front["hypervolume"], rel=1e-9)
    if method == "reference":
        pts = np.array([p["ndcg@10"] for p in res.front["points"]])
        assert np.allclose(pts, pts[0])


@pytest.mark.slow
def test_multi_run_members_resume_skips_finished(files, tmp_path):
    # killed after reference 2/3; then after reference 3/3 + member m00 1/3; then after m00 3/3 + m01 1/3
    with pytest.raises(StopTraining):
        train(cfg(files, "dpo_ls"), tmp_path / "r", on_epoch=stop_after(2))
    for n in (2, 3):
        with pytest.raises(StopTraining):
            train(cfg(files, "dpo_ls"), tmp_path / "r", resume=True, on_epoch=stop_after(n))
    done = sorted(p.parent.name for p in (tmp_path / "r" / "members").glob("*/model.pt"))
    assert done == ["m00"]
    res = train(cfg(files, "dpo_ls"), tmp_path / "r", resume=True)
    full = train(cfg(files, "dpo_ls"), tmp_path / "full")
    assert res.front["hypervolume"] == full.front["hypervolume"]


def test_soup_interpolates_parameters_and_member_ranker_picks_nearest():
    c = ScorerConfig(kind="mlp", n_features=4, n_objectives=2, hidden=[8], dropout=0.0)
    torch.manual_seed(0)
    a, b, ref = (build_scorer(c, conditioned=False).eval() for _ in range(3))
    soup = SoupRanker([a, b], ref)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(soup.score(x, None, [1.0, 0.0]), a(x))
    torch.testing.assert_close(soup.score(x, None, [0.0, 1.0]), b(x))
    mid = build_scorer(c, conditioned=False).eval()
    mid.load_state_dict({k: 0.5 * a.state_dict()[k] + 0.5 * b.state_dict()[k] for k in a.state_dict()})
    torch.testing.assert_close(soup.score(x, None, [0.5, 0.5]), mid(x))
    mr = MemberRanker([(np.array([1.0, 0.0]), a), (np.array([0.0, 1.0]), b)], ref)
    torch.testing.assert_close(mr.score(x, None, [0.8, 0.2]), a(x))
    torch.testing.assert_close(mr.score(x, None, [0.1, 0.9]), b(x))
    # a batch of mixed weights (one per list) is scored list by list
    mixed = torch.tensor([[0.8, 0.2], [0.1, 0.9]])
    torch.testing.assert_close(mr.score(x, None, mixed), torch.cat([a(x[:1]), b(x[1:])]))
    torch.testing.assert_close(soup.score(x, None, mixed), torch.cat([soup.score(x[:1], None, [0.8, 0.2]),
                                                                      soup.score(x[1:], None, [0.1, 0.9])]))


@pytest.mark.slow
def test_cosmos_differs_from_hyperdpo_by_its_penalty(files, tmp_path):
    h = train(cfg(files, "hyperdpo"), tmp_path / "h")
    c = train(cfg(files, "cosmos", cosine_weight=50.0), tmp_path / "c")
    assert h.front["hypervolume"] != c.front["hypervolume"]


def test_lambdamart_anchor(files):
    from ltr_hyperdpo.eval.front import ndcg_matrix
    from ltr_hyperdpo.methods.lambdamart import fit_lambdamart, lambdamart_scores

    tr, va, te = load_run_splits(cfg(files, "hyperdpo"))
    m = fit_lambdamart(tr, va, params={"n_estimators": 30})
    res = ndcg_matrix(te, lambdamart_scores(m, te), (10,))
    assert res["ndcg@10"][0] > 0.5  # relevance is learnable from the features
    rnd = ndcg_matrix(te, [np.random.default_rng(0).random(n) for n in te.list_sizes], (10,))
    assert res["ndcg@10"][0] > rnd["ndcg@10"][0] + 0.1


def load_reproduce():
    """benchmarks/reproduce.py as a module."""
    spec = importlib.util.spec_from_file_location("reproduce", ROOT / "benchmarks" / "reproduce.py")
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
    return reproduce


def load_claims():
    """benchmarks/_claims.py as a module."""
    spec = importlib.util.spec_from_file_location("_claims", ROOT / "benchmarks" / "_claims.py")
    claims = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(claims)
    return claims


def test_vertex_table_compares_each_objective_at_its_own_vertex_with_the_other_vertices():
    claims = load_claims()
    weights = [[1, 0, 0], [0.5, 0.5, 0], [0, 1, 0], [0, 0.5, 0.5], [0, 0, 1]]
    # rows: NDCG@10 of (relevance, pagerank, inlinks) at each weight; the interior rows must not count
    seed0 = [[0.70, 0.50, 0.60], [0.99, 0.99, 0.99], [0.40, 0.80, 0.70], [0.99, 0.99, 0.99], [0.45, 0.85, 0.90]]
    seed1 = [[0.70, 0.50, 0.60], [0.0, 0.0, 0.0], [0.40, 0.90, 0.70], [0.0, 0.0, 0.0], [0.45, 0.85, 0.65]]
    margins = claims.vertex_margins({"weights": weights, "points": seed0})
    # relevance 0.70 - max(0.40, 0.45); pagerank 0.80 - max(0.50, 0.85); inlinks 0.90 - max(0.60, 0.70)
    np.testing.assert_allclose(margins, [0.25, -0.05, 0.20])
    out, lines = claims.vertex_table({"reference": [], "hyperdpo": [{"weights": weights, "points": seed0},
                                                                     {"weights": weights, "points": seed1}]},
                                     ["relevance", "pagerank", "inlinks"])
    assert out["hyperdpo"]["seeds_above"] == [2, 1, 1] and out["hyperdpo"]["n_seeds"] == 2
    np.testing.assert_allclose(out["hyperdpo"]["mean_margin"], [0.25, 0.0, 0.075], atol=1e-12)
    # Student t over 2 seeds (1 degree of freedom, t = 12.7062): half-width t * sd / sqrt(2) = t * |m1 - m2| / 2
    t = 12.706204736174707
    np.testing.assert_allclose(out["hyperdpo"]["ci95"], [[0.25, 0.25], [-t * 0.05, t * 0.05],
                                                         [0.075 - t * 0.125, 0.075 + t * 0.125]], atol=1e-9)
    assert out["hyperdpo"]["verdict"] == ["above", "tie", "tie"]
    assert lines[-1].endswith("| 2/2; +0.2500 [+0.2500, +0.2500] above | 1/2; +0.0000 [-0.6353, +0.6353] tie "
                              "| 1/2; +0.0750 [-1.5133, +1.6633] tie |")


@pytest.mark.slow
def test_reproduce_smoke(tmp_path, capsys):
    reproduce = load_reproduce()
    out = tmp_path / "rep"
    assert reproduce.main(["--datasets", "synth_conflict", "--seeds", "2", "--epochs", "2", "--ref-epochs", "2",
                           "--ref-losses", "listnet", "--methods", "hyperdpo", "dpo_soup", "--synth-scale", "0.2",
                           "--out", str(out)]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    t = first["targets"]["synth_conflict"]
    assert "hv_ratio_vs_dpo_soup" in t and "target2_main>=reference-0.005" in t
    assert "target3_main>=0.98x_best_neural" in t
    res = json.loads((out / "results.json").read_text())
    s = res["summary"]["synth_conflict"]
    assert set(s["methods"]) == {"reference", "hyperdpo", "dpo_soup"} and s["n_seeds"] == 2
    raw = [res["raw"]["synth_conflict"]["seeds"][str(k)]["methods"]["hyperdpo"]["hypervolume"] for k in (0, 1)]
    assert s["methods"]["hyperdpo"]["hypervolume"] == pytest.approx([np.mean(raw), np.std(raw, ddof=1)])
    assert "lightgbm_lambdamart" in s["single_objective"]
    soup = [res["raw"]["synth_conflict"]["seeds"][str(k)]["methods"]["dpo_soup"]["hypervolume"] for k in (0, 1)]
    paired = res["targets"]["synth_conflict"]["hv_ratio_vs_dpo_soup_paired"]
    r = np.array(raw) / np.array(soup)
    assert paired["per_seed"] == pytest.approx(r, abs=1e-5) and paired["mean"] == pytest.approx(r.mean())
    half = 12.7062047 * abs(r[0] - r[1]) / np.sqrt(2) / np.sqrt(2)  # t(0.975, 1 df) x sample std / sqrt(n)
    assert paired["ci95"] == pytest.approx([r.mean() - half, r.mean() + half], rel=1e-6)
    assert "hv_ratio_vs_dpo_soup_paired: mean" in (out / "report.md").read_text()
    # claims by intervals: the bootstrap's point estimate is the seeds' mean ratio, inside its interval, with a verdict
    claim = res["targets"]["synth_conflict"]["claims"]["dpo_soup"]
    assert claim["hv_dense"]["mean"] == pytest.approx(r.mean(), rel=1e-4)
    lo, hi = claim["hv_dense"]["ci95"]
    assert lo <= claim["hv_dense"]["mean"] <= hi and claim["hv_dense"]["verdict"] in ("met", "tie", "missed")
    assert claim["hv_members"]["verdict"] in ("met", "tie", "missed") and claim["time_ratio_with_reference"] > 0
    params = res["targets"]["synth_conflict"]["claims"]["parameters"]
    assert params["dpo_soup"]["total"] == 2 * params["dpo_soup"]["model"]  # K = 2 experts
    assert params["hyperdpo"]["model"] > params["dpo_soup"]["model"]  # the per-objective towers and deltas
    cell = res["raw"]["synth_conflict"]["seeds"]["0"]["methods"]["hyperdpo"]
    assert 0 < cell["hypervolume_on_member_weights"] <= 1
    vertices = res["targets"]["synth_conflict"]["claims"]["vertices"]
    assert set(vertices) == {"hyperdpo", "dpo_soup"} and vertices["hyperdpo"]["n_seeds"] == 2
    assert "Steerability at the vertices" in (out / "report.md").read_text()
    assert "claims by intervals" in (out / "report.md").read_text()
    # report sets draw a fresh synthetic task per seed; development sets are the same data for every seed
    import argparse

    from ltr_hyperdpo.data.store import open_table

    def train_features(sets, seed):
        ns = argparse.Namespace(sets=sets, synth_test_queries=10, synth_scale=0.1)
        d = reproduce.materialise({"synthetic": -0.5, "batch_size": 16}, ns, seed, tmp_path)
        return open_table(d["train"]).column("label").to_numpy()

    assert not np.array_equal(train_features("report", 0), train_features("report", 1))
    assert np.array_equal(train_features("development", 0), train_features("development", 1))
    assert (out / "report.md").read_text().startswith("# HyperDPO reproduction")
    assert (out / "front_synth_conflict.png").stat().st_size > 1000


@pytest.mark.slow
def test_reproduce_gives_every_method_the_same_tuning_budget(tmp_path, capsys):
    reproduce = load_reproduce()
    out = tmp_path / "rep"
    assert reproduce.main(["--datasets", "synth_conflict", "--seeds", "1", "--epochs", "1", "--ref-epochs", "1",
                           "--ref-losses", "listnet", "--methods", "hyperdpo", "hyperdpo_lean", "dpo_soup",
                           "--synth-scale", "0.15", "--tune", "2", "--boot", "50", "--out", str(out)]) == 0
    targets = json.loads((out / "results.json").read_text())["targets"]["synth_conflict"]
    tuned = targets["tuned"]
    assert set(tuned) == {"hyperdpo", "hyperdpo_lean", "dpo_soup"}
    # the equal-capacity variant: its towers are not searched back in, and it is smaller than the default one-shot
    assert "model.head_hidden" not in tuned["hyperdpo_lean"]["chosen"]
    params = targets["claims"]["parameters"]
    assert params["dpo_soup"]["model"] < params["hyperdpo_lean"]["model"] <= params["hyperdpo"]["model"]
    assert targets["claims"]["hyperdpo_lean:dpo_soup"]["hv_dense"]["verdict"] in ("met", "tie", "missed")
    assert "HyperDPO, linear heads (equal capacity)" in (out / "report.md").read_text()
    assert all(len(v["trials"]) == 2 for v in tuned.values())  # the same budget
    # β is every method's knob; a one-run method's epochs are its time budget, not searched
    assert {"method.params.vertex_prob", "model.head_hidden", "hyperdpo.beta"} <= set(tuned["hyperdpo"]["chosen"])
    assert "hyperdpo.epochs" not in tuned["hyperdpo"]["chosen"]
    assert set(tuned["dpo_soup"]["chosen"]) == {"hyperdpo.lr", "hyperdpo.epochs", "hyperdpo.beta"}
    assert tuned["hyperdpo"]["val_hypervolume"] == max(tuned["hyperdpo"]["trials"])  # chosen on validation
    assert "Equal tuning: 2 trials per method" in (out / "report.md").read_text()


@pytest.mark.slow
def test_reproduce_trains_every_method_with_the_transformer(tmp_path, capsys):
    reproduce = load_reproduce()
    out = tmp_path / "rep"
    assert reproduce.main(["--datasets", "synth_conflict", "--seeds", "1", "--epochs", "1", "--ref-epochs", "1",
                           "--ref-losses", "listnet", "--methods", "hyperdpo", "hyperdpo_lean", "dpo_soup",
                           "--synth-scale", "0.15", "--boot", "20", "--scorer", "transformer", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    methods = res["raw"]["synth_conflict"]["seeds"]["0"]["methods"]
    assert set(methods) == {"reference", "hyperdpo", "dpo_soup"}  # the MLP-only variant is left out
    params = res["targets"]["synth_conflict"]["claims"]["parameters"]
    # an expert is the reference transformer; the one-shot model adds only its prompt network
    assert params["dpo_soup"]["model"] == params["reference"]["model"] < params["hyperdpo"]["model"]
    assert "'kind': 'transformer'" in (out / "report.md").read_text()
