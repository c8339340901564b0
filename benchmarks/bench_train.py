#!/usr/bin/env python
"""Training-step benchmark: documents per second of a HyperDPO step for the MLP and transformer scorers, and the
share of step time spent waiting for data (target < 10%).

    python benchmarks/bench_train.py [--queries 400] [--docs 120] [--batch 32] [--steps 40] [--threads 2]

Data: the synthetic MSLR-shaped generator (136 features, 2 objectives). A step is the one ``train()`` takes with the
default run config, built from ``resolve(RunConfig())`` (only the scorer kind varies): the plan's weights per list
and vertex rate, w ~ Dirichlet(alpha), one reference forward per list (no grad), the policy forward + PL-DPO loss +
backward, gradient clipping and AdamW with the plan's per-group learning rates. Documents per second count each
document once per step (not once per weight). Medians over steps after warm-up.
Prints one JSON object and a markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit  # noqa: E402


def bench(kind: str, ds, batch: int, slate: int, steps: int, prefetch: int) -> dict:
    import numpy as np
    import torch

    from ltr_hyperdpo.data.batching import SlateLoader
    from ltr_hyperdpo.methods.base import FitContext
    from ltr_hyperdpo.methods.hyperdpo import HyperDPO
    from ltr_hyperdpo.models import build_scorer, conditioned_copy
    from ltr_hyperdpo.training import DataSummary, RunConfig, resolve

    # the step train() takes with the default run config (only the kind varies): the plan's scorer, weights per
    # list, vertex rate, Dirichlet alpha and per-group learning rates, through the method's own batch loss
    cfg = RunConfig.from_dict({"model": {"kind": kind}, "data": {"batch_size": batch, "slate_length": slate}})
    plan = resolve(cfg, DataSummary(train="synthetic", vali=None, test=None, n_features=ds.n_features,
                                    n_objectives=ds.n_objectives))
    torch.manual_seed(0)
    ref = build_scorer(plan.scorer, conditioned=False).eval()
    pol = conditioned_copy(ref, plan.scorer).train()
    method = HyperDPO()
    opt = torch.optim.AdamW(method.param_groups(pol, plan.method.learning_rates), lr=plan.stage2.lr,
                            weight_decay=plan.stage2.weight_decay)
    grid = np.eye(ds.n_objectives)
    ctx = FitContext(method="hyperdpo", train=ds, vali=ds, reference=ref, run_dir=Path("."), stage2=plan.stage2,
                     params=plan.method_params(), scorer=plan.scorer, learning_rates=plan.method.learning_rates,
                     seed=0, batch_size=batch, slate_length=slate, front_k=10, val_weights=grid, member_weights=grid,
                     progress=False)
    loader = SlateLoader(ds, batch, slate_length=slate, shuffle=True, seed=0, prefetch=prefetch)
    gen = torch.Generator().manual_seed(0)
    waits, totals, docs = [], [], []
    epoch = 0
    while len(totals) < steps + 5:
        loader.set_epoch(epoch)
        epoch += 1
        it = iter(loader)
        while len(totals) < steps + 5:
            t0 = time.perf_counter()
            try:
                b = next(it)
            except StopIteration:
                break
            t1 = time.perf_counter()
            loss = method.batch_loss(ctx, pol, b, gen)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(pol.parameters()), plan.stage2.grad_clip)
            opt.step()
            t2 = time.perf_counter()
            waits.append(t1 - t0)
            totals.append(t2 - t0)
            docs.append(int(b.mask.sum()))
    waits, totals, docs = waits[5:], totals[5:], docs[5:]
    return {"model": kind, "prefetch": prefetch, "docs_per_s": sum(docs) / sum(totals),
            "step_ms": 1000 * statistics.median(totals), "data_wait_share": sum(waits) / sum(totals),
            "weights_per_list": plan.method.params["weights_per_list"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--docs", type=int, default=120)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--slate", type=int, default=120)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    a = ap.parse_args(argv)
    import torch

    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives

    if a.threads:
        torch.set_num_threads(a.threads)
    ds = RankingDataset.from_table(make_synthetic(a.queries, a.docs, 136, 2, -0.5, seed=0),
                                   objectives=synth_objectives(136, 2), fit=True)
    rows = [bench(k, ds, a.batch, a.slate, a.steps, p) for k in ("mlp", "transformer") for p in (0, 2)]
    best = {r["model"]: r for r in rows if r["prefetch"] == 2}
    emit({"docs_per_s_mlp": best["mlp"]["docs_per_s"], "docs_per_s_transformer": best["transformer"]["docs_per_s"],
          "data_wait_share_mlp": best["mlp"]["data_wait_share"],
          "data_wait_share_transformer": best["transformer"]["data_wait_share"],
          "target_data_wait_lt_0.10": all(r["data_wait_share"] < 0.10 for r in best.values()),
          "torch_threads": torch.get_num_threads(), "runs": rows},
         [[r["model"], r["prefetch"], r["docs_per_s"], r["step_ms"], r["data_wait_share"]] for r in rows],
         ["model", "prefetch", "docs/s", "step ms (median)", "data wait share"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
