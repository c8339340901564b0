#!/usr/bin/env python
"""Training-step benchmark: documents per second of a HyperDPO step for the MLP and transformer scorers, and the
share of step time spent waiting for data (target < 10%).

    python benchmarks/bench_train.py [--queries 400] [--docs 120] [--batch 32] [--steps 40] [--threads 2]

Data: the synthetic MSLR-shaped generator (136 features, 2 objectives). A step = sample w ~ Dirichlet, reference
forward (no grad), policy forward + PL-DPO loss + backward + AdamW. Medians over steps after warm-up.
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
    import torch

    from ltr_hyperdpo.core import pl_dpo_loss, sample_weights
    from ltr_hyperdpo.data.batching import SlateLoader
    from ltr_hyperdpo.models import ScorerConfig, build_scorer, conditioned_copy

    cfg = ScorerConfig(kind=kind, n_features=ds.n_features, n_objectives=ds.n_objectives, hidden=[256, 128],
                       d_model=64, n_layers=2, n_heads=4, dropout=0.1)
    torch.manual_seed(0)
    ref = build_scorer(cfg, conditioned=False).eval()
    pol = conditioned_copy(ref).train()
    opt = torch.optim.AdamW(pol.parameters(), lr=1e-3)
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
            w = sample_weights(b.features.shape[0], ds.n_objectives, 1.0, generator=gen)
            with torch.no_grad():
                rs = ref(b.features, b.mask)
            loss = pl_dpo_loss(pol(b.features, b.mask, w), rs, b.labels, b.mask, w, beta=1.0, generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            t2 = time.perf_counter()
            waits.append(t1 - t0)
            totals.append(t2 - t0)
            docs.append(int(b.mask.sum()))
    waits, totals, docs = waits[5:], totals[5:], docs[5:]
    return {"model": kind, "prefetch": prefetch, "docs_per_s": sum(docs) / sum(totals),
            "step_ms": 1000 * statistics.median(totals), "data_wait_share": sum(waits) / sum(totals)}


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
