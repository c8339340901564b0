"""Comparing trained runs on one test split, with significance: ``ltr-hyperdpo compare RUN_A RUN_B ...``.

Per weight and objective, ranx's ``compare`` evaluates every run's NDCG@k (``ndcg_burges``) over the test queries
and tests each pair with a paired test over queries: Student's two-sided paired t-test (``student``) or Fisher's
randomisation test (``fisher``, 1000 permutations, seeded). Queries with no relevant document for an objective are
left out of that objective's test (the ``skip`` policy). Ties in scores are broken by document position before
ranx sees them, as everywhere in the toolkit. For whole fronts, the hypervolume difference of each run against the
first over a dense grid comes with a 95 % interval from a paired bootstrap over test queries
(:mod:`ltr_hyperdpo.eval.bootstrap`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import ranx

from ..data.dataset import RankingDataset
from ..eval.bootstrap import FrontSample, paired_hv_ratio
from ..eval.front import per_query_ndcg
from ..eval.pareto import hypervolume
from .run import Run

STAT_TESTS = ("student", "fisher")


def _positional_scores(scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Scores with ties broken by document position: within each query, ``n - rank`` of a stable descending sort."""
    out = np.empty(len(scores), dtype=np.float64)
    for q in range(len(offsets) - 1):
        s = scores[offsets[q]:offsets[q + 1]]
        order = np.argsort(-s, kind="stable")
        ranks = np.empty(len(s))
        ranks[order] = np.arange(len(s))
        out[offsets[q]:offsets[q + 1]] = len(s) - ranks
    return out


def _ranx_compare(ds: RankingDataset, ranked: dict[str, np.ndarray], objective: int, k: int, stat_test: str,
                  max_p: float, seed: int) -> dict:
    """ranx's compare for one objective; ``ranked`` holds each run's scores with ties already broken."""
    qrels: dict[str, dict[str, int]] = {}
    runs: dict[str, dict[str, dict[str, float]]] = {name: {} for name in ranked}
    for q in range(ds.n_queries):
        lo, hi = int(ds.offsets[q]), int(ds.offsets[q + 1])
        grades = ds.y[lo:hi, objective]
        if not np.any(grades >= 1):
            continue  # blank for this objective: skipped
        qid = f"q{q}"
        qrels[qid] = {f"d{i}": int(g) for i, g in zip(range(lo, hi), grades, strict=True) if g > 0}
        for name in ranked:
            runs[name][qid] = {f"d{i}": float(ranked[name][i]) for i in range(lo, hi)}
    metric = f"ndcg_burges@{k}"
    report = ranx.compare(ranx.Qrels(qrels), [ranx.Run(r, name=n) for n, r in runs.items()], metrics=[metric],
                          stat_test=stat_test, max_p=max_p, random_seed=seed)
    d = report.to_dict()
    names = list(ranked)
    return {"queries": len(qrels), "scores": {n: float(d[n]["scores"][metric]) for n in names},
            "p_values": {f"{a} vs {b}": float(d[a]["comparisons"][b][metric])
                         for i, a in enumerate(names) for b in names[i + 1:]}}


def compare_runs(runs: dict[str, Run], ds: RankingDataset, weights: np.ndarray, *, k: int = 10,
                 stat_test: str = "student", max_p: float = 0.05, grid: np.ndarray | None = None,
                 n_boot: int = 1000, seed: int = 0) -> dict:
    """Per weight and objective, every run's NDCG@k and the pairwise p-values (ranx); with ``grid``, each run's
    hypervolume on it and its difference from the first run's with a paired bootstrap interval over queries."""
    if stat_test not in STAT_TESTS:
        raise ValueError(f"stat_test must be one of {STAT_TESTS}, got {stat_test!r}")
    names = list(runs)
    out: dict[str, Any] = {"data": ds.name, "metric": f"ndcg@{k}", "stat_test": stat_test, "max_p": max_p,
                           "blank_policy": "skip", "per_weight": []}
    for w in np.asarray(weights, dtype=np.float64):
        ranked = {n: _positional_scores(runs[n].score(ds, w), ds.offsets) for n in names}  # once per weight
        out["per_weight"].append({"w": w.tolist(), "objectives": {
            obj: _ranx_compare(ds, ranked, j, k, stat_test, max_p, seed) for j, obj in enumerate(ds.objective_names)}})
    if grid is not None and len(names) > 1:
        samples = {n: FrontSample(*per_query_ndcg(runs[n].ranker, ds, grid, k=k, device=runs[n].device))
                   for n in names}
        first = names[0]
        out["hypervolume"] = {n: float(hypervolume(s.values.mean(axis=2, where=~s.blank[None])))
                              for n, s in samples.items()}
        out["hypervolume_difference"] = {}
        for n in names[1:]:
            r = paired_hv_ratio([samples[n]], [samples[first]], n_boot=n_boot, seed=seed, difference=True)
            out["hypervolume_difference"][f"{n} - {first}"] = r.to_dict()
    return out


def markdown(res: dict) -> str:
    """The comparison as a table: one row per weight and objective; † marks a pair whose p-value is below max_p."""
    lines: list[str] = []
    for pw in res["per_weight"]:
        for obj, c in pw["objectives"].items():
            names = list(c["scores"])
            if not lines:
                lines = [f"| w | objective | queries | {' | '.join(names)} | p-values ({res['stat_test']}) |",
                         "|" + "---|" * (len(names) + 4)]
            sig = ", ".join(f"{pair} {p:.3g}{' †' if p < res['max_p'] else ''}" for pair, p in c["p_values"].items())
            lines.append(f"| {' '.join(f'{v:.2f}' for v in pw['w'])} | {obj} | {c['queries']} | "
                         + " | ".join(f"{c['scores'][n]:.4f}" for n in names) + f" | {sig} |")
    lines.append(f"\n{res['metric']} (ranx ndcg_burges, queries with no relevant document skipped); † = p < "
                 f"{res['max_p']}.")
    for pair, d in res.get("hypervolume_difference", {}).items():
        lines.append(f"hypervolume {pair}: {d['mean']:+.5f} [{d['ci95'][0]:+.5f}, {d['ci95'][1]:+.5f}] (95 %, "
                     f"paired bootstrap over queries)")
    return "\n".join(lines)


__all__ = ["compare_runs", "markdown", "STAT_TESTS"]
