"""Single-objective losses against independent (loop-based numpy) computations."""
import itertools
import math

import numpy as np
import pytest
import torch

from ltr_hyperdpo.losses import (
    LOSSES,
    approx_ndcg_loss,
    get_loss,
    lambda_loss,
    listmle_loss,
    listnet_loss,
    neural_ndcg_loss,
    ranknet_loss,
)


def batch(seed, b=5, n=7, ties=False):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(b, n)) * 1.5
    y = rng.integers(0, 5, size=(b, n)).astype(float) if ties else np.argsort(rng.random((b, n)), 1) % 5 * 1.0
    mask = np.zeros((b, n), bool)
    for i in range(b):
        mask[i, : rng.integers(2, n + 1)] = True
    return s, y, mask


def T(a):
    return torch.tensor(a)


def ref_listnet(s, y):
    p = np.exp(y) / np.exp(y).sum()
    q = np.exp(s) / np.exp(s).sum()
    return -(p * np.log(q)).sum()


def ref_ranknet(s, y):
    num, den = 0.0, 0
    for i, j in itertools.permutations(range(len(s)), 2):
        if y[i] > y[j]:
            num += math.log1p(math.exp(-(s[i] - s[j])))
            den += 1
    return num / den if den else 0.0


def ref_lambdaloss(s, y, scheme, mu=10.0, k=None):
    n = len(s)
    order = sorted(range(n), key=lambda i: -s[i])
    ys = [y[i] for i in order]
    ss = [s[i] for i in order]
    ideal = sorted(y, reverse=True)
    kk = n if k is None else k
    maxdcg = sum((2 ** ideal[r] - 1) / math.log2(r + 2) for r in range(min(kk, n)))
    G = [(2 ** v - 1) / maxdcg for v in ys]
    D = lambda r: math.log2(1 + r)  # noqa: E731  (r is 1-based)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if ys[i] <= ys[j] or i >= kk or j >= kk:
                continue
            lr = abs(1 / D(i + 1) - 1 / D(j + 1)) * abs(G[i] - G[j])
            d = abs(i - j)
            n2 = abs(1 / D(d) - 1 / D(d + 1)) * abs(G[i] - G[j])
            w = {"lambdarank": lr, "ndcg2": n2, "ndcg2pp": mu * n2 + lr}[scheme]
            p = 1 / (1 + math.exp(-(ss[i] - ss[j])))
            total += -w * math.log2(max(p, 1e-10))
    return total


def ref_approx(s, y, t=1.0):
    n = len(s)
    dcg = 0.0
    for i in range(n):
        rank = 1 + sum(1 / (1 + math.exp(-(s[j] - s[i]) / t)) for j in range(n) if j != i)
        dcg += (2 ** y[i] - 1) / math.log2(1 + rank)
    ideal = sorted(y, reverse=True)
    idcg = sum((2 ** v - 1) / math.log2(r + 2) for r, v in enumerate(ideal))
    return -dcg / idcg if idcg > 0 else 0.0


def ref_neural(s, y, t=1.0, k=None, iters=50):
    n = len(s)
    A = np.abs(s[:, None] - s[None, :])
    P = np.zeros((n, n))
    for i in range(1, n + 1):
        c = (n + 1 - 2 * i) * s - A.sum(1)
        e = np.exp((c - c.max()) / t)
        P[i - 1] = e / e.sum()
    for _ in range(iters):  # columns, then rows; until rows and columns sum to 1 (the authors' allRank code)
        P = P / P.sum(0, keepdims=True)
        P = P / P.sum(1, keepdims=True)
        if max(np.abs(P.sum(1) - 1).max(), np.abs(P.sum(0) - 1).max()) < 1e-6:
            break
    g = 2 ** y - 1
    sg = P @ g
    kk = n if k is None else k
    dcg = sum(sg[r] / math.log2(r + 2) for r in range(min(kk, n)))
    ideal = sorted(y, reverse=True)
    idcg = sum((2 ** v - 1) / math.log2(r + 2) for r, v in enumerate(ideal[:kk]))
    return -dcg / idcg if idcg > 0 else 0.0


@pytest.mark.parametrize("seed", range(4))
def test_listwise_losses_against_loops(seed):
    s, y, m = batch(seed)
    got = {
        "listnet": listnet_loss(T(s), T(y), T(m)),
        "ranknet": ranknet_loss(T(s), T(y), T(m)),
        "approx": approx_ndcg_loss(T(s), T(y), T(m), temperature=0.5),
        "neural": neural_ndcg_loss(T(s), T(y), T(m), temperature=1.0),
        "neural@3": neural_ndcg_loss(T(s), T(y), T(m), temperature=1.0, k=3),
    }
    for sch in ("lambdarank", "ndcg2", "ndcg2pp"):
        got[sch] = lambda_loss(T(s), T(y), T(m), scheme=sch)
    got["ndcg2pp@3"] = lambda_loss(T(s), T(y), T(m), scheme="ndcg2pp", k=3)
    for i in range(s.shape[0]):
        n = m[i].sum()
        si, yi = s[i, :n], y[i, :n]
        assert got["listnet"][i].item() == pytest.approx(ref_listnet(si, yi), rel=1e-9)
        assert got["ranknet"][i].item() == pytest.approx(ref_ranknet(si, yi), rel=1e-9)
        assert got["approx"][i].item() == pytest.approx(ref_approx(si, yi, 0.5), rel=1e-9, abs=1e-12)
        assert got["neural"][i].item() == pytest.approx(ref_neural(si, yi), rel=1e-5, abs=1e-7)
        assert got["neural@3"][i].item() == pytest.approx(ref_neural(si, yi, k=3), rel=1e-5, abs=1e-7)
        for sch in ("lambdarank", "ndcg2", "ndcg2pp"):
            assert got[sch][i].item() == pytest.approx(ref_lambdaloss(si, yi, sch), rel=1e-9, abs=1e-12), sch
        assert got["ndcg2pp@3"][i].item() == pytest.approx(ref_lambdaloss(si, yi, "ndcg2pp", k=3), rel=1e-9,
                                                           abs=1e-12)


def test_listmle_is_pl_nll_and_all_losses_train_direction():
    s, y, m = batch(9)
    # ListMLE against an independent computation: with distinct labels the ranking is unique and the loss is
    # sum_i [log sum_{j >= i} exp(s_(j)) - s_(i)] over the real items sorted by label
    rng = np.random.default_rng(3)
    sd = rng.standard_normal((4, 6))
    yd = np.stack([rng.permutation(6) for _ in range(4)]).astype(float)
    md = np.ones((4, 6), dtype=bool)
    md[1, 4:] = False
    got = listmle_loss(T(sd), T(yd), torch.from_numpy(md), generator=torch.Generator().manual_seed(0))
    for i in range(4):
        real = np.flatnonzero(md[i])
        order = real[np.argsort(-yd[i, real], kind="stable")]
        ss = sd[i, order]
        expect = sum(np.log(np.exp(ss[j:]).sum()) - ss[j] for j in range(len(ss)))
        assert got[i].item() == pytest.approx(expect, rel=1e-9)
    # every loss is lower for the label-sorted scores than for the reversed ones, and has finite gradients
    y_t = T(y)
    good, bad = y_t.clone().requires_grad_(True), (-y_t).clone().requires_grad_(True)
    for name, fn in LOSSES.items():
        lg = fn(good, y_t, T(m)).mean()
        lb = fn(bad, y_t, T(m)).mean()
        assert lg.item() < lb.item(), name
        lb.backward()
        assert torch.isfinite(bad.grad).all(), name
        bad.grad = None
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("hinge")


def test_losses_handle_padding_and_blank_lists():
    s = torch.randn(2, 4, requires_grad=True)
    y = torch.tensor([[0.0, 0, 0, 0], [2.0, 1, 0, 0]])
    m = torch.tensor([[True, True, False, False], [False, False, False, False]])
    for name, fn in LOSSES.items():
        out = fn(s, y, m)
        assert out.shape == (2,) and torch.isfinite(out).all(), name
        out.sum().backward()
        assert torch.isfinite(s.grad).all(), name
        s.grad = None
