"""Scorers (masking, equivariance, conditioning, temperature) and NDCG (torch vs ranx, ties, blank queries)."""
import numpy as np
import pytest
import torch

from ltr_hyperdpo.core import rescale_temperature
from ltr_hyperdpo.eval.metrics import aggregate, ndcg_ranx, ndcg_torch, ranx_ndcg_per_query
from ltr_hyperdpo.eval.pareto import hypervolume, nondominated
from ltr_hyperdpo.models import HyperDPORanker, ScorerConfig, build_scorer, conditioned_copy


def cfg(kind, **kw):
    """A resolved scorer config (the transformer conditioned by hyper prompts unless told)."""
    base = {"n_features": 6, "n_objectives": 3, "hidden": [16, 8], "d_model": 16, "n_heads": 2, "n_layers": 1,
            "dropout": 0.0, "d_ff": 32, "conditioning": "lowrank" if kind == "mlp" else "prompts"}
    return ScorerConfig(kind=kind, **{**base, **{k: v for k, v in kw.items() if v is not None}})


def auto_scorer(kind, **model):
    """The scorer a run resolves for ``model`` (auto values by the rules of training.auto) on 6 features, K = 3."""
    from ltr_hyperdpo.training import DataSummary, RunConfig, resolve

    m = {"kind": kind, "hidden": [16, 8], "d_model": 16, "n_heads": 2, "n_layers": 1, "dropout": 0.0, **model}
    plan = resolve(RunConfig.from_dict({"model": m}),
                   DataSummary(train="t", vali=None, test=None, n_features=6, n_objectives=3))
    return plan.scorer


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_mask_respected_and_shapes(kind):
    torch.manual_seed(0)
    m = build_scorer(cfg(kind), conditioned=True).eval()
    x = torch.randn(3, 5, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    w = torch.full((3, 3), 1 / 3)
    s = m(x, mask, w)
    assert s.shape == (3, 5) and torch.all(s[~mask] == 0) and torch.isfinite(s).all()
    x2 = x.clone()
    x2[~mask] = 99.0
    torch.testing.assert_close(m(x2, mask, w)[mask], s[mask])


def test_transformer_is_permutation_equivariant():
    torch.manual_seed(1)
    m = build_scorer(cfg("transformer"), conditioned=True).eval()
    x = torch.randn(2, 7, 6)
    w = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    perm = torch.randperm(7)
    torch.testing.assert_close(m(x[:, perm], None, w), m(x, None, w)[:, perm], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cond,towers", [("film", 0), ("lowrank", 0), ("lowrank", 4), ("concat", 0)])
def test_conditioned_copy_starts_at_reference(cond, towers):
    torch.manual_seed(2)
    ref = build_scorer(cfg("mlp", conditioning=cond, head_hidden=towers), conditioned=False).eval()
    pol = conditioned_copy(ref).eval()
    x = torch.randn(4, 5, 6)
    torch.testing.assert_close(pol(x, None, torch.rand(4, 3).softmax(1)), ref(x))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_hyper_prompts_start_as_an_exact_no_op_then_condition_the_transformer(dropout):
    torch.manual_seed(3)
    ref = build_scorer(cfg("transformer", n_prompts=3, dropout=dropout), conditioned=False).eval()
    pol = conditioned_copy(ref).eval()
    x = torch.randn(2, 5, 6)
    m = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    w1, w2 = torch.tensor([[1.0, 0, 0]] * 2), torch.tensor([[0, 0, 1.0]] * 2)
    # the prompts' zero-initialised values: exactly the reference, whatever w, with the gates open
    assert torch.equal(pol(x, m, w1), ref(x, m)) and torch.equal(pol(x, m, w2), ref(x, m))
    assert torch.all(pol.prompt_net.gate == 1.0)
    pol.train()
    pol(x, m, w1).sum().backward()
    # the values learn from the first step (the gates and keys once the values leave zero)
    assert pol.prompt_net.values.last_layer().weight.grad.abs().sum() > 0
    with torch.no_grad():
        pol.prompt_net.values.last_layer().bias.normal_()
    pol.eval()
    a, b = pol(x, m, w1), pol(x, m, w2)
    assert a.shape == (2, 5) and not torch.allclose(a, b)
    assert torch.equal(a[1, 3:], torch.zeros(2))  # padding scores 0
    # the backbone is the reference's: same parameter names and shapes, plus only the prompt network
    extra = set(pol.state_dict()) - set(ref.state_dict())
    assert extra and all(k.startswith("prompt_net.") for k in extra)


def test_the_older_hyper_prompt_layout_loads_and_starts_closed():
    """A transformer saved before prompt values (no ``prompt_values`` in its config) is rebuilt as it was: values
    projected by the layers, gates starting at 0 (the prompts get gradient only through an opening gate)."""
    from ltr_hyperdpo.models.base import ScorerConfig

    new = cfg("transformer", n_prompts=2)
    saved = {k: v for k, v in new.to_dict().items() if k != "prompt_values"}
    old = ScorerConfig.from_saved(saved)
    assert old.prompt_values is False and ScorerConfig.from_saved(new.to_dict()).prompt_values is True
    assert ScorerConfig.from_saved({k: v for k, v in cfg("mlp").to_dict().items()
                                    if k != "prompt_values"}).prompt_values is True  # no effect on an MLP
    torch.manual_seed(0)
    pol = build_scorer(old, conditioned=True)
    assert pol.prompt_net.values is None and torch.all(pol.prompt_net.gate == 0)
    x, w = torch.randn(2, 4, 6), torch.tensor([[1.0, 0, 0]] * 2)
    pol(x, None, w).sum().backward()
    assert pol.prompt_net.gate.grad.abs().sum() > 0
    assert pol.prompt_net.net.last_layer().weight.grad.abs().sum() == 0  # closed gates: no gradient to the prompts


def test_temperature_conditioned_model_needs_beta_and_ranker_rescales():
    torch.manual_seed(4)
    tcfg = cfg("mlp", temperature_conditioned=True)
    m = build_scorer(tcfg)
    with pytest.raises(ValueError, match="temperature-conditioned"):
        m(torch.randn(1, 3, 6), None, torch.tensor([[1.0, 0, 0]]))
    assert m(torch.randn(1, 3, 6), None, torch.tensor([[1.0, 0, 0]]), 0.5).shape == (1, 3)
    ref = build_scorer(cfg("mlp", conditioning="film"), conditioned=False)
    pol = conditioned_copy(ref)
    with torch.no_grad():
        for p in pol.film.parameters():
            p.add_(0.1 * torch.randn_like(p))
    r = HyperDPORanker(pol, ref, beta_train=0.5)
    x = torch.randn(2, 4, 6)
    w = torch.tensor([0.5, 0.25, 0.25])
    s = r.score(x, None, w)
    s2 = r.score(x, None, w, beta=2.0)
    torch.testing.assert_close(s2, rescale_temperature(s, ref(x).detach(), 0.5, 2.0))
    torch.testing.assert_close(s2 - ref(x).detach(), 0.25 * (s - ref(x).detach()))


def _random_lists(seed, n=60):
    rng = np.random.default_rng(seed)
    S, Y = [], []
    for _ in range(n):
        m = int(rng.integers(1, 25))
        S.append(rng.integers(0, 4, m).astype(float))  # many ties
        Y.append(rng.integers(0, 5, m).astype(float) * (rng.random() > 0.25))
    return S, Y


def _pad(S, Y):
    L = max(len(s) for s in S)
    s_t, y_t = torch.zeros(len(S), L), torch.zeros(len(S), L)
    m = torch.zeros(len(S), L, dtype=torch.bool)
    for i, (s, y) in enumerate(zip(S, Y, strict=True)):
        s_t[i, : len(s)], y_t[i, : len(s)], m[i, : len(s)] = torch.tensor(s), torch.tensor(y), True
    return s_t, y_t, m


@pytest.mark.parametrize("k", [1, 5, 10, 50])
def test_torch_ndcg_agrees_with_ranx(k):
    S, Y = _random_lists(k)
    r = ranx_ndcg_per_query(S, Y, k)
    t, blank = ndcg_torch(*_pad(S, Y), k=k)
    np.testing.assert_allclose(t.numpy(), r, atol=1e-6)
    assert blank.numpy().tolist() == [not (np.asarray(y) >= 1).any() for y in Y]


def test_ties_broken_by_position_and_blank_policy():
    # equal scores: the earlier document ranks first, so putting the relevant one first gives NDCG 1
    assert ranx_ndcg_per_query([np.array([0.5, 0.5])], [np.array([3.0, 0.0])], 10)[0] == pytest.approx(1.0)
    assert ranx_ndcg_per_query([np.array([0.5, 0.5])], [np.array([0.0, 3.0])], 10)[0] < 1.0
    S = [np.array([1.0, 0.0]), np.array([1.0, 0.0])]
    Y = [np.array([1.0, 0.0]), np.array([0.0, 0.0])]
    assert ndcg_ranx(S, Y, blank_policy="skip").mean == pytest.approx(1.0)
    assert ndcg_ranx(S, Y, blank_policy="zero").mean == pytest.approx(0.5)
    res = ndcg_ranx(S, Y, blank_policy="one")
    assert res.mean == pytest.approx(1.0) and res.n_blank == 1
    with pytest.raises(ValueError, match="blank_policy"):
        aggregate(np.zeros(1), np.zeros(1, bool), "drop")


def test_pareto_and_hypervolume():
    p = np.array([[0.5, 0.2], [0.3, 0.4], [0.1, 0.1], [0.3, 0.4]])
    assert nondominated(p).tolist()[:3] == [True, True, False]
    assert hypervolume(p) == pytest.approx(0.5 * 0.2 + 0.3 * 0.2)
    assert hypervolume(p, ref=[0.2, 0.1]) == pytest.approx(0.3 * 0.1 + 0.1 * 0.2)
    assert hypervolume(np.array([[0.2, 0.3, 0.5]])) == pytest.approx(0.03)


@pytest.mark.parametrize("policy", ["skip", "zero", "one"])
def test_grid_validation_in_one_pass_equals_weight_by_weight(policy):
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives
    from ltr_hyperdpo.eval.validation import ValidationSet, val_ndcg, val_ndcg_grid

    ds = RankingDataset.from_table(make_synthetic(50, 15, 8, 3, -0.3, seed=2), objectives=synth_objectives(8, 3),
                                   fit=True)
    torch.manual_seed(0)
    pol = conditioned_copy(build_scorer(cfg("mlp", conditioning="film"), conditioned=False))
    with torch.no_grad():
        pol.film.last_layer().weight.normal_(0, 0.3)  # a conditioning that matters
    grid = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    ds.y[: ds.offsets[4], 2] = 0  # four queries without a relevant document for objective 2
    assert ds.blank_queries(2) == 4
    vs = ValidationSet(ds, batch_size=16)
    got = val_ndcg_grid(lambda x, m, w: pol(x, m, w), grid, vs, 10, policy)
    for i, w in enumerate(grid):
        one = val_ndcg(lambda x, m, w=w: pol(x, m, w.expand(x.shape[0], -1)), vs, 10, blank_policy=policy)
        np.testing.assert_allclose(got[i], one, rtol=1e-6)
    skip = val_ndcg_grid(lambda x, m, w: pol(x, m, w), grid, vs, 10, "skip")
    if policy == "zero":
        assert np.all(got[:, 2] < skip[:, 2])  # the blanks count as 0 in the mean
    elif policy == "one":
        assert np.all(got[:, 2] > skip[:, 2])


def test_streamed_validation_set_equals_resident_and_keeps_nothing():
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives
    from ltr_hyperdpo.eval.validation import ValidationSet, padded_bytes, val_ndcg_grid

    ds = RankingDataset.from_table(make_synthetic(40, 15, 8, 3, -0.3, seed=3), objectives=synth_objectives(8, 3),
                                   fit=True)
    torch.manual_seed(0)
    pol = conditioned_copy(build_scorer(cfg("mlp", conditioning="film"), conditioned=False))
    kept = ValidationSet(ds, batch_size=8)
    streamed = ValidationSet(ds, batch_size=8, resident_limit=0)
    assert kept.resident and kept._kept is not None
    assert not streamed.resident and streamed._kept is None  # nothing gathered ahead: memory does not grow
    assert padded_bytes(ds, kept._loader) == sum(b.features.numel() * 4 for b in kept._kept)
    grid = torch.tensor([[1.0, 0, 0], [0.3, 0.7, 0], [0.2, 0.3, 0.5]])
    a = val_ndcg_grid(lambda x, m, w: pol(x, m, w), grid, kept, 10)
    b = val_ndcg_grid(lambda x, m, w: pol(x, m, w), grid, streamed, 10)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, val_ndcg_grid(lambda x, m, w: pol(x, m, w), grid, streamed, 10))  # re-iterable


def test_padded_ndcg_kernel_equals_ranx_public_api():
    import pandas as pd
    from ranx import Qrels, Run, evaluate

    from ltr_hyperdpo.eval.metrics import ndcg_rows, pad_lists

    rng = np.random.default_rng(0)
    scores, labels = [], []
    for q in range(60):
        n = int(rng.integers(1, 30))
        s = np.round(rng.standard_normal(n), 1)  # many ties: broken by position
        y = rng.choice([0, 0, 0, 1, 2, 3], size=n).astype(float)
        if q % 7 == 0:
            y[:] = 0  # blank queries
        scores.append(s)
        labels.append(y)
    s, lengths = pad_lists(scores)
    y, _ = pad_lists(labels)
    # ranx's public API on string ids; our tie-break (earlier first) as strictly decreasing run scores
    qrel_rows, run_rows = [], []
    for q, (sc, yy) in enumerate(zip(scores, labels, strict=True)):
        order = np.argsort(-sc, kind="stable")
        for r, i in enumerate(order):
            run_rows.append((f"q{q}", f"d{i}", float(len(sc) - r)))
        for i, g in enumerate(yy):
            qrel_rows.append((f"q{q}", f"d{i}", int(g)))
    qrels = Qrels.from_df(pd.DataFrame(qrel_rows, columns=["q_id", "doc_id", "score"]).astype(
        {"q_id": object, "doc_id": object}))  # ranx needs object columns under pandas 3
    run = Run.from_df(pd.DataFrame(run_rows, columns=["q_id", "doc_id", "score"]).astype(
        {"q_id": object, "doc_id": object}))
    for k in (1, 5, 10, 0):
        got = ndcg_rows(s, y, lengths, k)
        metric = f"ndcg_burges@{k}" if k else "ndcg_burges"
        per_q = evaluate(qrels, run, metric, return_mean=False, make_comparable=True)
        expect = dict(zip(sorted(qrels.keys()), per_q, strict=True)) if not isinstance(per_q, dict) else per_q
        for q in range(60):
            assert got[q] == pytest.approx(expect[f"q{q}"], abs=1e-12)
        # fractional grades (0.5 is below ranx's rel_lvl 1) against ranx's own numba function
        frac = [np.where(v == 3, 0.5, v) for v in labels]
        yf, _ = pad_lists(frac)
        np.testing.assert_allclose(ndcg_rows(s, yf, lengths, k), ranx_ndcg_per_query(scores, frac, k), atol=1e-12)


def test_stacked_grid_kernel_equals_row_by_row_for_every_objective_and_cut_off():
    from ltr_hyperdpo.eval.metrics import ndcg_grid, ndcg_rows, pad_lists

    rng = np.random.default_rng(4)
    n_lists, n_weights, n_obj = 9, 4, 3
    lens = rng.integers(1, 25, n_lists)
    lens[2] = 1
    y, lengths = pad_lists([rng.choice([0, 0, 1, 2, 4], size=n) for n in lens])
    labels = np.stack([y, np.roll(y, 1, axis=1), np.where(y > 1, 0, 1.0) * (np.arange(y.shape[1]) < lengths[:, None])],
                      axis=-1)  # [lists, list, objectives]; objective 2 reverses the relevance
    scores = np.round(rng.standard_normal((n_weights * n_lists, y.shape[1])), 1)  # ties: broken by position
    ks = (10, 5, 1, 0)
    got = ndcg_grid(scores, labels, lengths, ks)
    assert got.shape == (n_obj, len(ks), n_weights * n_lists)
    for j in range(n_obj):
        for c, k in enumerate(ks):
            expect = ndcg_rows(scores, np.tile(labels[..., j], (n_weights, 1)), np.tile(lengths, n_weights), k)
            np.testing.assert_array_equal(got[j, c], expect)  # same sums in the same order: bit-identical
    blank = ~np.any(labels[..., 1] >= 1, axis=1)
    assert np.all(got[1, :, np.tile(blank, n_weights)] == 0.0)
    # the reported figures' engine: ranx's Qrels/Run/evaluate on the same rows gives the same grid
    from ltr_hyperdpo.eval.metrics import ranx_ndcg_grid

    np.testing.assert_allclose(ranx_ndcg_grid(scores, labels, lengths, ks), got, atol=1e-12)
    for one in ((10,), (1,), (0,)):  # a single cut-off too (ranx's one-metric path differs)
        np.testing.assert_allclose(ranx_ndcg_grid(scores, labels, lengths, one),
                                   ndcg_grid(scores, labels, lengths, one), atol=1e-12)
    with pytest.raises(ValueError, match="integer grades"):
        ranx_ndcg_grid(scores, labels + 0.5, lengths, ks)
    with pytest.raises(ValueError, match="not a multiple"):
        ndcg_grid(scores[:-1], labels, lengths, ks)


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_long_batches_are_scored_in_parts_with_the_same_results(kind, monkeypatch):
    import ltr_hyperdpo.eval.front as front_mod
    import ltr_hyperdpo.eval.validation as val_mod
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives
    from ltr_hyperdpo.eval.front import evaluate_front

    ds = RankingDataset.from_table(make_synthetic(30, 15, 8, 3, -0.3, seed=5), objectives=synth_objectives(8, 3),
                                   fit=True)
    torch.manual_seed(1)
    ref = build_scorer(cfg(kind), conditioned=False)
    pol = conditioned_copy(ref, auto_scorer(kind))  # conditioning auto: low-rank (mlp), hyper prompts
    with torch.no_grad():
        for n, q in pol.named_parameters():
            if n.startswith(("film.", "prompt_net.", "lowrank.")):
                q.normal_(0, 0.2)  # a conditioning that matters
    ranker = HyperDPORanker(pol, ref, 1.0)
    grid = np.array([[1.0, 0, 0], [0.2, 0.3, 0.5], [0, 0, 1.0]], dtype=np.float32)
    vs = val_mod.ValidationSet(ds, batch_size=16)

    def both():
        fr = evaluate_front(ranker, ds, grid, batch_size=16)
        v = val_mod.val_ndcg_grid(lambda x, m, w: pol(x, m, w), torch.from_numpy(grid), vs, 10)
        r = val_mod.val_ndcg(lambda x, m: ref(x, m), vs, 10)
        return fr.points, v, r

    whole = both()
    monkeypatch.setattr(val_mod, "MAX_DOCS_PER_FORWARD", 20)  # about one list per forward
    monkeypatch.setattr(front_mod, "MAX_DOCS_PER_FORWARD", 20)
    parts = both()
    for a, b in zip(whole, parts, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind,cond,layers,towers", [
    ("mlp", "lowrank", None, 0), ("mlp", "lowrank", 1, 0), ("mlp", "lowrank", 2, 0), ("mlp", "lowrank", 1, 4),
    ("mlp", "lowrank", 2, 4), ("mlp", "film", None, 0), ("mlp", "film", 2, 0), ("mlp", "concat", None, 0),
    ("transformer", "prompts", None, 0)])
@pytest.mark.parametrize("temp", [False, True])
def test_scoring_under_m_weights_at_once_equals_one_weight_at_a_time(kind, cond, layers, towers, temp):
    """``weights [batch, m, K]`` (the trunk shared by a list's m weights) = each list repeated m times, in scores and
    in gradients (float64)."""
    torch.manual_seed(5)
    c = cfg(kind, conditioning=cond, conditioned_layers=layers, temperature_conditioned=temp, head_hidden=towers)
    c.check()
    pol = build_scorer(c).double()
    for p in pol.parameters():  # away from the no-op initialisation, so every conditioned part matters
        torch.nn.init.normal_(p, std=0.3)
    b, m, n = 3, 4, 5
    x = torch.randn(b, n, 6, dtype=torch.float64)
    mask = torch.rand(b, n) > 0.2
    w = torch.rand(b, m, 3, dtype=torch.float64).softmax(-1)
    beta = torch.rand(b, m, dtype=torch.float64) + 0.5 if temp else None
    shared = pol(x, mask, w, beta)
    g_shared = torch.autograd.grad(shared.square().sum(), list(pol.parameters()), allow_unused=True)
    rep = pol(x.repeat_interleave(m, 0), mask.repeat_interleave(m, 0), w.reshape(b * m, 3),
              None if beta is None else beta.reshape(-1)).view(b, m, n)
    g_rep = torch.autograd.grad(rep.square().sum(), list(pol.parameters()), allow_unused=True)
    assert shared.shape == (b, m, n)
    torch.testing.assert_close(shared, rep, rtol=1e-10, atol=1e-10)
    for a, r in zip(g_shared, g_rep, strict=True):
        assert (a is None) == (r is None)
        if a is not None:
            torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-10)


def test_conditioning_only_the_last_layers():
    """``conditioned_layers`` = N: the layers before the last N ignore w; N = 1 makes the score affine in w."""
    from ltr_hyperdpo.config import FieldError
    from ltr_hyperdpo.models import ModelConfig
    torch.manual_seed(6)
    pol = build_scorer(cfg("mlp", conditioning="lowrank", conditioned_layers=1))
    assert [type(d).__name__ for d in pol.lowrank] == ["Module", "Module", "LowRankDelta"]
    for p in pol.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 5, 6)
    e = torch.eye(3)
    w = torch.tensor([0.2, 0.3, 0.5])
    s = pol(x, None, w)
    torch.testing.assert_close(s, sum(w[k] * pol(x, None, e[k]) for k in range(3)), rtol=1e-5, atol=1e-5)
    deep = build_scorer(cfg("mlp", conditioning="lowrank", conditioned_layers=3))
    for p in deep.parameters():
        torch.nn.init.normal_(p, std=0.3)
    assert (deep(x, None, w) - sum(w[k] * deep(x, None, e[k]) for k in range(3))).abs().max() > 1e-3
    # auto (training.auto): only the output layer of the low-rank MLP, with 32-unit towers; a set value wins
    assert auto_scorer("mlp").conditioned_layers == 1 and auto_scorer("mlp").head_hidden == 32
    assert type(conditioned_copy(build_scorer(cfg("mlp"), conditioned=False), auto_scorer("mlp")).lowrank[-1]
                ).__name__ == "TowerDelta"
    for bad in ({"kind": "transformer", "conditioned_layers": 1}, {"conditioning": "concat", "conditioned_layers": 1},
                {"conditioning": "film", "conditioned_layers": 1}, {"hidden": [8], "conditioned_layers": 3}):
        with pytest.raises(FieldError, match="conditioned_layers"):
            ModelConfig(**bad).check()


def test_output_towers_are_affine_in_w_and_match_a_by_hand_computation(tmp_path):
    """``head_hidden`` H: the score is ``s_0(x) + Σ_k w_k g_k(h(x))`` with ``g_k(h) = v_kᵀ relu(U_k h + a_k) + e_k``
    (each objective's tower computed here by hand from its parameters); it survives saving and loading."""
    from ltr_hyperdpo.config import FieldError
    from ltr_hyperdpo.models import ModelConfig
    from ltr_hyperdpo.models.io import load_scorer, save_scorer
    torch.manual_seed(7)
    pol = build_scorer(cfg("mlp", conditioning="lowrank", conditioned_layers=1, head_hidden=5)).double().eval()
    for p in pol.parameters():
        torch.nn.init.normal_(p, std=0.3)
    tower = pol.lowrank[-1]
    assert type(tower).__name__ == "TowerDelta" and tower.U.shape == (3, 5, 8)
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    h = x
    for layer in pol.layers:
        h = torch.relu(layer(h))
    s0 = pol.out(h).squeeze(-1)
    w = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    by_hand = s0.clone()
    for k in range(3):
        g = torch.relu(h @ tower.U[k].T + tower.a[k]) @ tower.v[k] + tower.e[k]
        by_hand = by_hand + w[k] * g
    torch.testing.assert_close(pol(x, None, w), by_hand, rtol=1e-12, atol=1e-12)
    e = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(pol(x, None, w), sum(w[k] * pol(x, None, e[k]) for k in range(3)))
    save_scorer(pol.float(), tmp_path / "m.pt", beta=1.0)
    back, _ = load_scorer(tmp_path / "m.pt")
    assert back.config.head_hidden == 5
    torch.testing.assert_close(back.eval()(x.float(), None, w.float()), pol(x.float(), None, w.float()))
    ref = build_scorer(cfg("mlp"), conditioned=False)
    copy = conditioned_copy(ref, auto_scorer("mlp", head_hidden=3))
    assert type(copy.lowrank[-1]).__name__ == "TowerDelta" and copy.config.head_hidden == 3
    for bad in ({"conditioning": "film", "head_hidden": 4},
                {"kind": "transformer", "conditioning": "none", "head_hidden": 4}):
        with pytest.raises(FieldError, match="head_hidden"):
            ModelConfig(**bad).check()


def test_transformer_output_towers_add_a_hand_computed_term_and_start_at_zero(tmp_path):
    """The transformer with ``head_hidden`` H: its score is the prompted transformer's plus ``Σ_k w_k g_k(h)`` on the
    last (normalised) hidden state h, each tower computed here by hand; a conditioned copy of a reference still
    scores as the reference at start; the towers learn at the conditioning rate and survive saving."""
    from ltr_hyperdpo.methods.hyperdpo import CONDITIONING_PREFIXES
    from ltr_hyperdpo.models.io import load_scorer, save_scorer
    torch.manual_seed(3)
    ref = build_scorer(cfg("transformer"), conditioned=False).eval()
    x = torch.randn(2, 5, 6)
    w = torch.tensor([0.2, 0.3, 0.5])
    start = conditioned_copy(ref, cfg("transformer", head_hidden=4)).eval()
    torch.testing.assert_close(start(x, None, w), ref(x, None))
    # auto (training.auto.head_hidden): 32-unit towers for the prompted transformer too; a set value wins
    assert auto_scorer("transformer").head_hidden == 32 and auto_scorer("transformer", head_hidden=0).head_hidden == 0
    assert auto_scorer("transformer", conditioning="none").head_hidden == 0
    pol = start.double()
    for p in pol.parameters():
        torch.nn.init.normal_(p, std=0.3)
    tower = pol.towers
    assert tower is not None and tower.U.shape == (3, 4, 16)
    seen = {}
    pol.norm.register_forward_hook(lambda mod, inp, out: seen.__setitem__("h", out))
    xd = x.double()
    got = pol(xd, None, w.double())
    h = seen["h"]
    no_towers = pol.head(h).squeeze(-1)
    by_hand = no_towers.clone()
    for k in range(3):
        by_hand = by_hand + w[k] * (torch.relu(h @ tower.U[k].T + tower.a[k]) @ tower.v[k] + tower.e[k])
    torch.testing.assert_close(got, by_hand, rtol=1e-12, atol=1e-12)
    assert (got - no_towers).abs().max() > 1e-3  # the towers contribute
    assert all(n.startswith(CONDITIONING_PREFIXES) for n, _ in pol.named_parameters() if n.startswith("towers"))
    save_scorer(pol.float(), tmp_path / "t.pt", beta=1.0)
    back, _ = load_scorer(tmp_path / "t.pt")
    assert back.config.head_hidden == 4
    torch.testing.assert_close(back.eval()(x, None, w), pol.float()(x, None, w))


def test_rankers_score_m_weights_at_once():
    """Every ranker returns ``[batch, m, list]`` for ``w [batch, m, K]``, equal to one weight at a time (β too)."""
    from ltr_hyperdpo.models import MemberRanker, ReferenceRanker, SoupRanker
    torch.manual_seed(7)
    ref = build_scorer(cfg("mlp"), conditioned=False).eval()
    pol = conditioned_copy(ref)
    for p in pol.parameters():
        torch.nn.init.normal_(p, std=0.3)
    plain = [build_scorer(cfg("mlp"), conditioned=False) for _ in range(3)]
    rankers = [HyperDPORanker(pol, ref, 0.5), MemberRanker([(np.eye(3)[k], plain[k]) for k in range(3)], ref, 0.5),
               SoupRanker(plain, ref, 0.5), ReferenceRanker(ref)]
    x = torch.randn(2, 5, 6)
    grid = torch.tensor([[1.0, 0, 0], [0.2, 0.3, 0.5], [0, 0, 1.0]])
    for r in rankers:
        for beta in (None, 2.0):
            got = r.score(x, None, grid[None].expand(2, -1, -1), beta)
            assert got.shape == (2, 3, 5)
            for j in range(3):
                torch.testing.assert_close(got[:, j], r.score(x, None, grid[j], beta), rtol=1e-5, atol=1e-6)
