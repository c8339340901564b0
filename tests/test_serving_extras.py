"""The estimator (scikit-learn conventions), the PyTerrier re-ranker, ONNX export, model cards."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ltr_hyperdpo import MultiObjectiveRanker
from ltr_hyperdpo.cli import main
from ltr_hyperdpo.data.splits import load_splits
from ltr_hyperdpo.data.tables import load_table, table_arrays
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.eval.metrics import ndcg_ranx
from ltr_hyperdpo.serving import load_run
from ltr_hyperdpo.training import RunConfig, train


@pytest.fixture(scope="module")
def mq2008(letor_source):
    """Generated data, then MQ2008, as arrays: X without the objective columns, Y = three graded objectives (MQ2008:
    relevance, pagerank grade, inlinks grade)."""
    d, objectives = letor_source
    tr, va, te = load_splits(d / "train.txt", d / "vali.txt", d / "test.txt", objectives=objectives)

    def arrays(ds):
        return ds.source.take(ds.raw_rows(np.arange(ds.n_docs)))[:, ds.transform.columns], ds.y, ds.list_sizes

    return {"d": d, "train": arrays(tr), "vali": arrays(va), "test": arrays(te), "test_ds": te}


def ndcg10(scores, y, sizes):
    starts = np.r_[0, np.cumsum(sizes)]
    return ndcg_ranx([scores[s:e] for s, e in zip(starts[:-1], starts[1:], strict=True)],
                     [y[s:e] for s, e in zip(starts[:-1], starts[1:], strict=True)], k=10).mean


@pytest.mark.slow
def test_estimator_fit_predict_clone_save_load(mq2008, tmp_path):
    x, y, g = mq2008["train"]
    xv, yv, gv = mq2008["vali"]
    xt, yt, gt = mq2008["test"]
    est = MultiObjectiveRanker(hidden=(32,), epochs=3, reference_epochs=4, objective_names=("rel", "pr", "inl"),
                               work_dir=str(tmp_path / "work"))
    assert est.fit(x, y, group=g, eval_set=[(xv, yv)], eval_group=[gv]) is est
    assert est.n_features_in_ == x.shape[1] and est.objective_names_ == ["rel", "pr", "inl"]
    main_scores = est.predict(xt, group=gt, w=[1, 0, 0])
    pr_scores = est.predict(xt, group=gt, w=[0, 1, 0])
    assert main_scores.shape == (len(xt),)
    # the trade-off is chosen at predict time: each extreme serves its own objective better
    assert ndcg10(main_scores, yt[:, 0], gt) > ndcg10(pr_scores, yt[:, 0], gt)
    assert ndcg10(pr_scores, yt[:, 1], gt) > ndcg10(main_scores, yt[:, 1], gt)
    # the MLP scores documents one by one: no groups needed
    np.testing.assert_allclose(est.predict(xt, w=[1, 0, 0]), main_scores, rtol=1e-5, atol=1e-6)
    # scikit-learn conventions: hyperparameters only in the constructor, learned state with a trailing underscore
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "run_")
    assert c.set_params(epochs=1).epochs == 1 and est.epochs == 3
    with pytest.raises(ConfigError, match="not fitted"):
        c.predict(xt)
    saved = est.save(tmp_path / "saved")
    back = MultiObjectiveRanker.load(saved)
    np.testing.assert_array_equal(back.predict(xt, group=gt, w=[1, 0, 0]), main_scores)
    assert load_run(saved).objective_names == ["rel", "pr", "inl"]  # an ordinary run directory
    assert back.get_params()["hidden"] == (32,)


@pytest.mark.slow
def test_estimator_alone_holds_out_validation_queries_and_transformer_needs_groups(mq2008, tmp_path):
    x, y, g = mq2008["train"]
    est = MultiObjectiveRanker(kind="transformer", epochs=1, reference_epochs=1, vali_fraction=0.2,
                               work_dir=str(tmp_path / "w")).fit(x[:, :], y[:, 0], group=g)
    assert est.n_objectives_ == 1
    with pytest.raises(ConfigError, match="pass group or qid"):
        est.predict(x[:10])
    assert est.predict(x[:30], qid=np.repeat([1, 2, 3], 10)).shape == (30,)


@pytest.fixture(scope="module")
def mq_run(letor_source, tmp_path_factory):
    d, objectives = letor_source
    root = tmp_path_factory.mktemp("mqrun")
    cfg = RunConfig.from_dict({"data": {"train": str(d / "train.txt"), "vali": str(d / "vali.txt"),
                                        "test": str(d / "test.txt"), "objectives": objectives},
                               "model": {"hidden": [32]}, "reference": {"epochs": 2}, "hyperdpo": {"epochs": 2},
                               "eval": {"blank_policy": "zero"}, "progress": False})
    train(cfg, root / "run")
    return root / "run", d, objectives


@pytest.mark.slow
def test_pyterrier_reranker_matches_run_score_and_the_front(mq_run):
    pt = pytest.importorskip("pyterrier")
    import ir_measures

    from ltr_hyperdpo.serving.pyterrier import HyperDPOReranker

    run_dir, d, _ = mq_run
    q, labels, x = table_arrays(load_table(d / "test.txt"))
    pos = np.concatenate([np.arange(n) for n in np.unique(q, return_counts=True)[1]])
    frame = pd.DataFrame({"qid": q.astype(str), "docno": [f"{a}_{b}" for a, b in zip(q, pos, strict=True)],
                          "features": list(x)})
    front = json.loads((run_dir / "front" / "front.json").read_text())
    point = next(p for p in front["points"] if min(p["w"]) > 0)  # an interior weight of the run's test grid
    w = point["w"]
    rr = HyperDPOReranker.from_run(run_dir, w)
    out = rr.transform(frame)
    expect = load_run(run_dir).score(d / "test.txt", w)
    np.testing.assert_allclose(out["score"].to_numpy(), expect, rtol=1e-5, atol=1e-6)
    assert {"score", "rank"} <= set(out.columns) and not pt.java.started()
    shuffled = rr.transform(frame.sample(frac=1.0, random_state=0))
    by_doc = dict(zip(out["docno"], out["score"], strict=True))
    assert all(abs(by_doc[dn] - s) < 1e-6 for dn, s in zip(shuffled["docno"], shuffled["score"], strict=True))
    # a per-row trade-off: queries of user A at w, of user B at e_main
    per_row = frame.assign(w=[w if int(a) % 2 else [1.0, 0.0, 0.0] for a in frame["qid"]])
    mixed = rr.transform(per_row)
    odd = frame["qid"].astype(int) % 2 == 1
    np.testing.assert_allclose(mixed["score"].to_numpy()[odd.to_numpy()], expect[odd.to_numpy()], rtol=1e-5)
    # pt.Experiment on the re-ranked frame gives the front's NDCG@10 at that w (blank queries as 0, trec_eval)
    topics = pd.DataFrame({"qid": np.unique(q).astype(str), "query": ""})
    qrels = pd.DataFrame({"qid": q.astype(str), "docno": frame["docno"], "label": labels.astype(int)})
    measure = ir_measures.nDCG(gains={g: 2 ** g - 1 for g in range(5)}) @ 10
    res = pt.Experiment([pt.Transformer.from_df(frame) >> rr], topics, qrels, [measure], verbose=False)
    assert res[str(measure)].iloc[0] == pytest.approx(point["ndcg@10"][0], abs=1e-9)


@pytest.mark.slow
def test_estimator_serves_pyterrier_apply_learned_model(mq2008, tmp_path):
    pt = pytest.importorskip("pyterrier")
    x, y, g = mq2008["train"]
    xt, _, gt = mq2008["test"]
    est = MultiObjectiveRanker(hidden=(16,), epochs=1, reference_epochs=1, work_dir=str(tmp_path)).fit(x, y, group=g)
    qid = np.repeat(np.arange(len(gt)), gt).astype(str)
    frame = pd.DataFrame({"qid": qid, "docno": [str(i) for i in range(len(xt))], "features": list(xt)})
    out = (pt.Transformer.from_df(frame) >> pt.ltr.apply_learned_model(est)).transform(
        pd.DataFrame({"qid": np.unique(qid), "query": ""}))
    got = dict(zip(out["docno"], out["score"], strict=True))
    expect = est.predict(xt)
    assert np.allclose([got[str(i)] for i in range(len(xt))], expect, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("over", [{}, {"model": {"kind": "transformer", "d_model": 16, "n_heads": 2}},
                                  {"method": {"name": "dpo_ls", "params": {"members": 3}}, "hyperdpo": {"epochs": 1}},
                                  {"model": {"temperature_conditioned": True}}, {"model": {"head_hidden": 4}}])
def test_onnx_export_equals_run_score_at_a_new_shape(mq_run, tmp_path, capsys, over):
    pytest.importorskip("onnxruntime")
    _, d, objectives = mq_run
    c = {"data": {"train": str(d / "train.txt"), "vali": str(d / "vali.txt"), "objectives": objectives},
         "model": {"hidden": [16]}, "reference": {"epochs": 1}, "hyperdpo": {"epochs": 1}, "progress": False}
    for k, v in over.items():
        c[k] = {**c.get(k, {}), **v} if isinstance(v, dict) else v
    train(RunConfig.from_dict(c), tmp_path / "r")
    assert main(["export", str(tmp_path / "r"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["max_abs_difference_vs_run_score"] < 1e-5
    assert ("beta" in out["inputs"]) == bool(over.get("model", {}).get("temperature_conditioned"))


def test_soup_export_is_refused_with_a_reason(tmp_path, capsys):
    import torch

    from ltr_hyperdpo.models import ScorerConfig, SoupRanker, build_scorer
    from ltr_hyperdpo.serving.export import export_onnx
    from ltr_hyperdpo.serving.run import Run

    c = ScorerConfig(kind="mlp", n_features=3, n_objectives=2, hidden=[4])
    ref = build_scorer(c, conditioned=False)
    run = Run(run_dir=tmp_path, config=RunConfig(), state=None, ranker=SoupRanker([ref, ref], ref),  # type: ignore[arg-type]
              method="dpo_soup")
    with pytest.raises(ConfigError, match="soup mixes parameters"):
        export_onnx(run, tmp_path / "s.onnx")
    assert not (tmp_path / "s.onnx").exists() and torch.is_tensor(ref.out.weight)


@pytest.mark.slow
def test_run_directory_records_versions_and_a_model_card(mq_run):
    run_dir, _, objectives = mq_run
    v = json.loads((run_dir / "versions.json").read_text())
    assert {"ltr_hyperdpo", "torch", "python"} <= set(v)
    card = (run_dir / "MODEL_CARD.md").read_text()
    column = "| pagerank | feature 41 |" if objectives == "mq2008" else "| aux2 | feature 24 |"
    for part in ("## Data", "## Objectives", column, "## Test front", "hypervolume", "## Intended use"):
        assert part in card
