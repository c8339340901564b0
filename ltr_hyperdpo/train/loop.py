"""The epoch loop shared by both stages: deterministic per-epoch seeding, validation, early stopping,
atomic checkpoints after every epoch, resume, and a clear stop on a non-finite loss."""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..data.batching import SlateLoader, Slates
from . import checkpoint as ckpt


class TrainingDivergedError(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is kept."""


@dataclass
class StageSpec:
    """What differs between stages: the loss on a batch and the validation metric (higher is better)."""

    name: str
    stage_id: int
    model: torch.nn.Module
    loss_fn: Callable[[Slates, torch.Generator], torch.Tensor]
    val_fn: Callable[[], dict]
    val_key: str
    epochs: int
    lr: float
    weight_decay: float
    patience: int
    grad_clip: float
    param_groups: list | None = None  # optimiser parameter groups (e.g. a larger lr for the conditioning network)


@dataclass
class StageState:
    epoch: int = 0
    best_metric: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list = field(default_factory=list)
    done: bool = False


def epoch_seed(seed: int, stage_id: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + stage_id * 10_007 + epoch * 101) % (2 ** 63 - 1)


def run_stage(spec: StageSpec, loader: SlateLoader, run_dir: Path, seed: int, *, resume: dict | None = None,
              progress: bool = True, log_path: Path | None = None, stop_after: int | None = None,
              on_epoch: Callable[[str, dict], None] | None = None) -> StageState:
    """Train ``spec.model`` in place (ending with its best-validation weights); returns the stage state.

    ``resume`` is a checkpoint dict of this stage; ``stop_after`` ends after that many epochs this call (used to
    simulate an interrupted run in tests).
    """
    model = spec.model
    opt = torch.optim.AdamW(spec.param_groups or model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    st = StageState()
    best_state = copy.deepcopy(model.state_dict())
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        best_state = resume["best_model"]
        st = StageState(**resume["state"])
    ran = 0
    while not st.done and st.epoch < spec.epochs:
        e = st.epoch
        s = epoch_seed(seed, spec.stage_id, e)
        torch.manual_seed(s)
        gen = torch.Generator().manual_seed(s + 1)
        loader.set_epoch(e)
        model.train()
        t0 = time.perf_counter()
        total, n_b, wait = 0.0, 0, 0.0
        bar = progress_bar(progress, len(loader), f"{spec.name} {e + 1}/{spec.epochs}")
        it = iter(loader)
        while True:
            tw = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - tw
            loss = spec.loss_fn(batch, gen)
            if not torch.isfinite(loss):
                if bar is not None:
                    bar.close()
                raise TrainingDivergedError(
                    f"{spec.name}: loss became {loss.item()} at epoch {e + 1}, batch {n_b + 1}; stopped. The last "
                    f"good checkpoint is {run_dir / 'checkpoint.pt'} (lower the learning rate, or check the data).")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if spec.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            opt.step()
            total += loss.item()
            n_b += 1
            if bar is not None:
                bar.set_postfix(loss=f"{total / n_b:.4f}")
                bar.update(1)
        train_s = time.perf_counter() - t0
        model.eval()
        val = spec.val_fn()
        metric = float(val[spec.val_key])
        improved = metric > st.best_metric + 1e-9
        if improved:
            st.best_metric, st.best_epoch, st.bad_epochs = metric, e, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            st.bad_epochs += 1
        rec = {"stage": spec.name, "epoch": e + 1, "loss": total / max(n_b, 1), **val,
               "best": st.best_metric, "epoch_seconds": train_s, "data_wait_share": wait / max(train_s, 1e-9)}
        st.history.append(rec)
        if bar is not None:
            bar.set_postfix(loss=f"{rec['loss']:.4f}", **{spec.val_key: f"{metric:.4f}"})
            bar.close()
        if progress:
            import sys

            print(f"{spec.name} epoch {e + 1}/{spec.epochs}: loss {rec['loss']:.4f}, {spec.val_key} {metric:.4f}"
                  f"{' *' if improved else ''}", file=sys.stderr)
        if log_path is not None:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
        st.epoch = e + 1
        if on_epoch is not None:
            on_epoch(spec.name, rec)
        if st.bad_epochs >= spec.patience:
            st.done = True
        if st.epoch >= spec.epochs:
            st.done = True
        ckpt.save_atomic({"stage": spec.name, "model": model.state_dict(), "optimizer": opt.state_dict(),
                          "best_model": best_state, "state": st.__dict__}, run_dir / "checkpoint.pt")
        ran += 1
        if stop_after is not None and ran >= stop_after and not st.done:
            raise KeyboardInterrupt(f"stopped after {ran} epoch(s) (stop_after)")
    model.load_state_dict(best_state)
    model.eval()
    return st


def progress_bar(progress: bool, total: int, desc: str):
    """A tqdm bar, or None when progress is off."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    # disable=None: no bar when stderr is not a terminal (logs and CI get the one-line epoch summaries only)
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, disable=None)
