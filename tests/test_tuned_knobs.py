"""Behavioural tests of the tuned knobs, read from the plan: each fails when its knob is broken.

The mutations these were written against (each passed every tier before): Dirichlet draws frozen; tiny non-zero
weights dropped from the loss; ``cond_lr_mult`` ignored by the optimizer; the last objective's vertex never drawn;
the normaliser's clipping before ``log1p`` removed.
"""
import math

import numpy as np
import pytest
import torch

from ltr_hyperdpo.core.dpo import pl_dpo_loss
from ltr_hyperdpo.core.plackett_luce import plackett_luce_nll
from ltr_hyperdpo.data.normalize import FeatureNormalizer
from ltr_hyperdpo.methods.hyperdpo import HyperDPO, sample_preferences
from ltr_hyperdpo.models import build_scorer, conditioned_copy
from ltr_hyperdpo.training import DataSummary, RunConfig, resolve


def plan_of(d=None, k=3):
    return resolve(RunConfig.from_dict(d or {}), DataSummary(train="t", vali=None, test=None, n_features=5,
                                                             n_objectives=k))


def binomial_interval(n: int, p: float, z: float = 5.0) -> tuple[float, float]:
    """Counts of a Binomial(n, p) within z standard deviations (z = 5: a false alarm about once in 3.5 million)."""
    sd = math.sqrt(n * p * (1 - p))
    return n * p - z * sd, n * p + z * sd


def test_the_weight_sampler_covers_every_vertex_at_the_plans_rate():
    plan = plan_of()
    p = plan.method.params["vertex_prob"]
    k, n = 3, 30000
    w = sample_preferences(n, k, plan.method.params["alpha"], p, torch.Generator().manual_seed(0))
    is_vertex = (w == 1.0).any(1)
    lo, hi = binomial_interval(n, p)
    assert lo <= int(is_vertex.sum()) <= hi
    # every vertex, the last included, at p / K each (a Dirichlet draw that lands exactly on a vertex is negligible)
    for j in range(k):
        lo, hi = binomial_interval(n, p / k)
        assert lo <= int((w[:, j] == 1.0).sum()) <= hi, f"vertex e_{j}"


def test_the_dirichlet_draws_vary_and_have_dirichlets_moments():
    alpha = plan_of().method.params["alpha"]
    gen = torch.Generator().manual_seed(1)
    a = sample_preferences(20000, 3, alpha, 0.0, gen)
    b = sample_preferences(20000, 3, alpha, 0.0, gen)
    assert not torch.equal(a, b)  # the next batch draws new weights
    assert len({tuple(r) for r in a[:100].tolist()}) == 100  # and so does every row of one batch
    # Dirichlet(α, α, α): mean 1/3, variance (1/3)(2/3) / (3α + 1) per coordinate
    mean, var = a.double().mean(0), a.double().var(0)
    assert torch.allclose(mean, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01)
    expect = (1 / 3) * (2 / 3) / (3 * alpha + 1)
    assert torch.allclose(var, torch.full((3,), expect, dtype=torch.float64), rtol=0.05)


def test_small_nonzero_weights_keep_their_share_of_the_loss_and_gradient():
    torch.manual_seed(0)
    s = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    ref = torch.randn(4, 6, dtype=torch.float64)
    y = torch.stack([torch.randperm(6), torch.randperm(6)], -1).expand(4, 6, 2).double()
    w = torch.tensor([1 - 1e-7, 1e-7], dtype=torch.float64)
    got = pl_dpo_loss(s, ref, y, None, w, beta=0.5, tie_break="first")
    per = [plackett_luce_nll(0.5 * (s - ref), y[..., k], None, tie_break="first") for k in range(2)]
    expect = (w[0] * per[0] + w[1] * per[1]).mean()
    assert torch.allclose(got, expect, rtol=1e-14, atol=0)
    assert abs(float((got - per[0].mean() * w[0]).detach())) > 1e-9  # the tiny weight's share is there
    g_got, = torch.autograd.grad(got, s)
    g_exp, = torch.autograd.grad(expect, s)
    torch.testing.assert_close(g_got, g_exp, rtol=1e-12, atol=1e-15)


def test_the_optimizer_groups_take_the_plans_learning_rates():
    plan = plan_of({"hyperdpo": {"lr": 2e-3}, "method": {"name": "hyperdpo", "params": {"cond_lr_mult": 3.0}}})
    assert plan.method.learning_rates == {"backbone": 2e-3, "conditioning": pytest.approx(6e-3)}
    ref = build_scorer(plan.scorer, conditioned=False)
    policy = conditioned_copy(ref, plan.scorer)
    groups = HyperDPO.param_groups(policy, plan.method.learning_rates)
    opt = torch.optim.AdamW(groups, lr=plan.stage2.lr)
    assert {g["name"]: g["lr"] for g in opt.param_groups} == plan.method.learning_rates
    cond = {id(q) for n, q in policy.named_parameters() if n.startswith("lowrank.")}
    assert {id(q) for q in opt.param_groups[1]["params"]} == cond
    frozen = plan_of({"model": {"freeze_backbone": True}})
    assert set(frozen.method.learning_rates) == {"conditioning"}
    groups = HyperDPO.param_groups(conditioned_copy(build_scorer(frozen.scorer, conditioned=False), frozen.scorer),
                                   frozen.method.learning_rates)
    assert [g["name"] for g in groups] == ["conditioning"]


def test_the_normaliser_clips_negative_values_before_log1p():
    rng = np.random.default_rng(0)
    heavy = rng.pareto(1.5, size=(2000, 1)).astype(np.float32)  # non-negative and heavy-tailed: log1p is chosen
    norm = FeatureNormalizer()
    norm.fit(heavy)
    assert norm.log1p == [True]
    out = norm.transform(np.array([[-3.0], [0.0], [-0.5]], dtype=np.float32))
    assert np.all(np.isfinite(out))  # log1p(-3) would be NaN, log1p(-0.5) a large negative value
    assert out[0, 0] == out[1, 0] == out[2, 0]  # an unseen negative value counts as the column's floor, 0
