"""scikit-learn's own estimator checks on ``MultiObjectiveRanker`` (small and fast settings: the checks fit many
times), and the estimator's LightGBM-style learned attributes."""
from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from ltr_hyperdpo.serving.estimator import MultiObjectiveRanker  # noqa: E402

#: checks that do not apply to a ranker, each with the reason (scikit-learn's expected_failed_checks)
NOT_FOR_A_RANKER: dict[str, str] = {}


def small() -> MultiObjectiveRanker:
    return MultiObjectiveRanker(epochs=1, reference_epochs=1, hidden=(8,), batch_size=8)


@pytest.mark.slow
def test_sklearn_check_estimator_passes():
    results = check_estimator(small(), expected_failed_checks=NOT_FOR_A_RANKER, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    assert not failed, failed
    counts = {s: sum(r["status"] == s for r in results) for s in ("passed", "skipped", "xfail")}
    print("check_estimator:", counts, [r["check_name"] for r in results if r["status"] == "skipped"])
    assert counts["passed"] >= 35


def test_unfitted_estimator_raises_sklearn_not_fitted():
    est = small()
    with pytest.raises(NotFittedError):
        est.predict(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        est.score(np.zeros((2, 3)), np.zeros(2))


@pytest.mark.slow
def test_learned_attributes_and_score(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype(np.float32)
    y = np.clip(np.round(x[:, 0] + 1.5), 0, 4)
    group = [10] * 40
    est = MultiObjectiveRanker(epochs=3, reference_epochs=3, hidden=(16,), batch_size=8).fit(x, y, group=group)
    assert est.n_features_in_ == 5 and est.w_.tolist() == [1.0]
    assert est.best_iteration_ in (1, 2, 3)
    evals = est.evals_result_["valid_0"]
    assert len(evals["reference/val_ndcg@10"]) == 3 and len(evals["hyperdpo/val_hypervolume"]) == 3
    assert est.feature_importances_.shape == (5,) and int(np.argmax(est.feature_importances_)) == 0
    s = est.score(x, y, group=group)
    assert 0.5 < s <= 1.0
    with pytest.raises(ValueError, match="X has 4 features, but MultiObjectiveRanker is expecting 5"):
        est.predict(x[:, :4])
    from scipy.sparse import csr_matrix

    np.testing.assert_allclose(est.predict(csr_matrix(x[:20]), group=[10, 10]), est.predict(x[:20], group=[10, 10]))
