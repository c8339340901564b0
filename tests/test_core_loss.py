"""PL NLL and PL-DPO loss against independent computations."""
import itertools
import math

import numpy as np
import pytest
import torch

from ltr_hyperdpo.core import (
    dpo_sigmoid_loss,
    pl_dpo_loss,
    pl_dpo_objective_losses,
    plackett_luce_nll,
    ranking_from_labels,
    rescale_temperature,
    sample_beta,
    sample_weights,
    weight_grid,
)


def brute_pl_nll(scores, labels, top_k=None):
    """-log of the PL probability of the label ranking, averaging over tie orders (enumerates permutations)."""
    n = len(scores)
    perms = [p for p in itertools.permutations(range(n))
             if all(labels[p[i]] >= labels[p[i + 1]] for i in range(n - 1))]
    vals = []
    for p in perms:
        lp = 0.0
        upto = n if top_k is None else min(top_k, n)
        for i in range(upto):
            rest = [scores[j] for j in p[i:]]
            lp += scores[p[i]] - math.log(sum(math.exp(r) for r in rest))
        vals.append(-lp)
    return vals


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("top_k", [None, 1, 2])
def test_pl_nll_matches_brute_force_with_padding(seed, top_k):
    rng = np.random.default_rng(seed)
    b, L = 4, 6
    s = rng.normal(size=(b, L)) * 2
    y = rng.integers(0, 4, size=(b, L)).astype(float)
    mask = np.zeros((b, L), bool)
    for i in range(b):
        mask[i, : rng.integers(1, 6)] = True
    # distinct labels => a unique ranking: the loss must equal the brute force exactly
    y_distinct = np.argsort(rng.random((b, L)), axis=1).astype(float)
    got = plackett_luce_nll(torch.tensor(s), torch.tensor(y_distinct), torch.tensor(mask), top_k=top_k,
                            tie_break="first")
    for i in range(b):
        n = mask[i].sum()
        exp = brute_pl_nll(s[i, :n], y_distinct[i, :n], top_k)
        assert len(exp) == 1
        assert got[i].item() == pytest.approx(exp[0], rel=1e-10, abs=1e-10)
    # ties, random tie-break: every sample equals one of the tie-consistent orders, and the mean over draws
    # approaches their average
    g = torch.Generator().manual_seed(seed)
    draws = torch.stack([plackett_luce_nll(torch.tensor(s), torch.tensor(y), torch.tensor(mask), top_k=top_k,
                                           generator=g) for _ in range(400)])
    for i in range(b):
        n = mask[i].sum()
        opts = brute_pl_nll(s[i, :n], y[i, :n], top_k)
        for v in draws[:, i].unique():
            assert min(abs(v.item() - o) for o in opts) < 1e-9
        assert draws[:, i].mean().item() == pytest.approx(np.mean(opts), abs=0.15 * (np.std(opts) + 1e-3) + 0.05)


def test_two_items_equal_dpo_sigmoid_loss():
    rng = np.random.default_rng(0)
    pc, pr, rc, rr = (torch.tensor(rng.normal(size=16) * 5) for _ in range(4))
    beta = 0.3
    policy = torch.stack([pc, pr], 1)
    ref = torch.stack([rc, rr], 1)
    labels = torch.tensor([[1.0, 0.0]]).expand(16, 2)
    got = pl_dpo_loss(policy, ref, labels[..., None], None, torch.ones(16, 1), beta=beta, reduction="none")
    exp = dpo_sigmoid_loss(pc, pr, rc, rr, beta)
    torch.testing.assert_close(got, exp, rtol=1e-12, atol=1e-12)
    # the chosen item second: same loss once labels say so
    got2 = pl_dpo_loss(policy.flip(1), ref.flip(1), labels.flip(1)[..., None], None, None, beta=beta, reduction="none")
    torch.testing.assert_close(got2, exp, rtol=1e-12, atol=1e-12)


def test_weighted_sum_over_objectives_and_reductions():
    g = torch.Generator().manual_seed(1)
    pol, ref = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    y = torch.randint(0, 5, (5, 7, 3)).double()
    w = sample_weights(5, 3, 0.7, generator=g).double()
    per = pl_dpo_objective_losses(pol, ref, y, None, beta=2.0, tie_break="first")
    for k in range(3):
        torch.testing.assert_close(per[:, k], plackett_luce_nll(2.0 * (pol - ref), y[..., k], tie_break="first"))
    tot = pl_dpo_loss(pol, ref, y, None, w, beta=2.0, tie_break="first", reduction="none")
    torch.testing.assert_close(tot, (w * per).sum(1))
    assert pl_dpo_loss(pol, ref, y, None, w, beta=2.0, tie_break="first", reduction="sum").item() == \
        pytest.approx(tot.sum().item())
    # reference-free: the plain multi-objective PL loss
    torch.testing.assert_close(pl_dpo_loss(pol, None, y, None, w, beta=1.0, tie_break="first", reduction="none"),
                               (w * pl_dpo_objective_losses(pol, torch.zeros_like(pol), y, None,
                                                            tie_break="first")).sum(1))
    with pytest.raises(ValueError, match="reduction"):
        pl_dpo_loss(pol, ref, y, None, w, reduction="avg")


def test_random_tie_break_one_sort_equals_shuffle_then_stable_sort():
    """Integer grades take a one-sort path; it must give the permutation of the general path (shuffle by the
    noise, then sort stably by label), which non-integer grades with the same ties still take."""
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        y = torch.randint(0, 5, (32, 40), generator=g).double()
        mask = torch.rand(32, 40, generator=g) < 0.8
        noise = torch.rand(32, 40, generator=g)
        fast = ranking_from_labels(y, mask, noise=noise)
        general = ranking_from_labels(y + 0.25, mask, noise=noise)  # same ties, not integers
        shuffle = torch.argsort(noise, dim=-1)
        key = torch.where(mask, y, torch.full_like(y, -math.inf)).gather(-1, shuffle)
        by_hand = shuffle.gather(-1, torch.argsort(key, dim=-1, descending=True, stable=True))
        for i, n in enumerate(mask.sum(-1).tolist()):  # padded items come last, in no stated order
            assert torch.equal(fast[i, :n], by_hand[i, :n]) and torch.equal(general[i, :n], by_hand[i, :n])


def test_zero_weights_skip_their_objective_exactly():
    """A zero weight's PL likelihood is not computed: loss, gradient and the random draws used equal those of the
    full computation."""
    pol = torch.randn(12, 9, dtype=torch.float64, requires_grad=True)
    ref = torch.randn(12, 9, dtype=torch.float64)
    y = torch.randint(0, 4, (12, 9, 3)).double()
    mask = torch.rand(12, 9) < 0.85
    w = sample_weights(12, 3, 0.5, generator=torch.Generator().manual_seed(0)).double()
    w[:4] = torch.eye(3, dtype=torch.float64)[torch.tensor([0, 1, 2, 1])]  # vertices
    w[5, 2] = 0.0
    got = pl_dpo_loss(pol, ref, y, mask, w, beta=0.5, generator=torch.Generator().manual_seed(7), reduction="none")
    per = pl_dpo_objective_losses(pol, ref, y, mask, beta=0.5, generator=torch.Generator().manual_seed(7))
    want = (w * per).sum(1)
    torch.testing.assert_close(got, want)
    g_got, = torch.autograd.grad(got.sum(), pol)
    g_want, = torch.autograd.grad(want.sum(), pol)
    torch.testing.assert_close(g_got, g_want)
    part = pl_dpo_objective_losses(pol, ref, y, mask, beta=0.5, generator=torch.Generator().manual_seed(7),
                                   where=w != 0)
    assert bool((part[w == 0] == 0).all()) and torch.equal(part[w != 0], per[w != 0])


def test_gradcheck_float64():
    torch.manual_seed(0)
    s = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    r = torch.randn(3, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (3, 5, 2)).double()
    m = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    w = torch.tensor([[0.3, 0.7], [0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)

    def f(x):
        return pl_dpo_loss(x, r, y, m, w, beta=0.7, tie_break="first", reduction="none")

    assert torch.autograd.gradcheck(f, (s,))
    assert torch.autograd.gradcheck(lambda x: plackett_luce_nll(x, y[..., 0], m, top_k=2, tie_break="first"), (s,))


@pytest.mark.parametrize("case", ["all_padded", "single", "equal_labels", "huge"])
def test_no_nan_edge_cases(case):
    s = torch.randn(2, 4, requires_grad=True)
    y = torch.randint(0, 3, (2, 4)).float()
    m = torch.ones(2, 4, dtype=torch.bool)
    if case == "all_padded":
        m[:] = False
    elif case == "single":
        m[:, 1:] = False
    elif case == "equal_labels":
        y[:] = 2.0
    x = s * 1e6 if case == "huge" else s
    loss = plackett_luce_nll(x, y, m, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss).all()
    if case in ("all_padded", "single"):
        assert torch.all(loss == 0)
    loss.sum().backward()
    assert torch.isfinite(s.grad).all()


def test_temperature_linear_transformation_property():
    g = torch.Generator().manual_seed(3)
    pol, ref = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    y = torch.randint(0, 4, (6, 8, 2)).double()
    w = sample_weights(6, 2, generator=g).double()
    for b, b2 in [(1.0, 0.25), (0.5, 4.0), (2.0, 2.0)]:
        l1 = pl_dpo_loss(pol, ref, y, None, w, beta=b, tie_break="first", reduction="none")
        moved = rescale_temperature(pol, ref, b, b2)
        l2 = pl_dpo_loss(moved, ref, y, None, w, beta=b2, tie_break="first", reduction="none")
        torch.testing.assert_close(l1, l2, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(moved - ref, (b / b2) * (pol - ref))
    # per-list temperatures
    bt = sample_beta(6, (0.2, 5.0), generator=g).double()
    moved = rescale_temperature(pol, ref, 1.0, bt)
    torch.testing.assert_close(pl_dpo_loss(pol, ref, y, None, w, beta=1.0, tie_break="first", reduction="none"),
                               pl_dpo_loss(moved, ref, y, None, w, beta=bt, tie_break="first", reduction="none"))


def test_sampling_and_grids():
    g = torch.Generator().manual_seed(0)
    w = sample_weights(20000, 3, [1.0, 2.0, 3.0], generator=g)
    assert torch.allclose(w.sum(1), torch.ones(20000))
    np.testing.assert_allclose(w.mean(0).numpy(), [1 / 6, 2 / 6, 3 / 6], atol=0.01)
    small = sample_weights(20000, 2, 0.3, generator=g)
    assert (small.min(1).values < 0.05).float().mean() > 0.3  # alpha < 1 pushes to the vertices
    bt = sample_beta(10000, (0.1, 10.0), generator=g)
    assert bt.min() >= 0.1 and bt.max() <= 10.0
    assert abs(torch.log(bt).mean().item()) < 0.1
    assert weight_grid(2, 11).shape == (11, 2)
    lat = weight_grid(3, 15)  # the smallest lattice with at least 15 points: H = 4, 15 points
    assert lat.shape == (15, 3) and np.allclose(lat.sum(1), 1)
    assert {tuple(r) for r in np.eye(3)} <= {tuple(r) for r in lat}
    rnd = weight_grid(5, 40, method="random")
    assert rnd.shape == (40, 5) and np.allclose(rnd.sum(1), 1) and (rnd >= 0).all()
    with pytest.raises(ValueError):
        sample_weights(2, 3, -1.0)


@pytest.mark.parametrize("k,test_points,members,val_points", [(3, 55, 15, 7), (4, 56, 10, 11), (5, 70, 15, 16)])
def test_grids_are_dense_and_interior_for_three_or_more_objectives(k, test_points, members, val_points):
    from ltr_hyperdpo.core.grids import describe_grid, member_grid, validation_grid

    test = weight_grid(k)
    assert test.shape == (test_points, k) and np.allclose(test.sum(1), 1) and (test >= 0).all()
    interior = (test > 0).sum(1) >= 2
    assert interior.sum() >= test_points - k  # the old grid was the K vertices only
    assert {tuple(r) for r in np.eye(k)} <= {tuple(r) for r in test}
    assert describe_grid(test)["kind"] == "simplex lattice"
    m = member_grid(k)
    assert len(m) == members and len(m) <= 15 and {tuple(r) for r in np.eye(k)} <= {tuple(r) for r in m}
    val = validation_grid(k)
    assert len(val) == val_points and np.allclose(val.sum(1), 1)
    assert any(np.allclose(r, 1 / k) for r in val)  # the centroid
    assert (val.max(1) < 1).sum() == val_points - k  # everything but the vertices is interior
    assert len(weight_grid(k, 5)) >= 5 and len(member_grid(2)) == 11 and len(weight_grid(2)) == 11
