#!/usr/bin/env python
"""An allRank config trained by allRank itself and by ``ltr-hyperdpo train --config``: validation NDCG@10 per seed.

    python benchmarks/allrank_parity.py [--config benchmarks/configs/allrank_mq2008.json] [--seeds 0 1 2]

allRank 1.4.3 runs its own data loading, model, loss and training loop (``allrank.training.train_utils.fit``) on
the config's dataset folder; this project runs the same config through ``train --config`` (translated by
``import-allrank``). Both report validation NDCG@10 with allRank's conventions (lists with no relevant document
count as 1). allRank keeps its last epoch; this project keeps its best validation epoch, so both the last and the
best epoch of each are printed. Prints one JSON line and a markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _allrank import import_allrank  # noqa: E402
from _common import ROOT, emit  # noqa: E402

from ltr_hyperdpo.config import load_config_file  # noqa: E402
from ltr_hyperdpo.training import RunConfig, train  # noqa: E402
from ltr_hyperdpo.training.allrank import from_allrank  # noqa: E402


def run_allrank(cfg_path: Path, seed: int, out: Path) -> dict:
    config_mod, loading, model_mod, losses, train_utils = import_allrank(
        "allrank.config", "allrank.data.dataset_loading", "allrank.models.model", "allrank.models.losses",
        "allrank.training.train_utils")
    config = config_mod.Config.from_json(str(cfg_path))
    torch.manual_seed(seed)
    np.random.seed(seed)
    train_ds, val_ds = loading.load_libsvm_dataset(config.data.path, config.data.slate_length,
                                                   config.data.validation_ds_role)
    train_dl, val_dl = loading.create_data_loaders(train_ds, val_ds, num_workers=0,
                                                   batch_size=config.data.batch_size)
    from attr import asdict

    model = model_mod.make_model(n_features=train_ds.shape[-1], **asdict(config.model, recurse=False))
    opt = getattr(torch.optim, config.optimizer.name)(params=model.parameters(), **config.optimizer.args)
    sched = getattr(torch.optim.lr_scheduler, config.lr_scheduler.name)(opt, **config.lr_scheduler.args) \
        if config.lr_scheduler.name else None
    seen: list[float] = []
    real_step = train_utils.EarlyStop.step

    def record(self, value, epoch):  # the validation metric of every epoch
        seen.append(float(value))
        return real_step(self, value, epoch)

    train_utils.EarlyStop.step = record
    try:
        t = time.perf_counter()
        train_utils.fit(model=model, loss_func=partial(getattr(losses, config.loss.name), **config.loss.args),
                        optimizer=opt, scheduler=sched, train_dl=train_dl, valid_dl=val_dl, config=config,
                        device=torch.device("cpu"), output_dir=str(out), tensorboard_output_path=str(out / "tb"),
                        **asdict(config.training))
        seconds = time.perf_counter() - t
    finally:
        train_utils.EarlyStop.step = real_step
    return {"last": seen[-1], "best": max(seen), "epochs": len(seen), "seconds": seconds}


def run_ours(cfg_path: Path, seed: int, out: Path) -> dict:
    imported = from_allrank(load_config_file(cfg_path))
    imported.check()
    d = imported.config
    d["seed"], d["progress"] = seed, False
    t = time.perf_counter()
    res = train(RunConfig.from_dict(d), out)
    seconds = time.perf_counter() - t
    vals = [r[f"val_ndcg@{d['eval']['ks'][0]}"] for r in res.history if r["stage"] == "reference"]
    return {"last": vals[-1], "best": max(vals), "epochs": len(vals), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "benchmarks" / "configs" / "allrank_mq2008.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    a = ap.parse_args(argv)
    rows, res = [], {"allrank": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="allrank_parity_") as td:
        for seed in a.seeds:
            ar = run_allrank(a.config, seed, Path(td) / f"ar{seed}")
            ours = run_ours(a.config, seed, Path(td) / f"ours{seed}")
            res["allrank"].append(ar)
            res["ours"].append(ours)
            rows.append([seed, ar["last"], ar["best"], ours["last"], ours["best"], ar["seconds"], ours["seconds"]])

    def stat(who: str, key: str) -> tuple[float, float]:
        v = [r[key] for r in res[who]]
        return statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0

    summary = {f"{who}_{key}": stat(who, key) for who in res for key in ("last", "best")}
    rows.append(["mean ± sd", *(f"{m:.4f} ± {s:.4f}" for m, s in (summary["allrank_last"], summary["allrank_best"],
                                                                   summary["ours_last"], summary["ours_best"])),
                 "", ""])
    emit({"config": str(a.config), "seeds": a.seeds, "runs": res, "summary": summary,
          "best_difference": summary["ours_best"][0] - summary["allrank_best"][0]},
         rows, ["seed", "allRank last", "allRank best", "ours last", "ours best", "allRank s", "ours s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
