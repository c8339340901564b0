"""What a stage-2 method is: an object with a name, a plot label, a ``fit`` and a ``load``, in a registry.

The trainer builds a :class:`FitContext` from the run's plan and calls :meth:`Method.fit`; :meth:`Method.load`
rebuilds the trained :class:`~ltr_hyperdpo.models.Ranker` from the run directory. Methods do not import the run
config: what they need arrives in the context (the shared stage-2 settings as :class:`Stage2Settings`, the method's
own validated :attr:`Method.Params`, the resolved scorer and each parameter group's learning rate).

A method owns its parameters: ``Params`` is a :class:`~ltr_hyperdpo.config.Validated` dataclass; a field that is
``None`` by default is an ``auto`` value resolved by a rule of :mod:`ltr_hyperdpo.training.auto` (by field name).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..config import Validated
from ..data.batching import SlateLoader, Slates
from ..data.dataset import RankingDataset
from ..eval.validation import ValidationSet
from ..models.ranker import Ranker
from ..models.scorers import Scorer, ScorerConfig
from ..runs.loop import LossFn, Stage, StageState, run_stage
from ..runs.schedules import make_scheduler, needs_metric, parse_schedule
from ..utils.io import atomic_write_json

#: stage ids enter the epoch seeds: the reference is stage 1, a one-model method stage 2, member i of a multi-run
#: method stage MEMBER_STAGE_BASE + i
REFERENCE_STAGE_ID, ONE_MODEL_STAGE_ID, MEMBER_STAGE_BASE = 1, 2, 10
#: the stage-2 loader shuffles with seed + STAGE2_LOADER_OFFSET (the reference's loader uses the run seed itself)
STAGE2_LOADER_OFFSET = 1


def conditioning_init_seed(seed: int) -> int:
    """Seed of the conditioning network's initialisation: fixed per run seed, whatever ran before it."""
    return seed * 7919 + 17


class Stage2Settings(Protocol):
    """The stage-2 settings every method shares (the ``hyperdpo`` config section, resolved in the plan; read-only)."""

    @property
    def epochs(self) -> int: ...

    @property
    def lr(self) -> float: ...

    @property
    def weight_decay(self) -> float: ...

    @property
    def beta(self) -> float: ...

    @property
    def beta_range(self) -> list[float]: ...

    @property
    def top_k(self) -> int | None: ...

    @property
    def tie_break(self) -> str: ...

    @property
    def lr_scheduler(self) -> str | dict | None: ...

    @property
    def patience(self) -> int: ...

    @property
    def grad_clip(self) -> float: ...


@dataclass(frozen=True, kw_only=True)
class NoParams(Validated):
    """The parameters of a method that has none."""


def global_rows(b: Slates, m: int = 1) -> torch.Tensor:
    """Rows of this process's lists, each repeated ``m`` times, among the global batch's ``n_global * m`` rows."""
    return (b.positions[:, None] * m + torch.arange(m)).reshape(-1)


@dataclass(kw_only=True)
class FitContext:
    """Everything a method's ``fit`` needs; built by the trainer from the run's plan (keyword-only)."""

    method: str
    train: RankingDataset
    vali: RankingDataset
    reference: Scorer
    run_dir: Path
    stage2: Stage2Settings
    params: Any  # the method's own ``Params``, resolved
    scorer: ScorerConfig  # the resolved architecture of a conditioned model (one-model methods)
    learning_rates: dict[str, float]  # per parameter group, as the plan states them
    seed: int
    batch_size: int
    slate_length: int | None
    front_k: int
    val_weights: np.ndarray  # [points, objectives] validation grid (early stopping, validation hypervolume)
    member_weights: np.ndarray  # [members, objectives] training weights of the multi-run methods
    ref_point: Any = None
    progress: bool = True
    resume: dict | None = None  # the run's checkpoint.pt, when resuming
    callbacks: tuple = ()  # engine callbacks (runs.callbacks) added to every stage
    blank_policy: str = "skip"  # validation counts blank queries as the run's evaluation does
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"

    @property
    def n_objectives(self) -> int:
        return self.train.n_objectives

    def loader(self) -> SlateLoader:
        """The stage-2 training loader (shuffled slates; the same batches for every stage-2 model)."""
        return SlateLoader(self.train, self.batch_size, slate_length=self.slate_length, shuffle=True,
                           seed=self.seed + STAGE2_LOADER_OFFSET)

    def val_grid(self) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.val_weights, dtype=np.float32)).to(self.device)

    def validation_set(self) -> ValidationSet:
        """The validation split gathered once, on the training device."""
        return ValidationSet(self.vali, device=self.device)

    def tie_noise(self, b: Slates, gen: torch.Generator, shape: tuple[int, ...], m: int = 1) -> torch.Tensor | None:
        """Random tie-break draws ``[rows, *shape]`` for this process's lists (each repeated ``m`` times), taken
        from draws for the whole global batch: the same whatever the number of processes. ``None`` with
        ``tie_break: first``."""
        if self.stage2.tie_break != "random":
            return None
        return torch.rand((b.n_global * m, *shape), generator=gen)[global_rows(b, m)].to(self.device)

    def fit_stage(self, name: str, stage_id: int, model: torch.nn.Module,
                  loss_fn: LossFn, val_fn: Callable[[], dict], val_key: str,
                  checkpoint_dir: Path, resume: dict | None, param_groups: list | None = None) -> StageState:
        """Train ``model`` with the shared loop under the stage-2 settings (``param_groups`` carry their own
        learning rates; without them the whole model learns at ``stage2.lr``)."""
        p = self.stage2
        loader = self.loader()
        sched, sched_args = parse_schedule(p.lr_scheduler)
        stage = Stage(name=name, stage_id=stage_id, model=model, loss_fn=loss_fn, batches=loader.epoch_batches,
                      epochs=p.epochs, lr=p.lr, weight_decay=p.weight_decay, grad_clip=p.grad_clip,
                      n_batches=len(loader), param_groups=param_groups, val_fn=val_fn,
                      val_key=val_key, patience=p.patience,
                      scheduler_fn=make_scheduler(sched, sched_args, p.epochs),
                      scheduler_needs_metric=needs_metric(sched), shard=Slates.shard, device=self.device,
                      precision=self.precision)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        return run_stage(stage, checkpoint_dir / "checkpoint.pt", self.seed, resume=resume, progress=self.progress,
                         log_path=self.run_dir / "log.jsonl", callbacks=self.callbacks)


@dataclass
class FitOutcome:
    """What ``fit`` returns: the trained ranker, the per-epoch history and the validation hypervolume of what was
    kept."""

    ranker: Ranker
    history: list
    val_hypervolume: float


class Method:
    """A stage-2 method. Subclasses set ``name``, ``label``, ``multi_run``, ``Params`` (their own validated
    parameters) and implement ``fit`` / ``load``; ``learning_rates`` states each parameter group's rate."""

    name: str = ""
    label: str = ""
    multi_run: bool = False  # one model per training weight (the budget of M runs) rather than one model
    Params: type = NoParams

    def learning_rates(self, stage2: Stage2Settings, params: Any, scorer: ScorerConfig) -> dict[str, float]:
        """The learning rate of each parameter group the method's optimizer will hold (recorded in the plan)."""
        return {"model": stage2.lr}

    def training_weights(self, n_objectives: int, params: Any) -> np.ndarray | None:
        """``[members, objectives]``: the weights a multi-run method trains its members at (``None``: one model)."""
        return None

    def fit(self, ctx: FitContext) -> FitOutcome:
        """Train into ``ctx.run_dir``; write ``method.json`` (and the model files) there."""
        raise NotImplementedError

    def load(self, run_dir: Path, reference: Scorer, meta: dict) -> Ranker:
        """The trained ranker of a finished run (``meta`` is its ``method.json``)."""
        raise NotImplementedError


def write_method_json(run_dir: Path, method: str, members: list[dict], beta: float) -> None:
    """``method.json``: the method, its members (``w`` and model path) and the training temperature."""
    atomic_write_json(run_dir / "method.json", {"method": method, "members": members, "beta": beta})
