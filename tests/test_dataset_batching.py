"""RankingDataset, objectives, normalisation, batching and the synthetic generator."""
import numpy as np
import pytest

from ltr_hyperdpo.data.batching import SlateLoader, gather_slates
from ltr_hyperdpo.data.dataset import RankingDataset
from ltr_hyperdpo.data.normalize import FeatureNormalizer
from ltr_hyperdpo.data.objectives import ObjectiveSpec, parse_objectives
from ltr_hyperdpo.data.splits import load_splits
from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives
from ltr_hyperdpo.data.tables import table_arrays


def small(n_q=20, docs=15, feats=12, k=2, corr=-0.5, seed=0):
    t = make_synthetic(n_q, docs, feats, k, corr, seed=seed)
    return RankingDataset.from_table(t, objectives=synth_objectives(feats, k), fit=True)


def test_offsets_and_query_access():
    ds = small()
    assert ds.offsets[0] == 0 and ds.offsets[-1] == ds.n_docs
    x, y = ds.query(3)
    assert x.shape[0] == ds.list_sizes[3] and y.shape == (x.shape[0], 2)
    s, e = ds.offsets[3], ds.offsets[4]
    np.testing.assert_array_equal(x, ds.x[s:e])
    np.testing.assert_array_equal(y, ds.y[s:e])


def test_quantile_objective_zero_is_own_grade():
    o = ObjectiveSpec("clicks", "feature", 1, "quantile", n_grades=5)
    feats = np.array([[0], [0], [1], [2], [3], [4], [5], [6], [7], [8]], dtype=np.float32)
    o.fit(np.zeros(10), feats)
    g = o.grades(np.zeros(10), feats)
    assert g[0] == g[1] == 0 and g[2] == 1 and g[-1] == 4
    assert np.all(np.diff(g) >= 0)
    # unseen larger/smaller values land in the extreme grades
    assert o.grades(np.zeros(2), np.array([[100.0], [0.5]], dtype=np.float32)).tolist() == [4, 1]


def test_lower_is_better_and_bad_specs(tmp_path):
    o = ObjectiveSpec("brevity", "feature", 1, "identity", lower_is_better=True)
    assert o.grades(np.zeros(2), np.array([[3.0], [1.0]], dtype=np.float32)).tolist() == [-3, -1]
    with pytest.raises(ValueError, match="1-based"):
        ObjectiveSpec("x", "feature", 0)
    with pytest.raises(ValueError, match="unknown objectives"):
        parse_objectives("nope")
    p = tmp_path / "spec.yaml"
    p.write_text("objectives:\n  - {name: rel}\n  - {name: pr, source: feature, feature: 3, transform: quantile}\n")
    assert [o.name for o in parse_objectives(str(p))] == ["rel", "pr"]


def test_presets_ids():
    assert [o.feature for o in parse_objectives("mslr5")[1:]] == [132, 133, 134, 136]
    assert [o.feature for o in parse_objectives("mslr6")[1:]] == [132, 133, 134, 135, 136]
    assert [o.feature for o in parse_objectives("mq2008")[1:]] == [41, 42]


def test_splits_share_state_and_drop_objective_columns(mslr_train):
    tr, te, _ = load_splits(mslr_train, mslr_train.with_name("test.txt"), objectives="mslr5")
    assert tr.state is te.state
    assert tr.n_features == te.n_features == 132
    assert 132 not in tr.feature_ids and 131 in tr.feature_ids
    np.testing.assert_allclose(tr.x.mean(0), 0, atol=1e-4)
    assert tr.blank_queries(0) == 2 and tr.blank_queries(3) == 18


def test_normalizer_log1p_on_heavy_tail():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(size=5000), np.exp(rng.normal(0, 2, 5000))], 1).astype(np.float32)
    n = FeatureNormalizer().fit(x)
    assert n.log1p == [False, True]
    z = n.transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-3)
    n2 = FeatureNormalizer.from_dict(n.to_dict())
    np.testing.assert_array_equal(n2.transform(x), z)


def test_normalizer_moments_match_an_independent_computation():
    from scipy.stats import skew

    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(1e4, 3, 30_000),  # large offset: one-pass sums must stay accurate
                  np.floor(np.exp(rng.normal(0, 1.5, 30_000))), rng.gamma(0.5, 1.0, 30_000) - 0.1,
                  rng.exponential(1.0, 30_000), np.full(30_000, 7.0)], 1).astype(np.float32)
    cols = np.array([0, 1, 2, 4])
    n = FeatureNormalizer().fit_blocks(lambda: (x[i:i + 7000] for i in range(0, len(x), 7000)), 5, columns=cols)
    xd = x[:, cols].astype(np.float64)
    logc = (xd.min(0) >= 0) & (skew(xd, axis=0) > 3)
    assert n.log1p == logc.tolist() == [False, True, False, False]
    ref = np.where(logc, np.log1p(np.maximum(xd, 0)), xd)
    np.testing.assert_allclose(n.mean, ref.mean(0), rtol=1e-10)
    sd = ref.std(0)
    sd[sd < 1e-12] = 1.0
    np.testing.assert_allclose(n.std, sd, rtol=1e-7)


def test_gather_pads_and_samples():
    ds = small(docs=30)
    qs = np.array([0, 1, 2])
    s = gather_slates(ds, qs, slate_length=10, rng=np.random.default_rng(0))
    assert s.features.shape == (3, 10, ds.n_features) and s.labels.shape == (3, 10, 2)
    assert s.mask.all()
    rows = s.rows[0]
    assert len(set(rows)) == 10 and rows.min() >= ds.offsets[0] and rows.max() < ds.offsets[1]
    full = gather_slates(ds, qs)
    n = ds.list_sizes[qs]
    assert full.features.shape[1] == n.max()
    assert full.mask.sum(1).tolist() == n.tolist()
    assert float(full.features[~full.mask].abs().sum()) == 0


def test_loader_epochs_are_reproducible_and_bucketed():
    ds = small(n_q=200, docs=40)
    ld = SlateLoader(ds, batch_size=8, slate_length=30, shuffle=True, seed=3)
    ld.set_epoch(1)
    a = [b.rows.copy() for b in ld]
    ld.set_epoch(1)
    b = [b.rows.copy() for b in ld]
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    ld.set_epoch(2)
    c = [b.rows.copy() for b in ld]
    assert not all(u.shape == v.shape and np.array_equal(u, v) for u, v in zip(a, c, strict=False))
    seen = np.concatenate(list(ld.batches()))
    assert sorted(seen.tolist()) == list(range(ds.n_queries))
    # bucketing: padding share is lower than for random batches
    ev = SlateLoader(ds, batch_size=8, bucket=True)
    pad_b = np.mean([1 - s.mask.float().mean().item() for s in ev])
    ev_r = SlateLoader(ds, batch_size=8, bucket=False, shuffle=True)
    pad_r = np.mean([1 - s.mask.float().mean().item() for s in gather_iter(ev_r)])
    assert pad_b < pad_r


def gather_iter(loader):
    for qs in loader.batches():
        yield gather_slates(loader.ds, qs)


@pytest.mark.parametrize("corr", [-0.8, 0.0, 0.8])
def test_synthetic_correlation_is_controllable(corr):
    ds = small(n_q=100, docs=60, feats=40, corr=corr)
    r = np.corrcoef(ds.y[:, 0], ds.y[:, 1])[0, 1]
    assert np.sign(r) == np.sign(corr) or abs(corr) < 1e-9 and abs(r) < 0.1
    t1 = make_synthetic(5, 10, 20, 2, 0.3, seed=7)
    t2 = make_synthetic(5, 10, 20, 2, 0.3, seed=7)
    assert t1.equals(t2)


def test_prefetch_yields_the_same_batches_and_surfaces_errors(monkeypatch):
    import ltr_hyperdpo.data.batching as batching

    ds = RankingDataset.from_table(make_synthetic(30, 12, 8, 2, 0.0, seed=3), objectives=synth_objectives(8, 2),
                                   fit=True)
    plain = SlateLoader(ds, 4, slate_length=6, shuffle=True, seed=5)
    pre = SlateLoader(ds, 4, slate_length=6, shuffle=True, seed=5, prefetch=2)
    for epoch in (0, 1):
        a, b = list(plain.epoch_batches(epoch)), list(pre.epoch_batches(epoch))
        assert len(a) == len(b) == len(plain)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x.rows, y.rows) and np.array_equal(x.features.numpy(), y.features.numpy())
    calls = {"n": 0}
    real = batching.gather_slates

    def broken(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("gather failed")
        return real(*args, **kw)

    monkeypatch.setattr(batching, "gather_slates", broken)
    with pytest.raises(RuntimeError, match="gather failed"):
        list(pre.epoch_batches(2))


def test_strict_preset_drops_the_near_copy_and_the_check_finds_it(mslr_train):
    from ltr_hyperdpo.data.leakage import near_copies

    loose = RankingDataset.load(mslr_train, objectives="mslr5", fit=True)
    strict = RankingDataset.load(mslr_train, objectives="mslr5_strict", fit=True)
    assert loose.objective_names == strict.objective_names
    assert 135 in loose.feature_ids and 135 not in strict.feature_ids and strict.n_features == loose.n_features - 1
    found = near_copies(loose)
    assert [(c.feature, c.objective) for c in found] == [(135, "url_dwell_time")]
    assert found[0].spearman == pytest.approx(0.987, abs=0.002)
    assert near_copies(strict) == []
    assert [o.name for o in parse_objectives("mslr3")] == ["relevance", "quality_score", "url_dwell_time"]


def test_near_copy_of_the_label_is_found():
    from ltr_hyperdpo.data.leakage import near_copies

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 600).astype(np.float32)
    x = rng.standard_normal((600, 4)).astype(np.float32)
    x[:, 2] = labels * 3 + rng.standard_normal(600) * 0.01  # a leaked label
    ds = RankingDataset.from_arrays(x, labels, np.repeat(np.arange(30), 20))
    assert [(c.feature, c.objective) for c in near_copies(ds)] == [(3, "relevance")]


def test_held_out_validation_queries_do_not_enter_the_fitted_state(tmp_path):
    from ltr_hyperdpo.data.store import write_table

    t = make_synthetic(60, 10, 8, 2, 0.0, seed=4)
    write_table(tmp_path / "t.arrow", t)
    objs = synth_objectives(8, 2)
    tr, va, _ = load_splits(tmp_path / "t.arrow", objectives=objs, vali_fraction=0.25, seed=1)
    assert tr.n_queries == 45 and va.n_queries == 15 and not set(tr.qids) & set(va.qids)
    # the normaliser equals one fitted on the training queries alone, not on the whole file
    q, lab, feats = table_arrays(t)
    train_rows = np.isin(q, tr.qids)
    cols = tr.transform.columns
    alone = FeatureNormalizer().fit(feats[train_rows][:, cols])
    whole = FeatureNormalizer().fit(feats[:, cols])
    np.testing.assert_allclose(tr.state.normalizer.mean, alone.mean, rtol=1e-9)
    assert not np.allclose(tr.state.normalizer.mean, whole.mean, rtol=1e-6)
    np.testing.assert_allclose(tr.x.mean(0), 0, atol=1e-4)  # standardised on exactly these rows
    assert tr.state.objectives[1].edges == objs[1].fit(lab[train_rows], feats[train_rows]).edges


def test_per_batch_features_equal_the_whole_matrix_transform(tmp_path):
    from ltr_hyperdpo.data.store import open_table, write_table

    t = make_synthetic(40, 12, 10, 2, 0.0, seed=5)
    write_table(tmp_path / "t.arrow", t)
    ds = RankingDataset.load(tmp_path / "t.arrow", objectives=synth_objectives(10, 2), fit=True)
    _, _, feats = table_arrays(open_table(tmp_path / "t.arrow"))
    expect = ds.state.normalizer.transform(feats[:, ds.transform.columns])  # the float64 numpy path
    docs = np.random.default_rng(0).permutation(ds.n_docs)[:100]
    np.testing.assert_array_equal(ds.features(docs), expect[docs])
    # memory-mapped Arrow IPC: the raw features are the mapped file's buffers, not a copy
    from ltr_hyperdpo.data.features import FeatureSource

    table = open_table(tmp_path / "t.arrow")
    mapped = [c.values.buffers()[1].address for c in table.column("features").chunks]
    assert [c.ctypes.data for c in FeatureSource.from_table(table).chunks] == mapped
