#!/usr/bin/env python
"""Serving benchmark: documents per second of Run.score (torch) and of the exported ONNX graph (onnxruntime), for
the MLP and transformer scorers, against LightGBM's predict of a 300-tree LambdaMART on the same rows.

    python benchmarks/bench_serve.py [--queries 100] [--docs 100] [--threads 2] [--repeats 7]

Data: the synthetic MSLR-shaped generator (136 raw features, 2 objectives); the models are trained briefly (their
speed does not depend on how well they rank). Scored: --queries x --docs documents of raw features (Run.score applies
the stored column selection and normaliser; the ONNX graph holds them). Medians of --repeats runs after a warm-up,
all in this one process with the same thread count. Prints one JSON line and a markdown table with the ratios.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median_time  # noqa: E402

from ltr_hyperdpo.data.dataset import RankingDataset  # noqa: E402
from ltr_hyperdpo.data.store import write_table  # noqa: E402
from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives  # noqa: E402
from ltr_hyperdpo.data.tables import table_arrays  # noqa: E402
from ltr_hyperdpo.methods.lambdamart import fit_lambdamart  # noqa: E402
from ltr_hyperdpo.serving import load_run  # noqa: E402
from ltr_hyperdpo.serving.export import export_onnx  # noqa: E402
from ltr_hyperdpo.training import RunConfig, train  # noqa: E402

N_FEATURES = 136
W = [0.5, 0.5]  # the trade-off scored (any weight costs the same)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=100, help="queries scored")
    ap.add_argument("--docs", type=int, default=100, help="documents per query")
    ap.add_argument("--threads", type=int, default=2, help="threads for torch, onnxruntime and LightGBM")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats (median)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    import onnxruntime as ort

    rows = []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        write_table(tmp / "train.arrow", make_synthetic(300, 60, N_FEATURES, 2, -0.5, seed=0))
        test = make_synthetic(a.queries, a.docs, N_FEATURES, 2, -0.5, seed=1)
        q, _, x = table_arrays(test)
        # exactly docs per query: the synthetic sizes vary, so cut/pad to a fixed [queries, docs] layout
        q = np.repeat(np.arange(a.queries), a.docs)
        x = np.resize(x, (a.queries * a.docs, N_FEATURES)).astype(np.float32)
        n_docs = len(q)
        results: dict = {"queries": a.queries, "docs_per_query": a.docs, "threads": a.threads}
        objs = synth_objectives(N_FEATURES, 2)
        tr = RankingDataset.load(tmp / "train.arrow", objectives=objs, fit=True)
        booster = fit_lambdamart(tr, None, params={"n_estimators": 300, "n_jobs": a.threads})
        xin = tr.state.transform().apply(x)  # LightGBM sees the same model inputs
        booster.predict(xin)
        t_lgb = median_time(lambda: booster.predict(xin), a.repeats)
        results["lightgbm_docs_per_s"] = n_docs / t_lgb
        rows.append(["LightGBM LambdaMART (300 trees)", "predict", n_docs / t_lgb, 1.0])
        for kind in ("mlp", "transformer"):
            spec = [o.__dict__ for o in objs]
            cfg = RunConfig.from_dict({"data": {"train": str(tmp / "train.arrow"), "objectives": spec},
                                       "model": {"kind": kind}, "reference": {"epochs": 1},
                                       "hyperdpo": {"epochs": 1}, "progress": False, "threads": a.threads})
            train(cfg, tmp / kind)
            run = load_run(tmp / kind)
            run.score(x, W, qid=q)
            t_torch = median_time(lambda run=run: run.score(x, W, qid=q, batch_size=a.queries), a.repeats)
            export_onnx(run, tmp / f"{kind}.onnx")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = a.threads
            sess = ort.InferenceSession(str(tmp / f"{kind}.onnx"), opts, providers=["CPUExecutionProvider"])
            feeds = {"features": x.reshape(a.queries, a.docs, N_FEATURES),
                     "mask": np.ones((a.queries, a.docs), dtype=bool),
                     "w": np.tile(np.asarray(W, np.float32), (a.queries, 1))}
            sess.run(["scores"], feeds)
            t_onnx = median_time(lambda sess=sess, feeds=feeds: sess.run(["scores"], feeds), a.repeats)
            results[f"{kind}_run_score_docs_per_s"] = n_docs / t_torch
            results[f"{kind}_onnxruntime_docs_per_s"] = n_docs / t_onnx
            rows.append([f"{kind} scorer", "Run.score (torch)", n_docs / t_torch, t_lgb / t_torch])
            rows.append([f"{kind} scorer", "onnxruntime", n_docs / t_onnx, t_lgb / t_onnx])
    emit(results, rows, ["model", "path", "docs/s", "speed vs LightGBM"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
