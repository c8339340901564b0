"""allRank 1.4.3 as the oracle of every single-objective loss: the same scores, labels and padding, per list, in
float64 (RankNet and NeuralNDCG in float32: allRank casts RankNet's targets and builds NeuralSort's constants in
float32), within 1e-6.

allRank marks padding with label -1 at the end of a list and reduces over the batch; this project masks padding
and returns one value per list. Every convention difference is asserted explicitly below:

* RankNet: allRank averages over all pairs of the batch (ours: per list, then the mean over lists), its weighted
  variant divides by the number of pairs (ours: by the total weight), and a list with no ordered pair gives NaN
  (ours: 0);
* LambdaLoss: allRank sums over the batch (ours: per list; the caller takes the mean);
* ListMLE: ties are broken by allRank with a random column shuffle and an unstable sort; the same order given to
  ours as tie-break noise gives the same value;
* NeuralNDCG: allRank averages over the lists that have a relevant document (ours: blank lists give 0 and count in
  the mean).
"""
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT

from ltr_hyperdpo.losses import (
    approx_ndcg_loss,
    lambda_loss,
    listmle_loss,
    listnet_loss,
    neural_ndcg_loss,
    ranknet_loss,
)

sys.path.insert(0, str(ROOT / "benchmarks"))
from _allrank import import_allrank  # noqa: E402

try:
    (AR,) = import_allrank("allrank.models.losses")
except ImportError as e:  # pragma: no cover - the test extra installs it
    pytest.skip(f"allRank cannot be imported ({e}); make test installs allrank==1.4.3 --no-deps",
                allow_module_level=True)

TOL = 1e-6
WIDTH = 12


def batch(seed: int, ties: bool = True, dtype=torch.float64, n_lists: int = 16):
    """Scores, labels (padding -1 for allRank), mask and lengths; list 0 has no relevant document, list 1 one item."""
    g = np.random.default_rng(seed)
    lengths = g.integers(2, WIDTH + 1, n_lists)
    lengths[1] = 1
    s = torch.tensor(g.normal(0, 1.5, (n_lists, WIDTH)), dtype=dtype)
    y = torch.full((n_lists, WIDTH), -1.0, dtype=dtype)
    for i, n in enumerate(lengths):
        lab = g.integers(0, 5, n) if ties else g.permutation(n).astype(float) * 4 / max(n - 1, 1)  # distinct
        y[i, :n] = torch.tensor(lab, dtype=dtype)
    y[0, : lengths[0]] = 0.0
    mask = y >= 0
    return s, y, mask, lengths


def per_list(fn, s, y, **kw):
    """allRank's loss of each list alone (a batch of one), as a tensor [lists]."""
    return torch.stack([torch.as_tensor(fn(s[i:i + 1], y[i:i + 1], **kw), dtype=s.dtype) for i in range(len(s))])


def ours_labels(y):
    return y.clamp_min(0)


@pytest.mark.parametrize("seed", [0, 1])
def test_listnet(seed):
    s, y, m, _ = batch(seed)
    ref = per_list(AR.listNet, s, y)
    np.testing.assert_allclose(listnet_loss(s, ours_labels(y), m), ref, atol=TOL)
    assert torch.allclose(AR.listNet(s, y), ref.mean(), atol=TOL)  # allRank: the mean over lists, as ours


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_listmle_with_allranks_own_tie_order(seed):
    s, y, m, _ = batch(seed, ties=True)
    ours, ref = [], []
    for i in range(len(s)):
        torch.manual_seed(100 + i)
        ref.append(AR.listMLE(s[i:i + 1], y[i:i + 1]))
        torch.manual_seed(100 + i)  # replay allRank's shuffle and sort to read the tie order it used
        perm = torch.randperm(WIDTH)
        _, idx = y[i:i + 1, perm].sort(descending=True, dim=-1)
        order = perm[idx[0]]
        noise = torch.empty(WIDTH, dtype=s.dtype)
        noise[order] = torch.arange(WIDTH, dtype=s.dtype)  # ours breaks ties by ascending noise
        ours.append(listmle_loss(s[i:i + 1], ours_labels(y[i:i + 1]), m[i:i + 1], tie_noise=noise[None])[0])
    np.testing.assert_allclose(torch.stack(ours), torch.stack(ref), atol=TOL)


def test_listmle_without_ties_needs_no_tie_order():
    s, y, m, _ = batch(3, ties=False)
    s, y, m = s[1:], y[1:], m[1:]  # list 0 is all zeros: one big tie
    np.testing.assert_allclose(listmle_loss(s, ours_labels(y), m, generator=torch.Generator().manual_seed(0)),
                               per_list(AR.listMLE, s, y), atol=TOL)


@pytest.mark.parametrize("seed", [0, 1])
def test_ranknet_and_its_reductions(seed):
    s, y, m, lengths = batch(seed, dtype=torch.float32)  # allRank's RankNet casts its targets to float32
    lab = ours_labels(y)
    ours = ranknet_loss(s, lab, m)
    ref = per_list(AR.rankNet, s, y)
    has_pair = torch.tensor([(len(set(y[i, :n].tolist())) > 1) for i, n in enumerate(lengths)])
    np.testing.assert_allclose(ours[has_pair], ref[has_pair], atol=TOL)
    assert torch.isnan(ref[~has_pair]).all() and (ours[~has_pair] == 0).all()  # no ordered pair: NaN vs 0
    # the batch: allRank averages over all pairs of the batch, ours over each list's pairs
    pairs = torch.tensor([float(((y[i, :, None] > y[i, None, :]) & m[i, :, None] & m[i, None, :]).sum())
                          for i in range(len(s))])
    assert torch.allclose(AR.rankNet(s, y), (ours * pairs).sum() / pairs.sum(), atol=TOL)
    # weighted by |y_i - y_j|: allRank divides by the number of pairs, ours by the total weight
    w_ours = ranknet_loss(s, lab, m, weight_by_diff=True)
    weight = torch.tensor([float(((y[i, :, None] - y[i, None, :]).clamp_min(0) * (m[i, :, None] & m[i, None, :]))
                                 .sum()) for i in range(len(s))])
    ref_w = per_list(AR.rankNet_weightByGTDiff, s, y)
    np.testing.assert_allclose(w_ours[has_pair] * weight[has_pair] / pairs[has_pair], ref_w[has_pair], atol=TOL)


SCHEMES = {"ndcg2pp": "ndcgLoss2PP_scheme", "lambdarank": "lambdaRank_scheme", "ndcg2": "ndcgLoss2_scheme",
           "none": None}


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("k", [None, 5])
def test_lambdaloss(scheme, k):
    s, y, m, _ = batch(4)
    args = {"sigma": 1.5, "mu": 7.0}
    ours = lambda_loss(s, ours_labels(y), m, scheme=scheme, k=k, **args)
    ref = per_list(AR.lambdaLoss, s, y, weighing_scheme=SCHEMES[scheme], k=k, **args)
    np.testing.assert_allclose(ours, ref, atol=TOL)
    assert float(ours[0]) == 0.0  # no relevant document
    # allRank's batch value is the sum over lists (reduction "sum"); ours is per list
    assert torch.allclose(AR.lambdaLoss(s, y, weighing_scheme=SCHEMES[scheme], k=k, **args), ours.sum(), atol=TOL)


@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_approxndcg(alpha):
    s, y, m, _ = batch(5)
    ours = approx_ndcg_loss(s, ours_labels(y), m, temperature=1.0 / alpha)  # allRank's alpha = 1 / temperature
    np.testing.assert_allclose(ours, per_list(AR.approxNDCGLoss, s, y, alpha=alpha), atol=TOL)
    assert torch.allclose(AR.approxNDCGLoss(s, y, alpha=alpha), ours.mean(), atol=TOL)


@pytest.mark.parametrize("k", [None, 4])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_neuralndcg(k, temperature):
    s, y, m, _ = batch(6, dtype=torch.float32)
    ours = neural_ndcg_loss(s, ours_labels(y), m, temperature=temperature, k=k)
    ref = per_list(AR.neuralNDCG, s, y, temperature=temperature, k=k)
    np.testing.assert_allclose(ours, ref, atol=TOL)
    # the batch: allRank averages over lists with a relevant document; ours counts blank lists as 0
    blank = ~((y > 0) & m).any(-1)
    assert blank.any()
    assert torch.allclose(AR.neuralNDCG(s, y, temperature=temperature, k=k), ours[~blank].mean(), atol=TOL)
