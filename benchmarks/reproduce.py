#!/usr/bin/env python
"""Reproduction benchmark: one-shot HyperDPO against multi-run fronts, same backbone, data and evaluation grid.

    python benchmarks/reproduce.py --quick                 # reduced matrix, ~15 min on 2 cores
    python benchmarks/reproduce.py --seeds 5 --out results/full
    python benchmarks/reproduce.py --mslr10k ~/ltr_data/mslr-web10k/Fold1   # paper setting, data_scripts output

Matrix {dataset} x {method} x {seed}. Per (dataset, seed) the reference model is trained once (ListNet) and shared by
every method; single-objective references with other losses and LightGBM LambdaMART give the main-objective bar.

Protocol (stated in results.json and report.md): every method is evaluated on the same dense test grid (K=2: 11
weights on the segment; K>=3: the smallest simplex lattice with >= 50 weights); multi-run methods train M members
(M=11 for K=2; for K>=3 the lattice that fits 15) and answer a query weight with the nearest member, and their
front on their own training weights is reported too; NDCG@10 is ranx ndcg_burges (gain 2^y-1), blank queries
skipped; hypervolume reference point 0. Times are stage-2 training wall/CPU seconds, summed over a multi-run method's
members; the shared reference time is listed apart. One-run methods get at most ``--one-run-budget`` x M x (member
epochs) epochs, so their measured time can be checked against the 0.2x target; every stage-2 training (members and
one-run methods alike) stops after ``--patience`` epochs without a better validation metric and keeps its best epoch.

Writes OUT/results.json, OUT/report.md and OUT/front_<dataset>.png (all fronts of seed 0 overlaid), prints one JSON
line (the target checks) and the markdown summary.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _claims import VARIANTS, honest_targets, parameter_counts  # noqa: E402
from _common import DEFAULT_DATA_ROOT, ROOT, SCORERS, StagedOutput, peak_rss_bytes, reset_peak_rss  # noqa: E402
from _tuning import apply as apply_tuned  # noqa: E402
from _tuning import tune_method  # noqa: E402

from ltr_hyperdpo.config import apply_overrides  # noqa: E402
from ltr_hyperdpo.core.grids import member_grid  # noqa: E402
from ltr_hyperdpo.data.objectives import objectives_to_json  # noqa: E402
from ltr_hyperdpo.data.store import write_table  # noqa: E402
from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives  # noqa: E402
from ltr_hyperdpo.eval.bootstrap import FrontSample  # noqa: E402
from ltr_hyperdpo.eval.front import ndcg_matrix, per_query_ndcg  # noqa: E402
from ltr_hyperdpo.eval.pareto import hypervolume  # noqa: E402
from ltr_hyperdpo.eval.plots import plot_fronts  # noqa: E402
from ltr_hyperdpo.methods import get_method, labels, method_names  # noqa: E402
from ltr_hyperdpo.methods.lambdamart import fit_lambdamart, lambdamart_scores  # noqa: E402
from ltr_hyperdpo.serving import load_run  # noqa: E402
from ltr_hyperdpo.training import DataSummary, RunConfig, load_run_splits, resolve, train  # noqa: E402
from ltr_hyperdpo.utils.io import atomic_write_json  # noqa: E402

METHODS = list(method_names()) + list(VARIANTS)
LABELS = {**labels(), **{k: v[2] for k, v in VARIANTS.items()}}
MAIN_TOLERANCE = 0.005  # main NDCG@10 at e_main may trail the reference's by at most this


#: report sets draw a fresh synthetic ground truth per seed from this task seed on (development used task 0)
REPORT_TASK_SEED = 100


def datasets(a: argparse.Namespace, tmp: Path) -> dict:
    """The sets of ``--sets``: ``report`` (default) on data not used to choose the defaults (a fresh synthetic task
    per seed, ``mslr5_strict``), ``development`` the sets the defaults were chosen on (synthetic task 0, ``mslr5``)."""
    ltr = a.data_root / "ltr"
    out: dict = {}
    report = a.sets == "report"
    if (ltr / "mslr_msn1_fold1_5k").exists():
        d = ltr / "mslr_msn1_fold1_5k"
        five = ("mslr5s_5k", "mslr5_strict") if report else ("mslr5_5k", "mslr5")
        for name, spec in (five, ("mslr3_5k", "mslr3")):
            out[name] = {"train": str(d / "train.txt"), "test": str(d / "test.txt"), "objectives": spec,
                         "vali_fraction": 0.2, "batch_size": 8}
    if (ltr / "mq2008_fold1").exists():
        d = ltr / "mq2008_fold1"
        out["mq2008"] = {"train": str(d / "train.txt"), "vali": str(d / "vali.txt"), "test": str(d / "test.txt"),
                         "objectives": "mq2008", "batch_size": 32}
    for name, corr in (("synth_conflict", -0.5), ("synth_aligned", 0.5)):
        out[name] = {"synthetic": corr, "objectives": objectives_to_json(synth_objectives(40, 2)), "batch_size": 16}
    for name, folder in (("mslr10k", a.mslr10k), ("mslr30k", a.mslr30k)):
        if folder:
            d = Path(folder)
            ext = "parquet" if (d / "train.parquet").exists() else "txt"
            out[name] = {"train": str(d / f"train.{ext}"), "vali": str(d / f"vali.{ext}"),
                         "test": str(d / f"test.{ext}"), "objectives": "mslr5", "batch_size": 32}
    return {k: v for k, v in out.items() if not a.datasets or k in a.datasets}


def materialise(ds: dict, a: argparse.Namespace, seed: int, tmp: Path) -> dict:
    """A set's files for one seed: a synthetic set is drawn here (report sets: a new ground truth and new queries per
    seed; development sets: task 0 and the same queries for every seed)."""
    if "synthetic" not in ds:
        return ds
    corr = ds["synthetic"]
    task = REPORT_TASK_SEED + seed if a.sets == "report" else 0
    base = 3 * (REPORT_TASK_SEED + seed) if a.sets == "report" else 0
    paths = {}
    for split, off, nq in (("train", 0, 300), ("vali", 1, 80), ("test", 2, a.synth_test_queries)):
        p = tmp / f"synth_{corr:+g}_{a.sets}_s{seed}_{split}.arrow"
        write_table(p, make_synthetic(max(8, int(nq * a.synth_scale)), 60, 40, 2, corr, seed=base + off,
                                      task_seed=task))
        paths[split] = str(p)
    return {**{k: v for k, v in ds.items() if k != "synthetic"}, **paths}


def base_config(ds: dict, a: argparse.Namespace, seed: int) -> dict:
    data = {k: v for k, v in ds.items() if k != "batch_size"}
    cfg = {"data": {**data, "batch_size": ds["batch_size"], "slate_length": 120},
           "model": dict(SCORERS[a.scorer]),
           "reference": {"epochs": a.ref_epochs, "lr": 2e-3, "patience": 8},
           "hyperdpo": {"epochs": a.epochs, "lr": 2e-3, "beta": 0.5, "patience": a.patience or a.epochs},
           "eval": {"ks": [10, 5], "grid_method": "lattice"},
           "seed": seed, "progress": False, "threads": a.threads}
    return apply_overrides(cfg, a.set)


def plan_diff(cfg_dict: dict, n_features: int, n_objectives: int) -> list[str]:
    """The protocol as a plan diff: every resolved setting of ``cfg_dict``'s plan that differs from the plan of the
    toolkit's defaults on the same data (split paths and sizes left out), as ``key: default -> value``."""
    def flat(d: dict, prefix: str = "") -> dict:
        out: dict = {}
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else k
            out.update(flat(v, key) if isinstance(v, dict) else {key: v})
        return out

    summary = DataSummary(train="train", vali=None, test=None, n_features=n_features, n_objectives=n_objectives)
    ours = flat(resolve(RunConfig.from_dict(cfg_dict), summary).to_dict())
    base = flat(resolve(RunConfig.from_dict({"method": cfg_dict.get("method", "hyperdpo")}), summary).to_dict())
    skip = ("data.train", "data.vali", "data.test", "data.objectives", "data.objective_names", "auto",
            "reference.checkpoint")
    return [f"{k}: {base.get(k)} -> {v}" for k, v in ours.items()
            if k not in skip and not k.endswith("weights") and base.get(k) != v]


def one_run_epochs(a: argparse.Namespace, n_objectives: int) -> int:
    """Epochs of a one-run method: the budget share of the M member-trainings of a multi-run method."""
    if a.one_run_epochs:
        return a.one_run_epochs
    return max(1, int(round(a.one_run_budget * len(member_grid(n_objectives)) * a.epochs)))


def run_cell(cfg_dict: dict, run_dir: Path, splits: tuple, samples: dict) -> dict:
    """Train one (method, seed) cell; ``samples`` receives its per-query NDCG@10 on the dense grid and at the
    members' weights (for the paired query bootstrap)."""
    reset_peak_rss()
    res = train(RunConfig.from_dict(cfg_dict), run_dir, splits=splits)
    te = splits[2]
    run = load_run(run_dir)
    dense = np.array([p["w"] for p in res.front["points"]])
    own = member_grid(te.n_objectives)
    samples["dense"] = FrontSample(*per_query_ndcg(run.ranker, te, dense))
    samples["members"] = FrontSample(*per_query_ndcg(run.ranker, te, own))
    f = res.front
    pts = np.array([p["ndcg@10"] for p in f["points"]])
    w = np.array([p["w"] for p in f["points"]])
    e_main = int(np.argmax(w[:, 0] - 1e-9 * np.arange(len(w))))
    cell = {"hypervolume": f["hypervolume"], "points": pts.tolist(), "weights": w.tolist(), "grid": f["grid"],
            "main_ndcg10_at_e_main": float(pts[e_main, 0]), "reference_ndcg10": f["reference"]["ndcg@10"],
            "wall_s": res.method_seconds, "cpu_s": res.method_cpu_seconds, "reference_wall_s": res.reference_seconds,
            "peak_mem_mb": peak_rss_bytes() / 1e6, "val_hypervolume": res.best_val_hypervolume,
            "blank_queries": f["blank_queries"], "epochs": cfg_dict["hyperdpo"]["epochs"],
            "hypervolume_on_member_weights": float(hypervolume(samples["members"].values.mean(
                axis=2, where=~samples["members"].blank[None]))), "parameters": parameter_counts(run)}
    if "members" in f:
        cell["members"] = f["members"]
    return cell


def single_objective_bars(ds: dict, a: argparse.Namespace, seed: int, splits: tuple, work: Path) -> dict:
    """Main-objective test NDCG@10 of references trained with each single-objective loss, and of LambdaMART."""
    tr, va, te = splits
    out = {}
    for loss in a.ref_losses:
        c = base_config(ds, a, seed)
        c["reference"]["loss"] = loss
        c["method"] = "reference"
        t = time.perf_counter()
        r = train(RunConfig.from_dict(c), work / f"ref_{loss}", splits=splits)
        out[f"neural_{loss}"] = {"ndcg10": r.front["reference"]["ndcg@10"], "wall_s": time.perf_counter() - t}
    t = time.perf_counter()
    m = fit_lambdamart(tr, va, seed=seed)
    res = ndcg_matrix(te, lambdamart_scores(m, te), (10,))
    out["lightgbm_lambdamart"] = {"ndcg10": res["ndcg@10"].tolist(), "wall_s": time.perf_counter() - t}
    return out


def mean_std(v: list) -> tuple[float, float]:
    x = np.asarray(v, dtype=float)
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def paired_ratio(a: list, b: list) -> dict:
    """Per-seed ratios a_s / b_s (same seed: same splits and reference), their mean and a 95 % t-interval: a target
    missed with an interval above 1, or met with one below, is within the seed-to-seed noise."""
    r = np.asarray(a, dtype=float) / np.asarray(b, dtype=float)
    out = {"per_seed": [round(float(x), 5) for x in r], "mean": float(r.mean())}
    if r.size > 1:
        half = float(stats.t.ppf(0.975, r.size - 1) * r.std(ddof=1) / np.sqrt(r.size))
        out["ci95"] = [float(r.mean()) - half, float(r.mean()) + half]
    return out


def targets(rows: dict, bars: dict, ref_main: float, per_seed_hv: dict | None = None) -> dict:
    """The three targets of the quality issue, for one dataset (means over seeds); with ``per_seed_hv`` (method ->
    HV per seed) also the paired per-seed HV ratios with their 95 % intervals."""
    h, ls, soup = rows["hyperdpo"], rows.get("dpo_ls"), rows.get("dpo_soup")
    neural = [v[0] for k, v in bars.items() if k.startswith("neural_")]
    c: dict = {}
    if ls:
        c["hv_ratio_vs_dpo_ls"] = h["hypervolume"][0] / ls["hypervolume"][0]
        c["time_ratio_vs_dpo_ls"] = h["wall_s"][0] / ls["wall_s"][0]
    if soup:
        c["hv_ratio_vs_dpo_soup"] = h["hypervolume"][0] / soup["hypervolume"][0]
    for name in ("dpo_ls", "dpo_soup"):
        if per_seed_hv and name in per_seed_hv:
            c[f"hv_ratio_vs_{name}_paired"] = paired_ratio(per_seed_hv["hyperdpo"], per_seed_hv[name])
    if ls and soup:
        c["target1_hv>=dpo_ls_and_soup_at<=0.2x_time"] = bool(c["hv_ratio_vs_dpo_ls"] >= 1.0
                                                              and c["hv_ratio_vs_dpo_soup"] >= 1.0
                                                              and c["time_ratio_vs_dpo_ls"] <= 0.2)
    c["main_at_e_main_minus_reference"] = h["main_ndcg10_at_e_main"][0] - ref_main
    c["target2_main>=reference-0.005"] = bool(c["main_at_e_main_minus_reference"] >= -MAIN_TOLERANCE)
    if neural:
        c["main_ratio_vs_best_neural"] = h["main_ndcg10_at_e_main"][0] / max(neural)
        c["target3_main>=0.98x_best_neural"] = bool(c["main_ratio_vs_best_neural"] >= 0.98)
    return c


def summarise(results: dict) -> tuple[dict, str, dict]:
    """Per dataset and method: mean ± std of every figure; the normalised HV; the target checks."""
    summary, lines, checks = {}, [], {}
    for dname, dres in results.items():
        seeds = sorted(dres["seeds"])
        # normalisation: per seed, the ideal point = best NDCG@10 per objective over all methods' points
        ideal = {s: np.max(np.vstack([np.asarray(dres["seeds"][s]["methods"][m]["points"])
                                      for m in dres["seeds"][s]["methods"]]), axis=0) for s in seeds}
        rows = {}
        for m in dres["seeds"][seeds[0]]["methods"]:
            cells = [dres["seeds"][s]["methods"][m] for s in seeds]
            nhv = [c["hypervolume"] / float(np.prod(ideal[s])) for c, s in zip(cells, seeds, strict=True)]
            rows[m] = {k: mean_std([c[k] for c in cells]) for k in
                       ("hypervolume", "main_ndcg10_at_e_main", "wall_s", "cpu_s", "peak_mem_mb")}
            rows[m]["hypervolume_normalised"] = mean_std(nhv)
            rows[m]["ndcg10_per_weight"] = np.mean([c["points"] for c in cells], axis=0).tolist()
            rows[m]["epochs"] = cells[0]["epochs"] if m != "reference" else 0
            if "members" in cells[0]:
                rows[m]["M"] = cells[0]["members"]["M"]
                rows[m]["hypervolume_on_training_weights"] = mean_std(
                    [c["members"]["hypervolume_on_training_weights"] for c in cells])
        bars = {b: mean_std([dres["seeds"][s]["bars"][b]["ndcg10"][0] for s in seeds])
                for b in dres["seeds"][seeds[0]]["bars"]}
        ref_time = mean_std([dres["seeds"][s]["methods"]["hyperdpo"]["reference_wall_s"] for s in seeds])
        grid = dres["seeds"][seeds[0]]["methods"]["hyperdpo"]["grid"]
        summary[dname] = {"methods": rows, "single_objective": bars, "reference_wall_s": ref_time,
                          "objectives": dres["objectives"], "n_seeds": len(seeds), "test_grid": grid}
        per_seed_hv = {m: [dres["seeds"][s]["methods"][m]["hypervolume"] for s in seeds] for m in rows}
        checks[dname] = c = targets(rows, bars, rows["reference"]["main_ndcg10_at_e_main"][0], per_seed_hv)
        lines.append(f"### {dname} (objectives: {', '.join(dres['objectives'])}; {len(seeds)} seeds, mean ± std)\n")
        lines.append(f"Test grid: {grid['kind']}, {grid['points']} weights"
                     + (f" (resolution {grid['resolution']})" if "resolution" in grid else "") + ".\n")
        lines.append("| method | stage-2 epochs | hypervolume (dense grid) | HV on own training weights "
                     "| normalised HV | NDCG@10 main at e_main | train wall s | train CPU s | peak RSS MB |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for m, r in rows.items():
            def f(k: str, d: int = 4, r: dict = r) -> str:
                return f"{r[k][0]:.{d}g} ± {r[k][1]:.2g}"
            own = f"{f('hypervolume_on_training_weights')} (M={r['M']})" if "M" in r else ""
            lines.append(f"| {LABELS.get(m, m)} | {r['epochs']}{' per member' if 'M' in r else ''} | "
                         f"{f('hypervolume')} | {own} | {f('hypervolume_normalised')} | "
                         f"{f('main_ndcg10_at_e_main')} | {f('wall_s', 3)} | {f('cpu_s', 3)} | {f('peak_mem_mb', 3)} |")
        for b, v in bars.items():
            lines.append(f"| {b} (single objective) | | | | | {v[0]:.4g} ± {v[1]:.2g} | | | |")
        lines.append(f"\nshared reference training: {ref_time[0]:.3g} ± {ref_time[1]:.2g} s. Targets: "
                     + ", ".join(f"{k} = {v if isinstance(v, bool) else round(v, 4)}" for k, v in c.items()
                                 if not isinstance(v, dict)) + "\n")
        for k, v in c.items():
            if isinstance(v, dict):
                ci = f", 95 % interval [{v['ci95'][0]:.4f}, {v['ci95'][1]:.4f}]" if "ci95" in v else ""
                each = ", ".join(f"{x:.4f}" for x in v["per_seed"])
                lines.append(f"{k}: mean {v['mean']:.4f}{ci}; per seed {each}\n")
    return summary, "\n".join(lines), checks


def plot(results: dict, out: Path) -> None:
    for dname, dres in results.items():
        s0 = dres["seeds"][sorted(dres["seeds"])[0]]
        fronts = {LABELS.get(m, m): np.asarray(c["points"]) for m, c in s0["methods"].items() if m != "reference"}
        ref = np.asarray(s0["methods"]["hyperdpo"]["reference_ndcg10"])
        pts = {"LightGBM LambdaMART": np.asarray(s0["bars"]["lightgbm_lambdamart"]["ndcg10"])}
        plot_fronts(fronts, dres["objectives"], out / f"front_{dname}.png", reference=ref, points=pts,
                    title=f"{dname}: test fronts (seed {sorted(dres['seeds'])[0]})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="reduced matrix (~15 min on 2 cores)")
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="the shared data folder")
    ap.add_argument("--mslr10k", help="a converted MSLR-WEB10K fold directory (data_scripts output)")
    ap.add_argument("--mslr30k", help="a converted MSLR-WEB30K fold directory (data_scripts output)")
    ap.add_argument("--datasets", nargs="*", help="run only these datasets")
    ap.add_argument("--methods", nargs="*", default=METHODS, help="methods to compare")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per dataset")
    ap.add_argument("--epochs", type=int, help="stage-2 epochs of each multi-run member")
    ap.add_argument("--ref-epochs", type=int, help="reference epochs")
    ap.add_argument("--ref-losses", nargs="*", help="single-objective losses for the main-objective bar")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--scorer", choices=sorted(SCORERS), default="mlp",
                    help="the scorer every method trains: mlp [128, 64], or a 2-layer transformer (hyper prompts for "
                         "the one-shot model; the equal-capacity variant hyperdpo_lean is an MLP variant and is "
                         "left out)")
    ap.add_argument("--synth-scale", type=float, default=1.0,
                    help="scale the synthetic sets' query counts (the test suite's smoke run uses 0.2)")
    ap.add_argument("--synth-test-queries", type=int, default=600,
                    help="test queries of each synthetic set (600: a seed's HV noise, about ±0.1 %%, is below the "
                         "differences compared; 120 gave about ±0.3 %%)")
    ap.add_argument("--patience", type=int, default=0,
                    help="early-stopping patience (epochs without a better validation metric) of every stage-2 "
                         "training, members and one-run methods alike; 0 = train every epoch")
    ap.add_argument("--one-run-budget", type=float, default=0.10,
                    help="one-run methods get at most this x M x member epochs (the 0.2x time target)")
    ap.add_argument("--one-run-epochs", type=int, help="fixed stage-2 epochs of the one-run methods instead")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value for every cell (every method alike)")
    ap.add_argument("--sets", choices=["report", "development"], default="report",
                    help="report (default): sets not used to choose the defaults (a fresh synthetic ground truth per "
                         "seed, mslr5_strict); development: the sets the defaults were chosen on (synthetic task 0, "
                         "mslr5)")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap replicates of the paired HV intervals")
    ap.add_argument("--tune", type=int, default=0, metavar="N",
                    help="give every method N Optuna trials over its own knobs on the validation hypervolume "
                         "(benchmarks/_tuning.py), then train the chosen configuration for the reported seeds")
    ap.add_argument("--tune-seed", type=int, default=0, help="the TPE sampler's seed")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "reproduce",
                    help="output directory, written whole when the run ends (an earlier output of this script there "
                         "is replaced; a folder holding other files is refused)")
    a = ap.parse_args(argv)
    if a.synth_test_queries < 1:
        ap.error(f"--synth-test-queries must be >= 1, got {a.synth_test_queries}")
    a.epochs = a.epochs or (15 if a.quick else 40)
    a.ref_epochs = a.ref_epochs or (20 if a.quick else 40)
    a.ref_losses = a.ref_losses or (["listnet", "lambdaloss_ndcg2pp"] if a.quick else
                                    ["listnet", "listmle", "ranknet", "lambdaloss_ndcg2pp", "lambdaloss_lambdarank",
                                     "approxndcg", "neuralndcg"])
    if "hyperdpo" not in a.methods:
        a.methods = ["hyperdpo"] + a.methods
    if a.scorer != "mlp":
        a.methods = [m for m in a.methods if m not in VARIANTS]
    staged = StagedOutput(a.out, "reproduce.py")  # refuses a foreign non-empty --out before any training
    t0 = time.perf_counter()
    results: dict = {}
    samples: dict = {}  # dataset -> method -> seed -> {"dense"/"members": FrontSample}: the query bootstrap's input
    tuned: dict = {}  # dataset -> method -> the chosen values of --tune
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for dname, ds_any in datasets(a, tmp).items():
            dres: dict = {"seeds": {}, "objectives": None}
            samples[dname] = {}
            for seed in range(a.seeds):
                ds = materialise(ds_any, a, seed, tmp)
                splits = load_run_splits(RunConfig.from_dict(base_config(ds, a, seed)))
                dres["objectives"] = splits[0].objective_names
                work = tmp / f"{dname}_s{seed}"
                ref_dir = work / "ref"
                cells = {}
                if seed == 0:
                    dres["protocol"] = plan_diff(base_config(ds, a, 0), splits[0].n_features,
                                                 splits[0].n_objectives)
                def cfg_for(m: str, s: int, ds: dict = ds, ref_dir: Path = ref_dir, k: int = splits[0].n_objectives
                            ) -> dict:
                    c = base_config(ds, a, s)
                    name, overrides, _ = VARIANTS.get(m, (m, {}, m))
                    c["method"] = name
                    apply_overrides(c, [f"{k}={v}" for k, v in overrides.items()])
                    if m != "reference" and not get_method(name).multi_run:
                        c["hyperdpo"]["epochs"] = one_run_epochs(a, k)
                        c["hyperdpo"]["patience"] = a.patience or c["hyperdpo"]["epochs"]
                    if m != "reference":
                        c["reference"]["checkpoint"] = str(ref_dir / "reference.pt")
                    return c

                for m in ["reference"] + [x for x in a.methods if x != "reference"]:
                    if m != "reference" and a.tune and m not in tuned.setdefault(dname, {}):
                        base_m, fixed, _ = VARIANTS.get(m, (m, {}, m))
                        tuned[dname][m] = tune_method(base_m, get_method(base_m).multi_run,
                                                      lambda s, m=m: cfg_for(m, s), splits, work / "tune" / m, a.tune,
                                                      seed=a.tune_seed, fixed=fixed)
                        print(f"[{time.perf_counter() - t0:6.0f}s] {dname} {m} tuned ({a.tune} trials): "
                              f"{tuned[dname][m]['chosen']}, validation HV {tuned[dname][m]['val_hypervolume']:.4g}",
                              file=sys.stderr)
                    c = cfg_for(m, seed)
                    if m in tuned.get(dname, {}):
                        c = apply_tuned(c, tuned[dname][m]["chosen"])
                    cell_samples = samples[dname].setdefault(m, {}).setdefault(seed, {})
                    cells[m] = run_cell(c, ref_dir if m == "reference" else work / m, splits, cell_samples)
                    if m != "reference":
                        cells[m]["reference_wall_s"] = cells["reference"]["reference_wall_s"]
                    print(f"[{time.perf_counter() - t0:6.0f}s] {dname} seed {seed} {m}: HV "
                          f"{cells[m]['hypervolume']:.4g}, main {cells[m]['main_ndcg10_at_e_main']:.4f}, "
                          f"{cells[m]['wall_s']:.1f}s", file=sys.stderr)
                bars = single_objective_bars(ds, a, seed, splits, work)
                dres["seeds"][seed] = {"methods": cells, "bars": bars}
                shutil.rmtree(work, ignore_errors=True)
            results[dname] = dres
    summary, md, checks = summarise(results)
    for dname, lines in honest_targets(results, samples, a.boot).items():
        checks[dname]["claims"] = lines["claims"]
        md += "\n" + lines["markdown"]
        if dname in tuned:
            checks[dname]["tuned"] = tuned[dname]
            md += (f"\nEqual tuning: {a.tune} trials per method on {dname}'s validation hypervolume; chosen: "
                   + "; ".join(f"{LABELS.get(m, m)} {v['chosen']} (validation HV {v['val_hypervolume']:.4g})"
                               for m, v in tuned[dname].items()) + "\n")
    plot(results, staged.path)
    stopping = (f"early stopping after {a.patience} epochs without a better validation metric (every stage-2 "
                f"training alike, the best epoch kept)" if a.patience else "no early stopping (the best epoch kept)")
    header = (f"# HyperDPO reproduction ({'quick' if a.quick else 'full'})\n\n"
              f"Stage-2 epochs {a.epochs} per multi-run member; one-run methods "
              f"{a.one_run_epochs or f'{a.one_run_budget:g} x M x {a.epochs}'} epochs at most; "
              f"{stopping}; "
              f"reference epochs {a.ref_epochs}; every stage-2 training at lr 2e-3 and beta 0.5"
              f"{f' unless --tune {a.tune} chose otherwise (each set: Equal tuning, below)' if a.tune else ''}; "
              f"scorer {SCORERS[a.scorer]}; synthetic sets of 300/80/{a.synth_test_queries} train/vali/test queries "
              f"(x {a.synth_scale:g}). Every method on the same dense test grid (K=2: 11 weights on the segment; K>=3: "
              f"the smallest simplex lattice with >= 50 weights); multi-run methods train M members (11 for K=2, the "
              f"lattice that fits 15 for K>=3) and answer a weight with the nearest member. NDCG@10 (ranx "
              f"ndcg_burges, gain 2^y-1, blank queries skipped); hypervolume reference point 0 (normalised: divided "
              f"by the HV of the per-seed ideal point); time ratios are stage 2 of one run against all M member runs; "
              f"peak RSS is the benchmark process's during the cell (libraries included)."
              f"{' Overrides: ' + ', '.join(a.set) + '.' if a.set else ''}"
              f" Every setting below applies to every method alike; the one-run methods differ only in their epoch "
              f"budget (above). Total benchmark time {time.perf_counter() - t0:.0f}s.\n\n"
              + "".join(f"Protocol of {d} (the plan's differences from the defaults, `key: default -> value`): "
                        + "; ".join(r.get("protocol", [])) + ".\n\n" for d, r in results.items()))
    (staged.path / "report.md").write_text(header + md + "\n")
    atomic_write_json(staged.path / "results.json", {"config": {k: str(v) if isinstance(v, Path) else v
                                                          for k, v in vars(a).items()},
                                               "summary": summary, "targets": checks, "raw": results})
    staged.publish()
    print(json.dumps({"targets": checks, "seconds": round(time.perf_counter() - t0, 1)}))
    print()
    print(header + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
