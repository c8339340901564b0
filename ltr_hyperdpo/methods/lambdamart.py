"""LightGBM LambdaMART on the main objective: the benchmark anchor single-objective rankers are judged against.

Needs ``lightgbm`` (the ``bench`` extra). Same splits and input features as the neural models; the scores are
evaluated by the same NDCG code.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..data.dataset import RankingDataset

DEFAULT_PARAMS = {"objective": "lambdarank", "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31,
                  "min_child_samples": 20, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
                  "verbose": -1}


def fit_lambdamart(tr: RankingDataset, va: RankingDataset | None = None, *, seed: int = 0, params: dict | None = None,
                   early_stopping_rounds: int = 50) -> Any:
    """Fit ``lightgbm.LGBMRanker`` on objective 0 (integer grades), early-stopped on vali NDCG@10 when given."""
    try:
        import lightgbm as lgb
    except ImportError as e:  # pragma: no cover - the bench extra installs it
        raise ImportError("LambdaMART needs lightgbm: pip install 'ltr_hyperdpo[bench]'") from e
    p = {**DEFAULT_PARAMS, **(params or {}), "random_state": seed, "n_jobs": 2}
    model = lgb.LGBMRanker(**p)
    kw: dict[str, Any] = {}
    if va is not None:
        kw = {"eval_group": [va.list_sizes], "eval_at": [10],
                  "callbacks": [lgb.early_stopping(early_stopping_rounds, verbose=False)]}
        if "eval_X" in inspect.signature(model.fit).parameters:  # lightgbm >= 4.6 renamed eval_set
            kw.update(eval_X=(va.x,), eval_y=(va.y[:, 0].astype(int),))
        else:
            kw.update(eval_set=[(va.x, va.y[:, 0].astype(int))])
    model.fit(tr.x, tr.y[:, 0].astype(int), group=tr.list_sizes, **kw)
    return model


def lambdamart_scores(model: Any, ds: RankingDataset) -> list[np.ndarray]:
    """Per-query score arrays of a fitted LambdaMART model."""
    s = model.predict(ds.x)
    return [s[ds.offsets[i]:ds.offsets[i + 1]].astype(np.float64) for i in range(ds.n_queries)]
