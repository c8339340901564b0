"""The training loop's behaviours as callbacks, in the style of LightGBM's ``callback.py``.

:func:`~ltr_hyperdpo.runs.loop.run_stage` trains; everything around the gradient steps is a :class:`Callback` that
the loop calls at fixed events, in ascending ``order``:

| callback | order | what it does |
|---|---|---|
| :class:`EarlyStopping` | 10 | keeps the best-validation weights; stops after ``patience`` epochs without a better metric; restores the best weights at the end |
| :class:`ProgressOutput` | 20 | a progress bar per epoch and one line per epoch (rank 0, when progress is on) |
| :class:`JsonlLog` | 30 | one record per epoch in ``log.jsonl``; on resume, drops the records of epochs that will be replayed |
| :class:`Checkpointing` | 40 | an atomic checkpoint after every epoch (model, optimizer, scheduler, best weights, stage state) |
| :class:`MemoryRelease` | 60 | returns the pages of memory-mapped data read lately to the OS (at most once a second) |
| :class:`EpochHook` | 100 | ``fn(stage_name, record)`` after the checkpoint (Optuna pruning, ``train(on_epoch=...)``) |

User callbacks (``train(callbacks=[...])``) run with these by their ``order``: the default 50 runs after the epoch's
record is logged and its checkpoint written (a callback that raises then leaves the epoch saved); an order below 30
lets a callback add keys to the record before it is logged.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..utils.checkpoint import save_checkpoint
from ..utils.io import append_jsonl, trim_jsonl
from ..utils.memory import release_mapped_pages
from ..utils.progress import progress_bar, say


@dataclass(kw_only=True)
class CallbackEnv:
    """What the loop shares with its callbacks (one object per stage, updated in place).

    ``stage`` is the :class:`~ltr_hyperdpo.runs.loop.Stage`; ``state`` its
    :class:`~ltr_hyperdpo.runs.loop.StageState` (``state.done = True`` stops training after this epoch);
    ``record`` the current epoch's log record (at ``on_epoch_end``); ``metric`` its validation metric (NaN without
    validation); ``best_state`` the weights to restore at the end (``None``: keep the last)."""

    stage: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    state: Any
    main: bool
    resume: dict | None = None
    epoch: int = 0
    batches: int = 0
    running_loss: float = 0.0
    record: dict = field(default_factory=dict)
    metric: float = math.nan
    improved: bool = False
    best_state: dict | None = None


class Callback:
    """Base class: override the events you need. ``order`` sorts callbacks (lower first)."""

    order: int = 50

    def on_stage_begin(self, env: CallbackEnv) -> None:
        """Before the first epoch (after a resumed checkpoint is loaded)."""

    def on_epoch_begin(self, env: CallbackEnv) -> None:
        """Before an epoch's first batch (``env.epoch`` is 0-based)."""

    def on_batch_end(self, env: CallbackEnv) -> None:
        """After a batch's backward pass (``env.batches``, ``env.running_loss``)."""

    def on_epoch_end(self, env: CallbackEnv) -> None:
        """After an epoch's validation; ``env.record`` is its log record."""

    def on_stage_end(self, env: CallbackEnv) -> None:
        """After the last epoch (not on an error)."""

    def close(self, env: CallbackEnv) -> None:
        """Always, last: after the stage ends or an error stops it."""


class EarlyStopping(Callback):
    """Keep the best-validation weights (higher ``stage.val_key`` is better, by more than 1e-9), stop after
    ``stage.patience`` epochs without a better one, restore the best weights when the stage ends. Without a
    validation function the last epoch's weights are kept."""

    order = 10

    def on_stage_begin(self, env: CallbackEnv) -> None:
        if env.stage.val_fn is not None and env.resume is None:
            env.best_state = copy.deepcopy(env.stage.state())

    def on_epoch_end(self, env: CallbackEnv) -> None:
        st, stage = env.state, env.stage
        if stage.val_fn is None:
            return
        env.improved = env.metric > st.best_metric + 1e-9
        if env.improved:
            st.best_metric, st.best_epoch, st.bad_epochs = env.metric, env.epoch, 0
            env.best_state = copy.deepcopy(stage.state())
        else:
            st.bad_epochs += 1
        env.record["best"] = st.best_metric
        if stage.patience is not None and st.bad_epochs >= stage.patience:
            st.done = True

    def on_stage_end(self, env: CallbackEnv) -> None:
        if env.best_state is not None:
            env.stage.load(env.best_state)


class ProgressOutput(Callback):
    """A progress bar per epoch (with the running loss) and one summary line per epoch, on rank 0."""

    order = 20

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar: Any = None

    def on_epoch_begin(self, env: CallbackEnv) -> None:
        s = env.stage
        self.bar = progress_bar(self.enabled and env.main, s.n_batches, f"{s.name} {env.epoch + 1}/{s.epochs}")

    def on_batch_end(self, env: CallbackEnv) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{env.running_loss / max(env.batches, 1):.4f}")
            self.bar.update(1)

    def on_epoch_end(self, env: CallbackEnv) -> None:
        self.close(env)
        s, rec = env.stage, env.record
        shown = f", {s.val_key} {env.metric:.4f}{' *' if env.improved else ''}" if s.val_fn is not None else ""
        rates = "".join(f", {v:.0f} {k[:-len('_per_s')]}/s" for k, v in rec.items() if k.endswith("_per_s"))
        say(self.enabled and env.main, f"{s.name} epoch {env.epoch + 1}/{s.epochs}: loss {rec['loss']:.4f}{shown}"
                                       f"{rates}")

    def close(self, env: CallbackEnv) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class JsonlLog(Callback):
    """One record per epoch in ``path`` (rank 0); a resumed stage first drops the records of its epochs after the
    checkpoint it resumes from (they are replayed, and logged once)."""

    order = 30

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_stage_begin(self, env: CallbackEnv) -> None:
        if env.main:
            done = env.state.epoch
            trim_jsonl(self.path, lambda r: r.get("stage") != env.stage.name or int(r.get("epoch", 0)) <= done)

    def on_epoch_end(self, env: CallbackEnv) -> None:
        if env.main:
            append_jsonl(self.path, env.record)


class Checkpointing(Callback):
    """An atomic checkpoint after every epoch (rank 0): model, optimizer, scheduler, best weights, stage state. A
    run killed at any point resumes from the last one to the same result."""

    order = 40

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_epoch_end(self, env: CallbackEnv) -> None:
        if env.main:
            save_checkpoint({"stage": env.stage.name, "model": env.stage.state(),
                             "optimizer": env.optimizer.state_dict(),
                             "scheduler": env.scheduler.state_dict() if env.scheduler is not None else None,
                             "best_model": env.best_state, "state": env.state.__dict__}, self.path)


class MemoryRelease(Callback):
    """Resident memory stays what was read lately, not the whole memory-mapped file: pages read are returned to the
    OS after a batch, at most once per ``min_interval_s``."""

    order = 60

    def __init__(self, min_interval_s: float = 1.0):
        self.min_interval_s = min_interval_s

    def on_batch_end(self, env: CallbackEnv) -> None:
        release_mapped_pages(min_interval_s=self.min_interval_s)


class EpochHook(Callback):
    """``fn(stage_name, record)`` after each epoch's checkpoint (rank 0): a hook that raises (Optuna's pruning, a
    test simulating a kill) leaves the epoch saved."""

    order = 100

    def __init__(self, fn: Callable[[str, dict], None]):
        self.fn = fn

    def on_epoch_end(self, env: CallbackEnv) -> None:
        if env.main:
            self.fn(env.stage.name, env.record)


def default_callbacks(*, checkpoint_path: Path, log_path: Path | None, progress: bool) -> list[Callback]:
    """The behaviours every stage has: early stopping, progress output, the log, checkpoints, memory release."""
    out: list[Callback] = [EarlyStopping(), ProgressOutput(progress), Checkpointing(checkpoint_path), MemoryRelease()]
    if log_path is not None:
        out.append(JsonlLog(log_path))
    return out


def ordered(callbacks: Iterable[Callback]) -> list[Callback]:
    """Callbacks sorted by ``order`` (stable: equal orders keep the given order)."""
    return sorted(callbacks, key=lambda c: getattr(c, "order", 50))


__all__ = ["Callback", "CallbackEnv", "EarlyStopping", "ProgressOutput", "JsonlLog", "Checkpointing",
           "MemoryRelease", "EpochHook", "default_callbacks", "ordered"]
