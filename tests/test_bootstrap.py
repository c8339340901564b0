"""The paired hierarchical bootstrap of hypervolume ratios, against direct computations."""
import numpy as np
import pytest

from ltr_hyperdpo.eval.bootstrap import FrontSample, RatioInterval, paired_hv_ratio
from ltr_hyperdpo.eval.pareto import hypervolume


def sample(rng, w=5, k=2, q=40, shift=0.0, blank_share=0.1):
    values = np.clip(rng.uniform(0.2, 0.8, size=(w, k, q)) + shift, 0, 1)
    blank = rng.random((k, q)) < blank_share
    return FrontSample(values, blank)


def test_resampled_means_equal_a_direct_computation_under_the_skip_policy():
    rng = np.random.default_rng(0)
    s = sample(rng)
    counts = rng.integers(0, 3, size=(4, 40)).astype(float)
    got = s.means(counts)
    for b in range(4):
        for j in range(2):
            use = ~s.blank[j]
            rep = np.repeat(np.arange(40), counts[b].astype(int))
            rep = rep[use[rep]]
            np.testing.assert_allclose(got[b, :, j], s.values[:, j, rep].mean(axis=1), rtol=1e-12)


def test_the_point_estimate_is_the_full_test_sets_ratio_and_the_interval_holds_it():
    rng = np.random.default_rng(1)
    a = [sample(rng, shift=0.05) for _ in range(3)]
    b = [sample(rng) for _ in range(3)]
    r = paired_hv_ratio(a, b, n_boot=300, seed=0)
    direct = np.mean([hypervolume(x.values.mean(2, where=~x.blank[None])) /
                      hypervolume(y.values.mean(2, where=~y.blank[None])) for x, y in zip(a, b, strict=True)])
    assert r.mean == pytest.approx(direct, rel=1e-12)
    assert r.low < r.mean < r.high and r.mean > 1.0
    assert paired_hv_ratio(a, b, n_boot=300, seed=0) == r  # seeded: reproducible


def test_pairing_removes_the_shared_query_noise():
    """B is A with every NDCG scaled by 0.9 (the same queries are hard for both): the ratio is exactly known and a
    paired bootstrap gives an interval of width ~0; unpaired draws would not."""
    rng = np.random.default_rng(2)
    a = [sample(rng, blank_share=0.0) for _ in range(2)]
    b = [FrontSample(x.values * 0.9, x.blank) for x in a]
    r = paired_hv_ratio(a, b, n_boot=200, seed=3)
    assert r.mean == pytest.approx(1 / 0.81, rel=1e-9)
    assert r.high - r.low < 1e-9


@pytest.mark.parametrize("interval,verdict", [((1.02, 1.01, 1.03), "met"), ((1.01, 0.99, 1.03), "tie"),
                                              ((0.95, 0.93, 0.97), "missed"), ((0.99, 0.985, 1.0), "tie")])
def test_verdicts(interval, verdict):
    assert RatioInterval(*interval).verdict(1.0) == verdict
    # a lower bar for the interval: met when the estimate reaches 1.0 and the lower bound 0.98
    assert RatioInterval(1.0, 0.981, 1.02).verdict(1.0, 0.98) == "met"
