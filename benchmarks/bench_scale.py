#!/usr/bin/env python
"""Scale benchmark on an MSLR-WEB10K-shaped file: conversion, memory, load time, epochs, front, two processes.

    python benchmarks/bench_scale.py [--queries 10000] [--test-queries 1000] [--cache benchmarks/.cache]
                                     [--sklearn-rows 100000] [--skip-torchrun]

Data: a seeded MSLR-WEB10K-shaped LETOR text file (about 1.2M documents, 10k queries, 136 features; objectives by
preset ``mslr5``) and a test file, generated once into ``--cache`` (``benchmarks/_scale_data.py``). Every
measurement runs in a fresh process (``--child``), so peak RSS is that command's own:

* ``convert`` to Arrow with ``--workers 1`` and ``--workers 2`` and to Parquet: seconds, MB/s, peak RSS above the
  start-up of the same command on a tiny file, relative to the dense float32 output;
* ``sklearn.datasets.load_svmlight_file`` against our convert on the first ``--sklearn-rows`` lines (sklearn on
  the whole file takes ~12 minutes: the per-MB rates are compared on the same subset);
* training from the Arrow file (stage 1 and stage 2, one epoch each): the data load against re-opening the file
  plus the normaliser fit, seconds per epoch, peak RSS above start-up / dense (VmHWM, which counts the
  memory-mapped file's clean pages, and the anonymous part alone, sampled);
* the test front on >= 50 weights (K = 5: a lattice of 70), seconds per weight against one stage-2 epoch;
* the same training under ``torchrun --nproc-per-node 2`` (one thread each) against one process with two threads.

Prints one JSON line and a markdown table with the targets of the scale issue, and a WEB30K extrapolation.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, AnonPeak, emit, peak_rss_bytes, rss_bytes  # noqa: E402
from _scale_data import ensure_files  # noqa: E402

WEB30K_DOCS = 3_771_125


# children ------------------------------------------------------------------------------------------------------
def child_convert(args: list[str]) -> dict:
    from ltr_hyperdpo.cli import main

    start = rss_bytes()
    t = time.perf_counter()
    rc = main(["convert", *args, "--quiet"])
    seconds = time.perf_counter() - t
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the largest worker process
    return {"rc": rc, "seconds": seconds, "start_rss": start, "peak_rss": peak_rss_bytes(), "worker_peak_rss": kids}


def child_sklearn(path: str) -> dict:
    from sklearn.datasets import load_svmlight_file

    t = time.perf_counter()
    load_svmlight_file(path, query_id=True)
    return {"seconds": time.perf_counter() - t, "peak_rss": peak_rss_bytes()}


def child_reopen(cfg_path: str) -> dict:
    """Re-open the converted file and fit the normaliser alone (its own process, so the train child's peak RSS is
    the training's, not this copy's)."""
    from ltr_hyperdpo.data.normalize import FeatureNormalizer
    from ltr_hyperdpo.data.objectives import input_columns
    from ltr_hyperdpo.data.store import open_table
    from ltr_hyperdpo.data.tables import table_arrays
    from ltr_hyperdpo.training import RunConfig, load_run_splits

    cfg = RunConfig.load(cfg_path)
    tr, _, _ = load_run_splits(cfg)
    t = time.perf_counter()
    _, _, x = table_arrays(open_table(cfg.data.train))
    reopen_s = time.perf_counter() - t
    del x
    cols = input_columns(tr.state.objectives, tr.source.width, tr.state.drop_features)
    t = time.perf_counter()
    FeatureNormalizer().fit_blocks(lambda: tr.source.blocks(tr.rows), tr.source.width, columns=cols)
    return {"reopen_s": reopen_s, "normaliser_fit_s": time.perf_counter() - t}


def child_train(cfg_path: str, test_path: str, out: str, grid: int) -> dict:
    import numpy as np

    import ltr_hyperdpo.eval.front as front_mod
    from ltr_hyperdpo.core.grids import weight_grid
    from ltr_hyperdpo.eval.front import evaluate_front
    from ltr_hyperdpo.runs.rundir import set_threads
    from ltr_hyperdpo.serving import load_run
    from ltr_hyperdpo.training import RunConfig, load_run_splits, train

    cfg = RunConfig.load(cfg_path)
    set_threads(cfg.threads)
    start = rss_bytes()
    start_anon = AnonPeak.read()
    anon = AnonPeak()
    t = time.perf_counter()
    tr, va, _ = load_run_splits(cfg)
    load_s = time.perf_counter() - t
    peak_after_load = peak_rss_bytes()
    dense = tr.source.n_rows * tr.source.width * 4
    res = train(cfg, out, splits=(tr, va, None))
    peak_after_train = peak_rss_bytes()
    anon_after_train = anon.stop()
    log = [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines()]
    epochs = {r["stage"]: r["epoch_seconds"] for r in log}
    run = load_run(out)
    te = __import__("ltr_hyperdpo").RankingDataset.load(test_path, state=run.state)
    weights = weight_grid(te.n_objectives, grid)
    metric_s = [0.0]
    ndcg_grid = front_mod.ndcg_grid

    def timed_ndcg_grid(*args, **kwargs):  # the metric part of the front, apart from scoring
        t0 = time.perf_counter()
        try:
            return ndcg_grid(*args, **kwargs)
        finally:
            metric_s[0] += time.perf_counter() - t0

    front_mod.ndcg_grid = timed_ndcg_grid
    t = time.perf_counter()
    fr = evaluate_front(run.ranker, te, weights)
    front_s = time.perf_counter() - t
    return {"load_s": load_s, "dense_bytes": dense,
            "start_rss": start, "peak_rss_load": peak_after_load, "peak_rss_train": peak_after_train,
            "peak_rss_front": peak_rss_bytes(), "start_anon": start_anon, "peak_anon_train": anon_after_train,
            "epoch_seconds": epochs, "method_seconds": res.method_seconds, "front_seconds": front_s,
            "front_metric_seconds": metric_s[0], "n_ks": 2,
            "front_weights": int(len(weights)), "test_docs": te.n_docs, "hypervolume": fr.hypervolume,
            "train_docs": tr.n_docs, "objectives": tr.objective_names, "n_features": tr.n_features,
            "front_points_finite": bool(np.all(np.isfinite(fr.points)))}


CHILDREN = {"convert": lambda a: child_convert(a), "sklearn": lambda a: child_sklearn(a[0]),
            "train": lambda a: child_train(a[0], a[1], a[2], int(a[3])), "reopen": lambda a: child_reopen(a[0])}


def run_child(name: str, *args: str, env: dict | None = None) -> dict:
    p = subprocess.run([sys.executable, __file__, "--child", name, *args], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, **(env or {})})
    if p.returncode != 0:
        raise SystemExit(f"bench_scale: child {name} failed:\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# the benchmark -------------------------------------------------------------------------------------------------
def head_lines(src: Path, dst: Path, n: int) -> None:
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        for i, line in enumerate(fi):
            if i >= n:
                break
            fo.write(line)


def train_config(train: Path, out: Path, threads: int) -> Path:
    cfg = {"data": {"train": str(train), "objectives": "mslr5", "batch_size": 64},
           "model": {"kind": "mlp", "hidden": [256, 128], "dropout": 0.1},
           "reference": {"epochs": 1}, "hyperdpo": {"epochs": 1},
           "progress": False, "threads": threads, "device": "cpu"}
    out.write_text(json.dumps(cfg))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=10_000, help="training queries (~122 documents each)")
    ap.add_argument("--test-queries", type=int, default=1_000, help="test queries")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache", help="generated data files")
    ap.add_argument("--sklearn-rows", type=int, default=100_000, help="lines of the sklearn comparison subset")
    ap.add_argument("--grid", type=int, default=50, help="test front weights (at least; K=5 lattice: 70)")
    ap.add_argument("--skip-torchrun", action="store_true", help="leave out the two-process comparison")
    ap.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(CHILDREN[a.child[0]](a.child[1:])))
        return 0
    t = time.perf_counter()
    train_txt, test_txt = ensure_files(a.cache, a.queries, a.test_queries)
    gen_s = time.perf_counter() - t
    mb = train_txt.stat().st_size / 1e6
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as td:
        tmp = Path(td)
        tiny = tmp / "tiny.txt"
        tiny.write_text("1 qid:1 1:1 2:2\n0 qid:1 1:0.5\n")
        base = run_child("convert", str(tiny), str(tmp / "tiny.arrow"))
        startup = base["peak_rss"]
        arrow, parquet = tmp / "train.arrow", tmp / "train.parquet"
        c1 = run_child("convert", str(train_txt), str(arrow), "--objectives", "mslr5")
        c2 = run_child("convert", str(train_txt), str(tmp / "train2.arrow"), "--objectives", "mslr5",
                       "--workers", "2")
        cp = run_child("convert", str(train_txt), str(parquet), "--objectives", "mslr5")
        test_arrow = tmp / "test.arrow"
        run_child("convert", str(test_txt), str(test_arrow), "--objectives-from", str(arrow))
        sub = tmp / "subset.txt"
        head_lines(train_txt, sub, a.sklearn_rows)
        sub_mb = sub.stat().st_size / 1e6
        sk = run_child("sklearn", str(sub))
        ours_sub = run_child("convert", str(sub), str(tmp / "subset.arrow"))
        one = run_child("train", str(train_config(arrow, tmp / "cfg1.json", 2)), str(test_arrow),
                        str(tmp / "run1"), str(a.grid))
        dense = one["dense_bytes"]
        one.update(run_child("reopen", str(tmp / "cfg1.json")))
        two = None
        if not a.skip_torchrun:
            cfg2 = train_config(arrow, tmp / "cfg2.json", 1)
            t = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                                "-m", "ltr_hyperdpo", "train", "--config", str(cfg2), "--out", str(tmp / "run2")],
                               capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
            if p.returncode != 0:
                raise SystemExit(f"bench_scale: torchrun failed:\n{p.stderr[-4000:]}")
            log = [json.loads(x) for x in (tmp / "run2" / "log.jsonl").read_text().splitlines()]
            two = {"epoch_seconds": {r["stage"]: r["epoch_seconds"] for r in log}, "wall_s": time.perf_counter() - t}
    ep1, s2 = one["epoch_seconds"], one["epoch_seconds"]["hyperdpo"]
    front_per_w = one["front_seconds"] / one["front_weights"]
    res = {
        "data": {"train_mb": mb, "train_docs": one["train_docs"], "dense_mb": dense / 1e6, "generate_s": gen_s,
                 "objectives": one["objectives"], "input_features": one["n_features"]},
        "convert": {"arrow_w1_s": c1["seconds"], "arrow_w2_s": c2["seconds"], "parquet_s": cp["seconds"],
                    "arrow_mb_s": mb / c1["seconds"], "workers2_speedup": c1["seconds"] / c2["seconds"],
                    "startup_rss_mb": startup / 1e6,
                    "arrow_peak_above_startup_over_dense": (c1["peak_rss"] - startup) / dense,
                    "parquet_peak_above_startup_over_dense": (cp["peak_rss"] - startup) / dense,
                    "workers2_parent_peak_above_startup_over_dense": (c2["peak_rss"] - startup) / dense,
                    "workers2_largest_worker_rss_mb": c2["worker_peak_rss"] / 1e6},
        "sklearn_subset": {"rows": a.sklearn_rows, "mb": sub_mb, "sklearn_s": sk["seconds"],
                           "sklearn_mb_s": sub_mb / sk["seconds"], "ours_s": ours_sub["seconds"],
                           "ours_mb_s": sub_mb / ours_sub["seconds"], "speedup": sk["seconds"] / ours_sub["seconds"],
                           "sklearn_peak_rss_mb": sk["peak_rss"] / 1e6},
        "train": {"load_s": one["load_s"], "reopen_s": one["reopen_s"], "normaliser_fit_s": one["normaliser_fit_s"],
                  "load_over_2reopen_plus_fit": one["load_s"] / (2 * one["reopen_s"] + one["normaliser_fit_s"]),
                  "stage1_epoch_s": ep1["reference"], "stage2_epoch_s": s2,
                  "peak_above_startup_over_dense": (one["peak_rss_train"] - one["start_rss"]) / dense,
                  "anon_peak_above_startup_over_dense": (one["peak_anon_train"] - one["start_anon"]) / dense,
                  "front_peak_above_startup_over_dense": (one["peak_rss_front"] - one["start_rss"]) / dense,
                  "load_peak_above_startup_over_dense": (one["peak_rss_load"] - one["start_rss"]) / dense},
        "front": {"weights": one["front_weights"], "test_docs": one["test_docs"], "seconds": one["front_seconds"],
                  "seconds_per_weight": front_per_w, "share_of_stage2_epoch_for_50": 50 * front_per_w / s2,
                  "metric_seconds_per_weight_per_100k_docs": one["front_metric_seconds"] / one["front_weights"]
                  * 1e5 / one["test_docs"],
                  "hypervolume": one["hypervolume"]},
    }
    if two is not None:
        res["torchrun"] = {"stage1_epoch_s": two["epoch_seconds"]["reference"],
                           "stage2_epoch_s": two["epoch_seconds"]["hyperdpo"],
                           "stage1_speedup": ep1["reference"] / two["epoch_seconds"]["reference"],
                           "stage2_speedup": s2 / two["epoch_seconds"]["hyperdpo"]}
    scale = WEB30K_DOCS / one["train_docs"]
    res["web30k_extrapolation"] = {
        "docs": WEB30K_DOCS, "dense_gb": dense * scale / 1e9, "convert_s": c1["seconds"] * scale,
        "convert_peak_gb": (startup + (c1["peak_rss"] - startup) * scale) / 1e9,
        "train_peak_gb": (one["start_rss"] + (one["peak_rss_train"] - one["start_rss"]) * scale) / 1e9,
        "stage1_epoch_s": ep1["reference"] * scale, "stage2_epoch_s": s2 * scale, "load_s": one["load_s"] * scale}
    cv, tr, fr = res["convert"], res["train"], res["front"]
    res["targets"] = {
        "convert_peak<=0.3x_dense": cv["arrow_peak_above_startup_over_dense"] <= 0.3,
        "convert_workers2>=1.6x": cv["workers2_speedup"] >= 1.6,
        "train_peak<=1.5x_dense": tr["peak_above_startup_over_dense"] <= 1.5,
        "load<=2x_reopen+fit": tr["load_over_2reopen_plus_fit"] <= 1.0,
        "front_50_weights<=10%_of_stage2_epoch": fr["share_of_stage2_epoch_for_50"] <= 0.10,
        "front_metric<=0.05s_per_weight_per_100k_docs": fr["metric_seconds_per_weight_per_100k_docs"] <= 0.05,
        "front_peak<=1.5x_dense": tr["front_peak_above_startup_over_dense"] <= 1.5,
    }
    rows = [["convert Arrow, 1 worker", f"{c1['seconds']:.1f} s ({mb / c1['seconds']:.0f} MB/s)",
             f"peak +{cv['arrow_peak_above_startup_over_dense']:.2f}x dense", "<= 0.3x"],
            ["convert Arrow, 2 workers", f"{c2['seconds']:.1f} s", f"{cv['workers2_speedup']:.2f}x", ">= 1.6x"],
            ["convert Parquet", f"{cp['seconds']:.1f} s", f"peak +{cv['parquet_peak_above_startup_over_dense']:.2f}x",
             ""],
            [f"sklearn vs ours, {a.sklearn_rows} lines", f"{sk['seconds']:.1f} s vs {ours_sub['seconds']:.1f} s",
             f"{res['sklearn_subset']['speedup']:.1f}x", ""],
            ["train: data load", f"{tr['load_s']:.1f} s", f"reopen {tr['reopen_s']:.2f} s + fit "
             f"{tr['normaliser_fit_s']:.2f} s", "<= 2x reopen + fit"],
            ["train: stage 1 / stage 2 epoch", f"{tr['stage1_epoch_s']:.1f} s / {tr['stage2_epoch_s']:.1f} s", "", ""],
            ["train: peak RSS (incl. the mapped file's pages)",
             f"+{tr['peak_above_startup_over_dense']:.2f}x dense",
             f"anonymous +{tr['anon_peak_above_startup_over_dense']:.2f}x", "<= 1.5x"],
            [f"front, {fr['weights']} weights, {fr['test_docs']} docs", f"{fr['seconds_per_weight']:.3f} s/weight",
             f"{fr['share_of_stage2_epoch_for_50']:.1%} of a stage-2 epoch (50 weights)", "<= 10%"],
            ["front: NDCG part (2 cut-offs x 5 objectives)",
             f"{fr['metric_seconds_per_weight_per_100k_docs']:.4f} s/weight/100k docs", "", "<= 0.05 s"],
            ["front: peak RSS (whole process)", f"+{tr['front_peak_above_startup_over_dense']:.2f}x dense", "",
             "<= 1.5x"]]
    if two is not None:
        t2 = res["torchrun"]
        rows.append(["torchrun 2 x 1 thread vs 1 x 2 threads", f"{t2['stage1_epoch_s']:.1f} s / "
                     f"{t2['stage2_epoch_s']:.1f} s", f"{t2['stage1_speedup']:.2f}x / {t2['stage2_speedup']:.2f}x",
                     ""])
    emit(res, rows, ["measure", "value", "ratio", "target"])
    print()
    print("targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in res["targets"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
