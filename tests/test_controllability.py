"""Every front states whether it is controllable, and warns in one line when the trade-off is inactive."""
import numpy as np
import pytest
import torch

from ltr_hyperdpo.data.dataset import RankingDataset
from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives
from ltr_hyperdpo.eval.controllability import controllability, spearman, summary_line
from ltr_hyperdpo.eval.front import evaluate_front
from ltr_hyperdpo.eval.report import markdown_table
from ltr_hyperdpo.models import HyperDPORanker, ReferenceRanker, ScorerConfig, build_scorer, conditioned_copy

W = np.stack([np.linspace(0, 1, 5), 1 - np.linspace(0, 1, 5)], 1)


def test_spearman_equals_scipys():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.random(20), rng.integers(0, 4, 20).astype(float)  # ties in b
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, rel=1e-12)
    assert spearman(a, np.ones(20)) is None


def test_a_steerable_front_and_an_inactive_one():
    good = controllability(W, np.stack([0.5 + 0.1 * W[:, 0], 0.5 + 0.1 * W[:, 1]], 1), ["a", "b"])
    assert good["spearman_w_metric"] == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}
    assert good["distinct_share"] == 1.0 and good["nondominated_share"] == 1.0 and good["inactive"] == []
    flat = controllability(W, np.tile([0.6, 0.4], (5, 1)), ["a", "b"])
    assert flat["distinct_share"] == 0.2 and len(flat["inactive"]) == 1 and "same metrics" in flat["inactive"][0]
    stuck = controllability(W, np.stack([0.5 + 0.1 * W[:, 0], np.full(5, 0.4)], 1), ["a", "b"])
    assert stuck["inactive"] == ["objective 'b' does not move across the 5 weights (spread 0)"]
    assert "Spearman(w_k, NDCG_k) a +1.00, b n/a" in summary_line(stuck)


def test_every_front_reports_it_and_warns_when_a_model_ignores_w():
    ds = RankingDataset.from_table(make_synthetic(20, 10, 8, 2, -0.5, seed=1), objectives=synth_objectives(8, 2),
                                   fit=True)
    cfg = ScorerConfig(kind="mlp", n_features=ds.n_features, n_objectives=2, hidden=[8], dropout=0.0,
                       conditioned_layers=1)
    torch.manual_seed(0)
    ref = build_scorer(cfg, conditioned=False).eval()
    untrained = HyperDPORanker(conditioned_copy(ref, cfg), ref)  # a no-op conditioning: w changes nothing
    with pytest.warns(UserWarning, match="every one of the 5 weights gives the same metrics"):
        res = evaluate_front(untrained, ds, W)
    assert res.to_dict()["controllability"]["distinct_share"] == 0.2
    assert "warning: every one of the 5 weights" in markdown_table(res)
    policy = conditioned_copy(ref, cfg)
    with torch.no_grad():
        for n, q in policy.named_parameters():
            if n.startswith("lowrank."):
                q.normal_(0, 1.0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        moved = evaluate_front(HyperDPORanker(policy, ref), ds, W)
        evaluate_front(ReferenceRanker(ref), ds, W)  # the reference alone is one point by design: no warning
    assert moved.extra["controllability"]["distinct_share"] > 0.2
    assert "controllability: Spearman" in markdown_table(moved)
