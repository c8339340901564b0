"""Each stage-2 loss against an independent computation (brute-force Plackett–Luce over permutations).

These fail for the mutations a review tried: flipping the sign of the COSMOS penalty, dropping the reference from
the HyperDPO loss, flipping the sign of the MODPO margin.
"""
import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from ltr_hyperdpo.data.batching import Slates
from ltr_hyperdpo.data.dataset import RankingDataset
from ltr_hyperdpo.methods.base import FitContext
from ltr_hyperdpo.methods.cosmos import Cosmos, CosmosParams
from ltr_hyperdpo.methods.hyperdpo import HyperDPO
from ltr_hyperdpo.methods.modpo import Modpo, ModpoParams
from ltr_hyperdpo.models import ScorerConfig, build_scorer, conditioned_copy
from ltr_hyperdpo.training import DataSummary, RunConfig, resolve
from ltr_hyperdpo.training.plan import Stage2Plan

N, F, K = 4, 5, 2


def brute_pl_nll(scores: np.ndarray, labels: np.ndarray) -> float:
    """-log P(the label order | scores) by the PL product over positions (labels distinct: one order)."""
    order = np.argsort(-labels, kind="stable")
    s = scores[order]
    return float(sum(np.log(np.exp(s[i:]).sum()) - s[i] for i in range(len(s))))


def brute_pl_nll_enum(scores: np.ndarray, labels: np.ndarray) -> float:
    """The same probability from the normalised distribution over all n! permutations (a second, slower check)."""
    perms = list(itertools.permutations(range(len(scores))))

    def logp(p):
        s = scores[list(p)]
        return sum(s[i] - np.log(np.exp(s[i:]).sum()) for i in range(len(s)))

    target = tuple(np.argsort(-labels, kind="stable"))
    total = np.logaddexp.reduce([logp(p) for p in perms])
    return float(-(logp(target) - total))


@pytest.fixture
def setup():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3 * N, F)).astype(np.float32)
    ds = RankingDataset.from_arrays(x, np.zeros(3 * N), np.repeat([1, 2, 3], N))
    scfg = ScorerConfig(kind="mlp", n_features=F, n_objectives=K, hidden=[8], dropout=0.0)
    reference = build_scorer(scfg, conditioned=False).eval()
    labels = torch.tensor(np.stack([np.stack([rng.permutation(N), rng.permutation(N)], 1) for _ in range(3)]),
                          dtype=torch.float32)  # distinct grades in every list: one ranking per objective
    batch = Slates(torch.from_numpy(rng.standard_normal((3, N, F)).astype(np.float32)), labels,
                   torch.ones(3, N, dtype=torch.bool), np.arange(3), np.zeros((3, N), dtype=np.int64))
    stage2 = Stage2Plan(epochs=1, lr=1e-3, weight_decay=0.0, beta=0.7, beta_range=[0.5, 2.0], top_k=None,
                        tie_break="first", patience=1, grad_clip=0.0, lr_scheduler=None)
    ctx = FitContext(method="hyperdpo", train=ds, vali=ds, reference=reference, run_dir=None, stage2=stage2,
                     params=CosmosParams(weights_per_list=1, vertex_prob=0.0, cosine_weight=2.0),
                     scorer=dataclasses.replace(scfg, conditioned_layers=1, head_hidden=32), learning_rates={},
                     seed=0, batch_size=3, slate_length=None, front_k=10, val_weights=np.eye(K),
                     member_weights=np.eye(K))
    return ctx, reference, batch


def test_hyperdpo_loss_uses_the_reference(setup):
    ctx, reference, b = setup
    policy = conditioned_copy(reference, ctx.scorer).eval()
    w = torch.tensor([[0.3, 0.7], [1.0, 0.0], [0.5, 0.5]])
    ref_s = reference(b.features, b.mask).detach()
    # at the start the policy is the reference: zero implicit rewards, every ranking has probability 1/n!
    loss = HyperDPO().objective(ctx, policy(b.features, b.mask, w), ref_s, b, w, 0.7, torch.Generator())
    assert loss.item() == pytest.approx(math.log(math.factorial(N)), rel=1e-6)
    # a moved policy: the loss is the weighted PL NLL of beta * (s - s_ref), computed independently
    moved = ref_s + torch.randn_like(ref_s)
    loss = HyperDPO().objective(ctx, moved, ref_s, b, w, 0.7, torch.Generator())
    r = (0.7 * (moved - ref_s)).numpy().astype(np.float64)
    expect = np.mean([sum(w[i, k].item() * brute_pl_nll(r[i], b.labels[i, :, k].numpy()) for k in range(K))
                      for i in range(3)])
    assert loss.item() == pytest.approx(expect, rel=1e-6)
    assert brute_pl_nll(r[0], b.labels[0, :, 0].numpy()) == pytest.approx(
        brute_pl_nll_enum(r[0], b.labels[0, :, 0].numpy()), rel=1e-9)


def test_cosmos_penalty_rewards_alignment_with_w(setup):
    ctx, reference, b = setup
    ref_s = reference(b.features, b.mask).detach()
    s = ref_s + torch.randn_like(ref_s)
    w = torch.tensor([[0.3, 0.7], [0.9, 0.1], [0.5, 0.5]])
    got = Cosmos().objective(ctx, s, ref_s, b, w, 0.7, torch.Generator())
    r = (0.7 * (s - ref_s)).numpy()
    per = np.array([[brute_pl_nll(r[i], b.labels[i, :, k].numpy()) for k in range(K)] for i in range(3)])
    wn = w.numpy()
    cos = (wn * per).sum(1) / (np.linalg.norm(wn, axis=1) * np.linalg.norm(per, axis=1))
    assert got.item() == pytest.approx(float(np.mean((wn * per).sum(1) - 2.0 * cos)), rel=1e-6)
    # the penalty lowers the loss (losses and weights are non-negative, so cos > 0)
    assert got.item() < HyperDPO().objective(ctx, s, ref_s, b, w, 0.7, torch.Generator()).item()


def test_modpo_margin_enters_with_its_sign(setup):
    ctx, reference, b = setup
    ref_s = reference(b.features, b.mask).detach()
    s = ref_s + torch.randn_like(ref_s)
    w = torch.tensor([0.6, 0.4])
    ctx.params = ModpoParams(margin_scale=0.5)
    got = Modpo().member_loss(ctx, s, ref_s, b, w, torch.Generator())
    y = b.labels.numpy()
    u = (0.7 * (s - ref_s).numpy() - 0.4 * 0.5 * y[..., 1]) / 0.6
    expect = np.mean([brute_pl_nll(u[i], y[i, :, 0]) for i in range(3)])
    assert got.item() == pytest.approx(expect, rel=1e-6)
    # s - s_ref = margin / beta makes every utility zero: each ranking then has probability 1/n!
    indifferent = ref_s + torch.from_numpy(0.4 * 0.5 * y[..., 1] / 0.7)
    assert Modpo().member_loss(ctx, indifferent, ref_s, b, w, torch.Generator()).item() == pytest.approx(
        math.log(math.factorial(N)), rel=1e-5)


@pytest.mark.parametrize("layers", [1, 0])
def test_hyperdpo_batch_loss_with_m_weights_per_list_equals_brute_force(setup, monkeypatch, layers):
    """Every list under m weights (the trunk shared): the mean over lists and weights of Σ_k w_k · PL-NLL of
    β(s − s_ref) under each objective's ranking, each (list, weight) pair scored on its own."""
    import ltr_hyperdpo.methods.hyperdpo as hyperdpo_mod

    ctx, reference, b = setup
    m = 3
    ctx.params = dataclasses.replace(ctx.params, weights_per_list=m)
    ctx.scorer = dataclasses.replace(ctx.scorer, conditioned_layers=layers, head_hidden=32 if layers == 1 else 0)
    policy = conditioned_copy(reference, ctx.scorer)
    for p in policy.parameters():  # away from the no-op start, so the conditioning matters
        torch.nn.init.normal_(p, std=0.5)
    w = torch.rand(3 * m, K).softmax(1)
    monkeypatch.setattr(hyperdpo_mod, "sample_preferences", lambda n, *a, **k: w[:n])
    got = HyperDPO().batch_loss(ctx, policy, b, torch.Generator().manual_seed(0))
    ref_s = reference(b.features, b.mask).detach().numpy()
    total = 0.0
    for i in range(3):
        for j in range(m):
            wij = w[i * m + j]
            s = policy(b.features[i:i + 1], b.mask[i:i + 1], wij[None]).detach().numpy()[0]
            total += sum(float(wij[k]) * brute_pl_nll(0.7 * (s - ref_s[i]), b.labels[i, :, k].numpy())
                         for k in range(K))
    assert got.item() == pytest.approx(total / (3 * m), rel=1e-5)


@pytest.mark.parametrize(("layers", "setting", "expect"), [(None, None, 0.85), (0, None, 0.2), (None, 0.3, 0.3),
                                                           (0, 0.0, 0.0)])
def test_vertex_prob_auto_follows_the_conditioning(setup, monkeypatch, layers, setting, expect):
    """The plan resolves vertex_prob: scores affine in w (only the output layer conditioned) draw vertices with
    probability 0.85 unless told, any other conditioning 0.2; a set value always wins. The loss draws at the
    plan's value."""
    import ltr_hyperdpo.methods.hyperdpo as hyperdpo_mod

    ctx, reference, b = setup
    cfg = RunConfig.from_dict({"model": {"hidden": [8], "conditioned_layers": layers},
                               "method": {"name": "hyperdpo", "params": {"vertex_prob": setting,
                                                                        "weights_per_list": 2}}})
    plan = resolve(cfg, DataSummary(train="t", vali=None, test=None, n_features=F, n_objectives=K))
    assert plan.method.params["vertex_prob"] == expect
    assert ("method.params.vertex_prob" in plan.auto) == (setting is None)
    ctx.params = plan.method_params()
    ctx.scorer = plan.scorer
    seen = []
    real = hyperdpo_mod.sample_preferences

    def spy(n, k, alpha, vertex_prob, gen):
        seen.append(vertex_prob)
        return real(n, K, alpha, vertex_prob, gen)  # the fixture's dataset has one label column, the batch K

    monkeypatch.setattr(hyperdpo_mod, "sample_preferences", spy)
    HyperDPO().batch_loss(ctx, conditioned_copy(reference, ctx.scorer), b, torch.Generator().manual_seed(0))
    assert seen == [expect]
