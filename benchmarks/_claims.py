"""reproduce.py's claims by intervals: paired bootstrap HV ratios against every baseline (dense grid and the members'
own weights) with verdicts, win rates in scalarised utility, time ratios, parameter counts."""
from __future__ import annotations

import numpy as np
from scipy import stats

from ltr_hyperdpo.core.grids import member_grid
from ltr_hyperdpo.eval.bootstrap import paired_hv_ratio
from ltr_hyperdpo.methods import labels

#: one-shot variants run as methods of their own: name -> (method, dotted-key overrides, label). ``hyperdpo_lean``
#: is the one-shot model without its per-objective output towers (linear heads): the equal-capacity comparison (the
#: report prints every method's parameter count and its ratio to one DPO-LS member's).
VARIANTS = {"hyperdpo_lean": ("hyperdpo", {"model.head_hidden": 0}, "HyperDPO, linear heads (equal capacity)")}
LABELS = {**labels(), **{k: v[2] for k, v in VARIANTS.items()}}


def parameter_counts(run) -> dict:
    """Trainable parameters of the model a query is scored by (one-model methods: the conditioned model; multi-run:
    one member, and all members together)."""
    r = run.ranker
    if hasattr(r, "policy"):
        n = sum(p.numel() for p in r.policy.parameters())
        return {"model": n, "total": n}
    models = getattr(r, "models", None) or getattr(r, "experts", None)
    if models:
        one = sum(p.numel() for p in models[0].parameters())
        return {"model": one, "total": one * len(models)}
    n = sum(p.numel() for p in run.ranker.reference.parameters())
    return {"model": n, "total": n}


BASELINES = ("dpo_ls", "dpo_soup", "modpo", "cosmos")
#: the one-shot models the claims are made for: the default, and the equal-capacity variant of reproduce.py
ONE_SHOT = ("hyperdpo", "hyperdpo_lean")


def win_rates(one: dict, other: dict, members: np.ndarray) -> dict:
    """Share of the dense grid's weights where ``one``'s scalarised utility w·NDCG@10 beats ``other``'s (ties count
    half), split into the weights that are members' training weights and the others."""
    w = np.asarray(one["weights"])
    u1 = (w * np.asarray(one["points"])).sum(1)
    u2 = (w * np.asarray(other["points"])).sum(1)
    score = np.where(u1 > u2 + 1e-12, 1.0, np.where(u1 < u2 - 1e-12, 0.0, 0.5))
    on = np.array([np.isclose(members, x, atol=1e-9).all(1).any() for x in w])
    return {"on_member": float(score[on].mean()) if on.any() else float("nan"),
            "off_member": float(score[~on].mean()) if (~on).any() else float("nan"), "n_on": int(on.sum()),
            "n_off": int((~on).sum())}


def vertex_margins(cell: dict) -> np.ndarray:
    """Per objective k, NDCG@10 of objective k at its own vertex e_k minus the best of it at the other vertices
    (> 0: the model is steerable to k there). Shape ``[objectives]``; the cell's dense grid holds every vertex."""
    w = np.asarray(cell["weights"])
    points = np.asarray(cell["points"])
    k = w.shape[1]
    at_vertex = np.stack([points[int(np.flatnonzero(np.isclose(w[:, j], 1.0))[0])] for j in range(k)])
    return np.array([at_vertex[j, j] - np.delete(at_vertex[:, j], j).max() for j in range(k)])


def vertex_table(cells: dict, objectives: list[str]) -> tuple[dict, list[str]]:
    """Steerability at the vertices, per method and objective: the number of seeds where the objective's NDCG@10 at
    its own vertex is above its NDCG@10 at every other vertex, the mean margin over seeds and its 95 % Student t
    interval over seeds (``verdict``: ``above`` when the interval is above 0, ``below`` when under it, else ``tie``).
    A dedicated DPO-LS member failing it means the data, not the one-shot model, ties that objective to another."""
    out: dict = {}
    lines = ["\nSteerability at the vertices (seeds where objective k's NDCG@10 at e_k is above it at every other "
             "vertex / seeds; mean margin [95 % t interval over seeds]):\n", "| method | " + " | ".join(objectives)
             + " |", "|---|" + "---|" * len(objectives)]
    for m, runs in cells.items():
        if m == "reference":
            continue
        margins = np.stack([vertex_margins(c) for c in runs])  # [seeds, objectives]
        wins = (margins > 0).sum(0)
        mean = margins.mean(0)
        n = len(runs)
        half = (stats.t.ppf(0.975, n - 1) * margins.std(0, ddof=1) / np.sqrt(n) if n > 1
                else np.full_like(mean, np.inf))
        low, high = mean - half, mean + half
        verdicts = ["above" if lo > 0 else "below" if hi < 0 else "tie" for lo, hi in zip(low, high, strict=True)]
        out[m] = {"seeds_above": wins.tolist(), "mean_margin": mean.tolist(), "n_seeds": n,
                  "ci95": [[float(lo), float(hi)] for lo, hi in zip(low, high, strict=True)], "verdict": verdicts}
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(
            f"{int(w)}/{n}; {g:+.4f} [{lo:+.4f}, {hi:+.4f}] {v}"
            for w, g, lo, hi, v in zip(wins, mean, low, high, verdicts, strict=True)) + " |")
    return out, lines


def honest_targets(results: dict, samples: dict, n_boot: int) -> dict:
    """Per set: HV ratios of the one-shot model against every baseline on the dense grid and at the members' own
    weights with paired 95 % intervals (bootstrap over seeds and test queries) and a verdict (met: the estimate at
    the bar and the lower bound at its floor; tie: the interval spans it; missed), win rates in w·NDCG against
    DPO-LS, time against every baseline (with and without the shared reference), steerability at the vertices,
    parameter counts."""
    out = {}
    for dname, dres in results.items():
        seeds = sorted(dres["seeds"])
        cells = {m: [dres["seeds"][s]["methods"][m] for s in seeds] for m in dres["seeds"][seeds[0]]["methods"]}
        smp = samples[dname]
        k = len(dres["objectives"])
        claims: dict = {}
        lines = [f"#### {dname}: claims by intervals ({len(seeds)} seeds, {n_boot} paired bootstrap replicates "
                 f"over seeds and test queries)\n",
                 "| one-shot | against | HV ratio, dense grid [95 %] | verdict (bar 1.0) | HV ratio at the members' "
                 "weights [95 %] | verdict (1.0, floor 0.98) | time ratio | time ratio, reference counted |",
                 "|---|---|---|---|---|---|---|---|"]
        for one in (o for o in ONE_SHOT if o in cells):
            for base in (b for b in BASELINES if b in cells):
                dense = paired_hv_ratio([smp[one][s]["dense"] for s in seeds],
                                        [smp[base][s]["dense"] for s in seeds], n_boot=n_boot, seed=1)
                own = paired_hv_ratio([smp[one][s]["members"] for s in seeds],
                                      [smp[base][s]["members"] for s in seeds], n_boot=n_boot, seed=2)
                t_h = np.mean([c["wall_s"] for c in cells[one]])
                t_b = np.mean([c["wall_s"] for c in cells[base]])
                t_ref = np.mean([c["reference_wall_s"] for c in cells[one]])
                claim = {"hv_dense": {**dense.to_dict(), "verdict": dense.verdict(1.0)},
                         "hv_members": {**own.to_dict(), "verdict": own.verdict(1.0, 0.98)},
                         "time_ratio": t_h / t_b, "time_ratio_with_reference": (t_h + t_ref) / (t_b + t_ref)}
                claims[base if one == "hyperdpo" else f"{one}:{base}"] = claim
                lines.append(f"| {LABELS.get(one, one)} | {LABELS.get(base, base)} | {dense.mean:.4f} "
                             f"[{dense.low:.4f}, {dense.high:.4f}] | {dense.verdict(1.0)} | {own.mean:.4f} "
                             f"[{own.low:.4f}, {own.high:.4f}] | {own.verdict(1.0, 0.98)} | {t_h / t_b:.3f} | "
                             f"{(t_h + t_ref) / (t_b + t_ref):.3f} |")
        if "dpo_ls" in cells:
            rates = [win_rates(h, ls, member_grid(k)) for h, ls in zip(cells["hyperdpo"], cells["dpo_ls"],
                                                                        strict=True)]
            claims["win_rate_vs_dpo_ls"] = {key: float(np.mean([r[key] for r in rates]))
                                            for key in ("on_member", "off_member")}
            lines.append(f"\nWin rate in w·NDCG@10 against DPO-LS (its nearest member answering), mean over seeds: "
                         f"{claims['win_rate_vs_dpo_ls']['on_member']:.2f} at the {rates[0]['n_on']} grid weights "
                         f"that are members' weights, {claims['win_rate_vs_dpo_ls']['off_member']:.2f} at the "
                         f"{rates[0]['n_off']} others.")
        claims["vertices"], vlines = vertex_table(cells, dres["objectives"])
        lines += vlines
        params = {m: cells[m][0]["parameters"] for m in cells}
        claims["parameters"] = params
        member = params.get("dpo_ls", params.get("reference"))["model"]
        lines.append("\nParameters (the model that scores a query, its ratio to one DPO-LS member; all models of a "
                     "method): " + ", ".join(f"{LABELS.get(m, m)} {v['model']:,} ({v['model'] / member:.2f}x; "
                                              f"{v['total']:,})" for m, v in params.items()) + "\n")
        out[dname] = {"claims": claims, "markdown": "\n".join(lines)}
    return out


