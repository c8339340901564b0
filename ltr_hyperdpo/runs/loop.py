"""The one training loop, shared by the LTR stages and the LLM trainer.

Per epoch: a deterministic seed from (run seed, stage id, epoch) seeds torch and the loss's generator, the stage's
batches for that epoch are iterated with optional gradient accumulation and clipping, and an optional validation
function gives the epoch's metric. Everything else is a callback (:mod:`.callbacks`): early stopping (the best
weights are restored at the end), progress output, one record in ``log.jsonl``, an atomic checkpoint, memory
release; ``on_epoch`` runs after the checkpoint, so a hook that raises (Optuna's pruning, a test simulating a kill)
leaves the epoch saved. A non-finite loss stops with :class:`TrainingDivergedError` and keeps the
last good checkpoint. Resuming from that checkpoint gives the same result as an uninterrupted run.

Devices and precision (:mod:`.device`) apply to the model and every batch. Under ``torchrun`` (:mod:`.distributed`)
the model is wrapped in DistributedDataParallel, every process takes its share of each global batch (the stage's
``shard``), each share's mean loss is weighted by its size so the averaged gradient is the global batch's, and rank
0 alone validates (broadcasting the result), logs and writes checkpoints.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import TrainingDivergedError
from .device import autocast, check_precision, grad_scaler, to_device
from .distributed import all_reduce_sum, broadcast, info
from .callbacks import Callback, CallbackEnv, EpochHook, default_callbacks, ordered

#: epoch seeds mix the run seed, the stage id and the epoch with these primes (fixed: changing them changes results)
SEED_MULT_RUN, SEED_MULT_STAGE, SEED_MULT_EPOCH = 1_000_003, 10_007, 101

LossFn = Callable[[torch.nn.Module, Any, torch.Generator], torch.Tensor]


def epoch_seed(seed: int, stage_id: int, epoch: int) -> int:
    """The seed of one epoch of one stage (torch's global RNG gets it, the loss's generator gets it + 1)."""
    return (int(seed) * SEED_MULT_RUN + stage_id * SEED_MULT_STAGE + epoch * SEED_MULT_EPOCH) % (2 ** 63 - 1)


@dataclass(kw_only=True)
class Stage:
    """What one stage trains and how; the loop is the same for every stage of both domains.

    ``batches(epoch)`` yields that epoch's (global) batches; ``loss_fn(model, batch, generator)`` returns the batch's
    mean loss, calling ``model`` (the loop passes the module itself, or its DistributedDataParallel wrapper);
    ``shard(batch, rank, world)`` returns a process's share and its fraction of the lists (needed under torchrun);
    ``val_fn()`` returns metrics (higher ``val_key`` is better) or is ``None`` (no early stopping: the last epoch is
    kept). ``batch_stats(batch)`` returns counts (e.g. tokens) reported per second in the log. ``get_state`` /
    ``set_state`` choose what a checkpoint holds of the model (default: its whole ``state_dict``).
    """

    name: str
    stage_id: int
    model: torch.nn.Module
    loss_fn: LossFn
    batches: Callable[[int], Iterable[Any]]
    epochs: int
    lr: float
    weight_decay: float = 0.0
    grad_clip: float | None = None
    #: clip each optimizer group's gradient norm separately (else all parameters' together)
    clip_per_group: bool = False
    grad_accum: int = 1
    n_batches: int | None = None
    param_groups: list | None = None
    val_fn: Callable[[], dict] | None = None
    val_key: str | None = None
    patience: int | None = None
    scheduler_fn: Callable[[torch.optim.Optimizer], Any] | None = None
    scheduler_needs_metric: bool = False
    batch_stats: Callable[[Any], dict[str, float]] | None = None
    get_state: Callable[[], dict] | None = None
    set_state: Callable[[dict], None] | None = None
    shard: Callable[[Any, int, int], tuple[Any, float]] | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"

    def state(self) -> dict:
        return self.get_state() if self.get_state is not None else self.model.state_dict()

    def load(self, state: dict) -> None:
        if self.set_state is not None:
            self.set_state(state)
        else:
            self.model.load_state_dict(state)


@dataclass(kw_only=True)
class StageState:
    """Progress of a stage, saved in every checkpoint."""

    epoch: int = 0
    best_metric: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    steps: int = 0
    history: list = field(default_factory=list)
    done: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> StageState:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _all_finite(loss: torch.Tensor, distributed: bool) -> bool:
    bad = [0.0 if bool(torch.isfinite(loss)) else 1.0]
    if distributed:
        bad = all_reduce_sum(bad)  # every process stops together
    return bad[0] == 0.0


def run_stage(stage: Stage, checkpoint_path: Path, seed: int, *, resume: dict | None = None, progress: bool = True,
              log_path: Path | None = None, on_epoch: Callable[[str, dict], None] | None = None,
              callbacks: Iterable[Callback] = ()) -> StageState:
    """Train ``stage.model`` in place (ending with its best-validation weights, or the last); returns the state.

    ``resume`` is a checkpoint dict of this stage (written by an earlier call with the same stage). The loop's
    behaviours are callbacks (:mod:`.callbacks`): :func:`~.callbacks.default_callbacks` (early stopping, progress,
    the log at ``log_path``, checkpoints at ``checkpoint_path``, memory release), then ``callbacks``, then
    ``on_epoch(stage_name, record)`` as an :class:`~.callbacks.EpochHook`.
    """
    d = info()
    if d.active and stage.shard is None:
        raise TrainingDivergedError(f"{stage.name}: this stage cannot be split across processes")
    check_precision(stage.precision, stage.device)
    model = stage.model.to(stage.device)
    ddp = DistributedDataParallel(model, device_ids=[stage.device.index] if stage.device.type == "cuda" else None) \
        if d.active else model
    opt = torch.optim.AdamW(stage.param_groups or model.parameters(), lr=stage.lr, weight_decay=stage.weight_decay)
    sched = stage.scheduler_fn(opt) if stage.scheduler_fn is not None else None
    scaler = grad_scaler(stage.precision, stage.device)
    params = list(model.parameters())  # clipping order as in model.parameters(): the norm's sum order is fixed
    env = CallbackEnv(stage=stage, model=model, optimizer=opt, scheduler=sched, state=StageState(), main=d.main,
                      resume=resume)
    if resume is not None:
        stage.load(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        if sched is not None and resume.get("scheduler") is not None:
            sched.load_state_dict(resume["scheduler"])
        env.best_state = resume.get("best_model")
        env.state = StageState.from_dict(resume["state"])
    cbs = ordered([*default_callbacks(checkpoint_path=checkpoint_path, log_path=log_path, progress=progress),
                   *callbacks, *([EpochHook(on_epoch)] if on_epoch is not None else [])])
    try:
        for cb in cbs:
            cb.on_stage_begin(env)
        st = env.state
        while not st.done and st.epoch < stage.epochs:
            _epoch(stage, env, cbs, ddp, opt, sched, scaler, params, seed, checkpoint_path, d)
        for cb in cbs:
            cb.on_stage_end(env)
    finally:
        for cb in cbs:
            cb.close(env)
    model.eval()
    return env.state


def _epoch(stage: Stage, env: CallbackEnv, cbs: list[Callback], ddp: torch.nn.Module, opt: torch.optim.Optimizer,
           sched: Any, scaler: Any, params: list, seed: int, checkpoint_path: Path, d: Any) -> None:
    """One epoch: seeded batches, gradient steps, validation, then the callbacks' epoch end."""
    st, model = env.state, env.model
    e = env.epoch = st.epoch
    s = epoch_seed(seed, stage.stage_id, e)
    torch.manual_seed(s)
    gen = torch.Generator().manual_seed(s + 1)
    model.train()
    t0 = time.perf_counter()
    env.running_loss, env.batches, wait = 0.0, 0, 0.0
    env.improved, env.metric = False, math.nan
    counts: dict[str, float] = {}
    for cb in cbs:
        cb.on_epoch_begin(env)
    opt.zero_grad(set_to_none=True)
    it = iter(stage.batches(e))
    pending = 0
    while True:
        tw = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            break
        share = 1.0
        if d.active and stage.shard is not None:
            batch, share = stage.shard(batch, d.rank, d.world)
            if batch is None:  # fewer lists than processes (an epoch's last batch): skipped by every process
                continue
        batch = to_device(batch, stage.device)
        wait += time.perf_counter() - tw
        with autocast(stage.precision, stage.device):
            loss = stage.loss_fn(ddp, batch, gen)
        if loss.dtype in (torch.float16, torch.bfloat16):  # a float64 loss stays float64 (exact comparisons)
            loss = loss.float()
        if not _all_finite(loss, d.active):
            where = f"The last good checkpoint is {checkpoint_path}" if checkpoint_path.exists() else \
                "No checkpoint of this run was written yet"
            raise TrainingDivergedError(
                f"{stage.name}: loss became {loss.item()} at epoch {e + 1}, batch {env.batches + 1}; stopped. "
                f"{where} (lower the learning rate, or check the data).")
        # a process's mean loss counts by its share of the lists: the averaged gradient is the global batch's
        scaled = loss * (share * d.world) if d.active else loss
        scaled = scaled / stage.grad_accum if stage.grad_accum > 1 else scaled
        (scaler.scale(scaled) if scaler is not None else scaled).backward()
        pending += 1
        if pending == stage.grad_accum:
            _step(opt, params, stage.grad_clip, scaler, stage.clip_per_group)
            st.steps += 1
            pending = 0
        env.running_loss += loss.item() * (share * d.world if d.active else 1.0)
        env.batches += 1
        if stage.batch_stats is not None:
            for k, v in stage.batch_stats(batch).items():
                counts[k] = counts.get(k, 0.0) + float(v)
        for cb in cbs:
            cb.on_batch_end(env)
    if pending:
        _step(opt, params, stage.grad_clip, scaler, stage.clip_per_group)
        st.steps += 1
    total = env.running_loss
    if d.active:  # the epoch's loss over the global batches
        total = all_reduce_sum([total])[0] / d.world
    train_s = time.perf_counter() - t0
    model.eval()
    rec: dict[str, Any] = {"stage": stage.name, "epoch": e + 1, "loss": total / max(env.batches, 1)}
    if stage.val_fn is not None:
        val = broadcast(stage.val_fn() if d.main else None)
        env.metric = float(val[stage.val_key])
        rec.update(val)
    rec.update({"epoch_seconds": train_s, "data_wait_share": wait / max(train_s, 1e-9), "steps": st.steps})
    rec.update({f"{k}_per_s": v / max(train_s, 1e-9) for k, v in counts.items()})
    if d.active:
        rec["processes"] = d.world
    if sched is not None:
        if stage.scheduler_needs_metric and stage.val_key is not None:
            sched.step(rec[stage.val_key])
        else:
            sched.step()
        rec["lr"] = opt.param_groups[0]["lr"]
    st.history.append(rec)
    env.record = rec
    st.epoch = e + 1
    if st.epoch >= stage.epochs:
        st.done = True
    for cb in cbs:
        cb.on_epoch_end(env)


def _step(opt: torch.optim.Optimizer, params: list, grad_clip: float | None, scaler: Any = None,
          per_group: bool = False) -> None:
    if scaler is not None:
        scaler.unscale_(opt)
    if grad_clip and per_group:
        for group in opt.param_groups:
            torch.nn.utils.clip_grad_norm_(group["params"], grad_clip)
    elif grad_clip:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    opt.zero_grad(set_to_none=True)
