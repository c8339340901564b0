"""Seeded synthetic multi-objective LTR data with MSLR-like shape and controllable objective correlation.

Each query has ~``docs_per_query`` documents (Poisson-varied) with ``n_features`` features. Objective k has a latent
utility ``u_k = X v_k + noise`` on the base features, with ``corr(v_1, v_k) = correlation`` (1 = aligned,
negative = conflicting). Objective 0 becomes the relevance label (grades 0-4, MSLR-like mass: many zeros).
Auxiliary objectives are written as the LAST ``n_objectives - 1`` feature columns, as positive heavy-tailed
"signals" (like MSLR click/quality columns); the ``synth`` objective spec grades them by quantiles and drops them
from the model input. Some base columns are heavy-tailed and non-negative, as in MSLR.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..utils.io import atomic_path
from .objectives import ObjectiveSpec
from .tables import table_arrays

LABEL_MASS = (0.50, 0.30, 0.14, 0.045, 0.015)


def synth_objectives(n_features: int, n_objectives: int) -> list[ObjectiveSpec]:
    """The objective spec matching :func:`make_synthetic`: label + the last K-1 columns, quantile-graded."""
    objs = [ObjectiveSpec(name="relevance")]
    for k in range(1, n_objectives):
        objs.append(ObjectiveSpec(name=f"aux{k}", source="feature", feature=n_features - n_objectives + 1 + k,
                                  transform="quantile"))
    return objs


def make_synthetic(n_queries: int = 200, docs_per_query: int = 120, n_features: int = 136, n_objectives: int = 2,
                   correlation: float = -0.5, noise: float = 0.3, seed: int = 0, task_seed: int = 0) -> pa.Table:
    """A table ``qid, label, features`` (see module doc); same seeds, same data.

    ``task_seed`` fixes the ground truth (which features matter, the objectives' directions); ``seed`` draws the
    queries and documents. Train and test splits of one task share ``task_seed`` and differ in ``seed``.
    """
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [-1, 1], got {correlation}")
    if n_objectives < 1 or n_features < n_objectives + 4:
        raise ValueError("need n_objectives >= 1 and n_features >= n_objectives + 4")
    rng = np.random.default_rng(seed)
    n_base = n_features - (n_objectives - 1)
    sizes = np.clip(rng.poisson(docs_per_query, n_queries), 2, None)
    n = int(sizes.sum())
    qid = np.repeat(np.arange(1, n_queries + 1, dtype=np.int64), sizes)
    x = rng.standard_normal((n, n_base)).astype(np.float32)
    x += rng.standard_normal((n_queries, n_base)).astype(np.float32)[qid - 1] * 0.5
    n_inf = min(24, n_base)
    task = np.random.default_rng([task_seed, 7919])
    # directions over the informative columns: v_0, and v_k = c v_0 + sqrt(1-c^2) v_perp_k
    base = task.standard_normal(n_inf)
    base /= np.linalg.norm(base)
    dirs = [base]
    for _ in range(1, n_objectives):
        p = task.standard_normal(n_inf)
        for d in dirs:
            p -= (p @ d) * d
        p /= np.linalg.norm(p)
        dirs.append(correlation * base + np.sqrt(max(0.0, 1 - correlation ** 2)) * p)
    xi = x[:, :n_inf].astype(np.float64)
    utils = []
    for d in dirs:
        u = xi @ d + 0.25 * np.tanh(xi[:, :4] @ d[:4]) + noise * rng.standard_normal(n)
        u -= np.repeat(np.add.reduceat(u, np.r_[0, np.cumsum(sizes)[:-1]]) / sizes, sizes)
        utils.append(u)
    # heavy-tailed non-negative columns (after utilities are computed, so the signal is unchanged in rank order)
    heavy = np.arange(n_inf, min(n_inf + 8, n_base))
    x[:, heavy] = np.exp(1.5 * x[:, heavy])
    # fixed utility cut points (utilities are ~unit scale), so every split of a task grades alike
    cuts = np.quantile(task.standard_normal(200_000) * utils[0].std(), np.cumsum(LABEL_MASS)[:-1])
    label = np.searchsorted(cuts, utils[0]).astype(np.float32)
    aux = [np.exp(u).astype(np.float32) for u in utils[1:]]
    feats = np.concatenate([x] + [a[:, None] for a in aux], axis=1).astype(np.float32)
    fsl = pa.FixedSizeListArray.from_arrays(pa.array(feats.reshape(-1)), n_features)
    return pa.table({"qid": pa.array(qid), "label": pa.array(label), "features": fsl})


def write_letor_text(table: pa.Table, path, precision: int = 6) -> None:
    """Write a table as dense LETOR text (``label qid:Q 1:v ... F:v``), like MSLR — for benchmarks and tests."""
    q, y, x = table_arrays(table)
    fmt = "%d qid:%d " + " ".join(f"{j + 1}:%.{precision}g" for j in range(x.shape[1])) + "\n"
    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii") as fh:
        for s in range(0, x.shape[0], 4096):
            xs = x[s:s + 4096].astype(np.float64).tolist()
            fh.write("".join(fmt % (int(a), int(b), *r) for a, b, r in zip(y[s:s + 4096], q[s:s + 4096], xs,
                                                                              strict=True)))
