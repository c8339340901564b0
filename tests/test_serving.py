"""Using a trained run: Run.score on every input kind, predict's formats, streaming, qrels and metric parity."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import shared_path

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.data.dataset import RankingDataset
from ltr_hyperdpo.data.store import open_table
from ltr_hyperdpo.data.tables import table_arrays
from ltr_hyperdpo.errors import ConfigError, DataError
from ltr_hyperdpo.eval.front import score_lists
from ltr_hyperdpo.serving import load_run
from ltr_hyperdpo.training import RunConfig, train

W = [0.3, 0.7]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    for name, seed, q in (("train", 0, 60), ("test", 1, 25)):
        assert main(["synth", str(d / f"{name}.parquet"), "--queries", str(q), "--docs-per-query", "12",
                     "--features", "10", "--seed", str(seed)]) == 0
    assert main(["synth", str(d / "test.txt"), "--queries", "25", "--docs-per-query", "12", "--features", "10",
                 "--seed", "1"]) == 0
    return d


def trained(d, tmp, method="hyperdpo", kind="mlp"):
    cfg = RunConfig.from_dict({"data": {"train": str(d / "train.parquet"), "batch_size": 16},
                               "model": {"kind": kind, "hidden": [16], "d_model": 16, "n_heads": 2, "n_layers": 1},
                               "reference": {"epochs": 2}, "hyperdpo": {"epochs": 2},
                               "method": {"name": method, "params": {"members": 3} if method in ("dpo_ls", "modpo")
                                          else {}}, "progress": False})
    train(cfg, tmp / f"{method}_{kind}")
    return load_run(tmp / f"{method}_{kind}")


def evaluation_scores(run, ds, w):
    """The scores the front evaluation computes (model inputs built by the dataset)."""
    lists = score_lists(ds, [lambda b: run.ranker.score(b.features, b.mask, torch.tensor(w), None)])[0]
    return np.concatenate(lists)


@pytest.mark.slow
@pytest.mark.parametrize("method,kind", [("hyperdpo", "mlp"), ("hyperdpo", "transformer"), ("dpo_ls", "mlp"),
                                         ("dpo_soup", "mlp"), ("reference", "mlp")])
def test_run_score_applies_the_stored_state_for_every_input_kind(synth, tmp_path, method, kind):
    run = trained(synth, tmp_path, method, kind)
    ds = RankingDataset.load(synth / "test.parquet", state=run.state)
    expect = evaluation_scores(run, ds, W)
    for data in (synth / "test.parquet", ds):
        np.testing.assert_allclose(run.score(data, W), expect, rtol=1e-5, atol=1e-6)
    # the text copy stores 6 significant digits, so its scores agree to that precision
    np.testing.assert_allclose(run.score(synth / "test.txt", W), expect, rtol=1e-3, atol=1e-4)
    # arrays of raw features, rows shuffled across queries: scores come back in input order
    q, _, x = table_arrays(open_table(synth / "test.parquet"))
    perm = np.random.default_rng(0).permutation(len(q))
    np.testing.assert_allclose(run.score(x[perm], W, qid=q[perm]), expect[perm], rtol=1e-5, atol=1e-6)
    # the raw matrix without the stored normaliser is not what the model saw: scoring it directly differs
    if method == "hyperdpo" and kind == "mlp":
        naive = run.ranker.score(torch.from_numpy(x[:12, ds.transform.columns])[None], None, torch.tensor(W))
        assert not np.allclose(naive.numpy()[0], expect[:12], atol=1e-3)


@pytest.mark.slow
def test_streaming_blocks_unlabeled_lines_and_errors(synth, tmp_path):
    run = trained(synth, tmp_path)
    whole = run.score(synth / "test.txt", W)
    small = np.concatenate([s for _, s in run.iter_scores(synth / "test.txt", W, block_rows=7)])
    np.testing.assert_allclose(small, whole, rtol=1e-5, atol=1e-6)  # queries cut by blocks are completed first
    lines = (synth / "test.txt").read_text().splitlines()
    (tmp_path / "unlabeled.txt").write_text("\n".join(ln.split(" ", 1)[1] for ln in lines) + "\n")
    np.testing.assert_allclose(run.score(tmp_path / "unlabeled.txt", W), whole, rtol=1e-6)
    with pytest.raises(ConfigError, match="needs 2 values"):
        run.score(synth / "test.txt", [1.0])
    with pytest.raises(ConfigError, match=">= 0"):
        run.score(synth / "test.txt", [-1.0, 2.0])
    with pytest.raises(ConfigError, match="beta"):
        run.score(synth / "test.txt", W, beta=float("nan"))
    (tmp_path / "wide.txt").write_text("0 qid:1 1:0.5 99:1\n")
    with pytest.raises(DataError, match="feature index 99 but the run was trained on 10"):
        run.score(tmp_path / "wide.txt", W)


@pytest.mark.slow
def test_predict_formats(synth, tmp_path, capsys):
    run = trained(synth, tmp_path)
    expect = run.score(synth / "test.txt", W)
    args = ["predict", str(run.run_dir), "--data", str(synth / "test.txt"), "--w", "3", "7"]
    assert main(args + ["--out", str(tmp_path / "s.tsv")]) == 0
    rows = (tmp_path / "s.tsv").read_text().splitlines()
    assert rows[0] == "qid\tdocno\tscore" and len(rows) == len(expect) + 1
    np.testing.assert_allclose([float(r.split("\t")[2]) for r in rows[1:]], expect)
    assert rows[1].split("\t")[1] == "1_0" and rows[2].split("\t")[1] == "1_1"  # <qid>_<position>
    assert main(args + ["--out", str(tmp_path / "s.parquet")]) == 0
    t = pq.read_table(tmp_path / "s.parquet")
    assert t.column("row").to_pylist() == list(range(len(expect)))
    np.testing.assert_allclose(t.column("score").to_numpy(), expect)
    assert main(args + ["--out", str(tmp_path / "s.trec"), "--tag", "mytag"]) == 0
    trec = [ln.split() for ln in (tmp_path / "s.trec").read_text().splitlines()]
    assert all(r[1] == "Q0" and r[5] == "mytag" for r in trec) and len(trec) == len(expect)
    q1 = [r for r in trec if r[0] == "1"]
    assert [int(r[3]) for r in q1] == list(range(1, len(q1) + 1))
    assert [float(r[4]) for r in q1] == sorted((float(r[4]) for r in q1), reverse=True)
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["w"] == {"relevance": 0.3, "aux1": 0.7}


@pytest.mark.slow
def test_trec_run_and_qrels_match_the_front_in_ranx_and_ir_measures(tmp_path):
    import ir_measures
    from ranx import Qrels, Run, evaluate

    d = shared_path("data", "ltr", "mq2008_fold1")
    cfg = RunConfig.from_dict({"data": {"train": str(d / "train.txt"), "vali": str(d / "vali.txt"),
                                        "objectives": "mq2008"}, "model": {"hidden": [32]},
                               "reference": {"epochs": 2}, "hyperdpo": {"epochs": 2}, "progress": False})
    train(cfg, tmp_path / "run")
    w = [0.5, 0.5, 0.0]
    assert main(["front", str(tmp_path / "run"), "--data", str(d / "test.txt"), "--grid", "5", "--blank-policy",
                 "zero", "--out", str(tmp_path / "f")]) == 0
    front = json.loads((tmp_path / "f" / "front.json").read_text())
    point = next(p for p in front["points"] if p["w"] == w)
    assert main(["predict", str(tmp_path / "run"), "--data", str(d / "test.txt"), "--w", *map(str, w), "--out",
                 str(tmp_path / "run.trec")]) == 0
    assert main(["qrels", str(d / "test.txt"), "--run", str(tmp_path / "run"), "--out-dir", str(tmp_path / "q")]) == 0
    trec_run = Run.from_file(str(tmp_path / "run.trec"), kind="trec")
    run_rows = list(ir_measures.read_trec_run(str(tmp_path / "run.trec")))
    measure = ir_measures.nDCG(gains={g: 2 ** g - 1 for g in range(5)}) @ 10
    for k, name in enumerate(front["objectives"]):
        qrels_path = str(tmp_path / "q" / f"qrels.{name}.txt")
        via_ranx = evaluate(Qrels.from_file(qrels_path, kind="trec"), trec_run, "ndcg_burges@10",
                            make_comparable=True)
        via_irm = ir_measures.calc_aggregate([measure], list(ir_measures.read_trec_qrels(qrels_path)),
                                             run_rows)[measure]
        assert via_ranx == pytest.approx(point["ndcg@10"][k], abs=1e-9)
        assert via_irm == pytest.approx(point["ndcg@10"][k], abs=1e-9)
    # the default (skip) front states the trec_eval figure beside its own: 51 of 156 queries are blank
    assert main(["front", str(tmp_path / "run"), "--data", str(d / "test.txt"), "--grid", "5", "--out",
                 str(tmp_path / "f2")]) == 0
    skip = json.loads((tmp_path / "f2" / "front.json").read_text())
    assert skip["blank_queries"]["relevance"] == 51
    alt = skip["trec_eval_convention"]
    i = next(j for j, p in enumerate(skip["points"]) if p["w"] == w)
    assert alt["points"][i][0] == pytest.approx(point["ndcg@10"][0], abs=1e-12)
    assert skip["points"][i]["ndcg@10"][0] > alt["points"][i][0]
    # front.json's figures come from ranx; the numba kernel used by searches gives the same front
    assert skip["ndcg_engine"] == "ranx"
    from ltr_hyperdpo.data.cache import cached_input
    from ltr_hyperdpo.eval.front import evaluate_front
    from ltr_hyperdpo.serving import load_run

    run = load_run(tmp_path / "run")
    ds = RankingDataset.load(cached_input(d / "test.txt", tmp_path / "cache"), state=run.state)
    grid = np.array([p["w"] for p in skip["points"]])
    kernel = evaluate_front(run.ranker, ds, grid, ks=(10, 5), engine="kernel")
    np.testing.assert_allclose(kernel.metrics["ndcg@10"], [p["ndcg@10"] for p in skip["points"]], atol=1e-12)
    np.testing.assert_allclose(kernel.reference_metrics["ndcg@10"], skip["reference"]["ndcg@10"], atol=1e-12)
