#!/usr/bin/env python
"""Training speed against allRank 1.4.3's own training loop, on the same data and model, interleaved in one run.

    python benchmarks/bench_vs_allrank.py [--copies 20] [--rounds 3] [--batches 12] [--threads 2]

Data: the MSLR 5k excerpt (``../shared``) replicated ``--copies`` times with distinct query ids (a folder with
``train.txt``, read by allRank's own loader). Model, both sides: fc [128] -> transformer N=4, d_ff 512, h 4, dropout
0.3; slate 240, batch 64, Adam 1e-3, ListMLE. Measured per round, in turn: allRank's ``loss_batch`` over its
DataLoader (lists padded to the slate), this project's stage-1 step (the same loss on its transformer scorer, lists
padded to the batch's longest) and its stage-2 HyperDPO step (weights sampled, the frozen reference scored, the
conditioned policy trained with PL-DPO). Reported: real (non-padded) documents per second (medians over rounds),
the ratios, and each step's achieved GFLOP/s (the model's matmul FLOPs per real document, forward x3 for a training
step, plus one forward of the reference in stage 2) against a large float32 matmul measured in the same run.
Targets: stage 1 >= 2x allRank, stage 2 >= 1.5x allRank's plain ListMLE step.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _allrank import import_allrank  # noqa: E402
from _common import DEFAULT_DATA_ROOT, emit  # noqa: E402
from bench_io import replicate_mslr  # noqa: E402

from ltr_hyperdpo.core import pl_dpo_loss, sample_weights  # noqa: E402
from ltr_hyperdpo.data.batching import SlateLoader  # noqa: E402
from ltr_hyperdpo.data.dataset import RankingDataset  # noqa: E402
from ltr_hyperdpo.losses import listmle_loss  # noqa: E402
from ltr_hyperdpo.models import ScorerConfig, build_scorer, conditioned_copy  # noqa: E402

D_MODEL, N_LAYERS, D_FF, HEADS, DROPOUT, SLATE, BATCH, LR = 128, 4, 512, 4, 0.3, 240, 64, 1e-3


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a large float32 matmul on this machine now (the physical reference)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(ts) / 1e9


def forward_flops_per_doc(n_features: int, list_len: float, head: int) -> float:
    """Matmul FLOPs of one document's forward: input projection, N blocks (QKV, output, feed-forward, attention over
    the list) and the score head (``head`` = its hidden width, 0 for a single linear layer)."""
    d = D_MODEL
    per_block = 2 * (4 * d * d + 2 * d * D_FF) + 2 * 2 * list_len * d
    head_flops = 2 * (d * head + head) if head else 2 * d
    return 2 * n_features * d + N_LAYERS * per_block + head_flops


def allrank_round(mods: dict, folder: Path, batches: int) -> tuple[float, int]:
    loading, model_mod, losses, train_utils, config_mod = (mods[k] for k in ("loading", "model", "losses",
                                                                              "train_utils", "config"))
    if "ds" not in mods:
        train_ds = loading.load_libsvm_dataset_role("train", str(folder), SLATE)
        mods["ds"] = train_ds
        tr = config_mod.TransformerConfig(N=N_LAYERS, d_ff=D_FF, h=HEADS, positional_encoding=None, dropout=DROPOUT)
        torch.manual_seed(0)
        mods["net"] = model_mod.make_model(
            fc_model={"sizes": [D_MODEL], "input_norm": False, "activation": None, "dropout": 0.0},
            transformer=tr, post_model={"output_activation": None, "d_output": 1}, n_features=train_ds.shape[-1])
        mods["opt"] = torch.optim.Adam(mods["net"].parameters(), lr=LR)
    dl = torch.utils.data.DataLoader(mods["ds"], batch_size=BATCH, shuffle=True, num_workers=0)
    net, opt = mods["net"], mods["opt"]
    net.train()
    docs, t0 = 0, time.perf_counter()
    for i, (xb, yb, indices) in enumerate(dl):
        if i >= batches:
            break
        train_utils.loss_batch(net, partial(losses.listMLE), xb, yb, indices, None, opt)
        docs += int((yb != -1).sum())
    return time.perf_counter() - t0, docs


def ours_setup(ds: RankingDataset) -> dict:
    cfg = ScorerConfig(kind="transformer", n_features=ds.n_features, n_objectives=ds.n_objectives, d_model=D_MODEL,
                       n_layers=N_LAYERS, n_heads=HEADS, d_ff=D_FF, dropout=DROPOUT, n_prompts=4)
    torch.manual_seed(0)
    ref = build_scorer(cfg, conditioned=False)
    pol = conditioned_copy(ref)
    return {"ref": ref, "opt1": torch.optim.AdamW(ref.parameters(), lr=LR, weight_decay=0.0), "pol": pol,
            "opt2": torch.optim.AdamW(pol.parameters(), lr=LR, weight_decay=0.0),
            "loader": SlateLoader(ds, BATCH, slate_length=SLATE, shuffle=True, seed=0),
            "gen": torch.Generator().manual_seed(0), "epoch": 0}


def ours_round(st: dict, stage: int, batches: int) -> tuple[float, int]:
    loader, gen = st["loader"], st["gen"]
    loader.set_epoch(st["epoch"])
    st["epoch"] += 1
    docs, t0 = 0, time.perf_counter()
    for i, b in enumerate(loader):
        if i >= batches:
            break
        if stage == 1:
            st["ref"].train()
            loss = listmle_loss(st["ref"](b.features, b.mask), b.labels[..., 0], b.mask, generator=gen).mean()
            opt = st["opt1"]
        else:
            st["ref"].eval()
            w = sample_weights(b.features.shape[0], b.labels.shape[-1], 0.5, generator=gen)
            with torch.no_grad():
                rs = st["ref"](b.features, b.mask)
            st["pol"].train()
            loss = pl_dpo_loss(st["pol"](b.features, b.mask, w), rs, b.labels, b.mask, w, beta=1.0, generator=gen)
            opt = st["opt2"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        docs += int(b.mask.sum())
    return time.perf_counter() - t0, docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--copies", type=int, default=20, help="copies of the MSLR 5k excerpt (distinct query ids)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are reported)")
    ap.add_argument("--batches", type=int, default=12, help="batches per round and side")
    ap.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    src = a.data_root / "ltr" / "mslr_msn1_fold1_5k" / "train.txt"
    if not src.exists():
        raise SystemExit(f"bench_vs_allrank: {src} not found (the shared data)")
    loading, model_mod, losses, train_utils, config_mod = import_allrank(
        "allrank.data.dataset_loading", "allrank.models.model", "allrank.models.losses",
        "allrank.training.train_utils", "allrank.config")
    mods = {"loading": loading, "model": model_mod, "losses": losses, "train_utils": train_utils,
            "config": config_mod}
    with tempfile.TemporaryDirectory(prefix="bench_vs_allrank_") as td:
        folder = Path(td)
        replicate_mslr(src, folder / "train.txt", target_mb=src.stat().st_size / 1e6 * a.copies)
        ds = RankingDataset.load(folder / "train.txt", objectives="mslr5", fit=True, normalize=False)
        ours = ours_setup(ds)
        peak = matmul_gflops()
        runs: dict[str, list[float]] = {"allrank": [], "stage1": [], "stage2": []}
        for _ in range(a.rounds + 1):  # the first round warms up (allocations, data loading) and is dropped
            for name, fn in (("allrank", lambda: allrank_round(mods, folder, a.batches)),
                             ("stage1", lambda: ours_round(ours, 1, a.batches)),
                             ("stage2", lambda: ours_round(ours, 2, a.batches))):
                seconds, docs = fn()
                runs[name].append(docs / seconds)
        peak = statistics.median([peak, matmul_gflops()])
    med = {k: statistics.median(v[1:]) for k, v in runs.items()}
    mean_len = float(min(ds.list_sizes.mean(), SLATE))
    fwd_allrank = forward_flops_per_doc(ds.source.width, SLATE, 0)  # allRank attends over the padded slate
    fwd_ours = forward_flops_per_doc(ds.n_features, mean_len, D_MODEL)
    gflops = {"allrank": med["allrank"] * 3 * fwd_allrank / 1e9, "stage1": med["stage1"] * 3 * fwd_ours / 1e9,
              "stage2": med["stage2"] * 4 * fwd_ours / 1e9}
    res = {"docs_per_s": med, "stage1_vs_allrank": med["stage1"] / med["allrank"],
           "stage2_vs_allrank": med["stage2"] / med["allrank"], "gflops": gflops, "matmul_gflops": peak,
           "share_of_matmul_peak": {k: v / peak for k, v in gflops.items()}, "rounds": runs,
           "threads": a.threads, "documents": ds.n_docs, "queries": ds.n_queries,
           "targets": {"stage1>=2x_allrank": med["stage1"] / med["allrank"] >= 2.0,
                       "stage2>=1.5x_allrank": med["stage2"] / med["allrank"] >= 1.5}}
    emit(res, [[k, med[k], med[k] / med["allrank"], gflops[k], gflops[k] / peak] for k in med],
         ["step", "real docs/s (median)", "x allRank", "GFLOP/s", "share of matmul peak"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
