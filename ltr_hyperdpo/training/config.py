"""Configuration of a training run (validated when loaded; saved as config.json next to the run's outputs)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config import FieldError, Validated, from_dict, load_config_file, opt, to_dict
from ..data.textio import split_files
from ..errors import ConfigError
from ..losses import ALLRANK_NAMES, LOSSES, get_loss, resolve_loss
from ..methods.registry import method_names
from ..models.scorers import ModelConfig
from ..runs.schedules import parse_schedule

REFERENCE_LOSSES = tuple(LOSSES)


def check_schedule(spec: str | dict | None) -> None:
    """A learning-rate schedule spec must parse (see :mod:`ltr_hyperdpo.runs.schedules`)."""
    try:
        parse_schedule(spec)
    except ValueError as e:
        raise FieldError("lr_scheduler", str(e)) from None


@dataclass
class DataConfig(Validated):
    """Splits (LETOR text or converted files), objectives, and batching."""

    train: str = ""
    vali: str | None = None
    test: str | None = None
    objectives: str | list | None = None
    normalize: bool = True
    slate_length: int = opt(120, ge=2)
    batch_size: int = opt(32, ge=1)
    vali_fraction: float = opt(0.15, ge=0.0, lt=1.0)
    cache_dir: str | None = None  # text splits are converted once to Arrow here (default: RUN_DIR/data_cache)

    def check(self) -> None:
        if self.train and Path(self.train).is_dir():  # allRank's layout: a folder of train/vali/test files
            found = split_files(self.train)
            if "train" not in found:
                raise FieldError("train", f"{self.train} is a folder without a train split (train.txt, "
                                          f"train.parquet or train.arrow)")
            self.train = found["train"]
            self.vali = self.vali or found.get("vali")
            self.test = self.test or found.get("test")
        if not self.vali and self.vali_fraction <= 0:
            raise FieldError("vali_fraction", "must be > 0 when no data.vali split is given (a validation split is "
                                              "needed for early stopping)")


@dataclass
class ReferenceConfig(Validated):
    """Stage 1: the reference scorer, trained on the main objective alone (or loaded)."""

    loss: str = "listnet"
    loss_args: dict = field(default_factory=dict)
    epochs: int = opt(20, ge=1)
    lr: float = opt(1e-3, gt=0.0)
    weight_decay: float = opt(1e-5, ge=0.0)
    patience: int = opt(5, ge=1)
    grad_clip: float = opt(5.0, ge=0.0)
    lr_scheduler: str | dict | None = None
    checkpoint: str | None = None

    def check(self) -> None:
        check_schedule(self.lr_scheduler)
        try:  # allRank's names and arguments are aliases: stored under ours
            self.loss, self.loss_args, _ = resolve_loss(self.loss, self.loss_args)
        except ValueError as e:
            raise FieldError("loss_args", str(e)) from None
        if self.loss not in REFERENCE_LOSSES:
            raise FieldError("loss", f"expected one of {', '.join(REFERENCE_LOSSES)} (or allRank's "
                                     f"{', '.join(ALLRANK_NAMES)}), got {self.loss!r}")
        try:
            get_loss(self.loss, **self.loss_args)
        except ValueError as e:
            raise FieldError("loss_args", str(e)) from None


@dataclass
class HyperDPOConfig(Validated):
    """Stage 2: fine-tuning against the frozen reference (all methods read these)."""

    epochs: int = opt(20, ge=1)
    lr: float = opt(1e-3, gt=0.0)
    weight_decay: float = opt(1e-5, ge=0.0)
    alpha: float | list[float] = opt(0.3, gt=0.0, items_gt=0.0)
    beta: float = opt(1.0, gt=0.0)
    beta_range: list[float] = opt(factory=lambda: [0.5, 2.0], items_gt=0.0, length=2)
    top_k: int | None = opt(None, ge=1)
    tie_break: Literal["random", "first"] = "random"
    patience: int = opt(5, ge=1)
    grad_clip: float = opt(5.0, ge=0.0)
    members: int | None = opt(None, ge=1)
    lr_scheduler: str | dict | None = None
    # None: 8 for an MLP conditioned in its output layer only (each extra weight costs one small head), else 2
    weights_per_list: int | None = opt(None, ge=1)
    # None: 0.85 for an MLP conditioned in its output layer only (scores affine in w: each head is pinned down at its
    # vertex), else 0.2
    vertex_prob: float | None = opt(None, ge=0.0, le=1.0)
    # the conditioning network learns at this multiple of lr: the trunk moves slowly (the reference's ranking is kept
    # at w = e_main), the trade-off head fast
    cond_lr_mult: float = opt(2.0, gt=0.0)
    cosmos_lambda: float = opt(1.0, ge=0.0)
    modpo_margin_scale: float = 1.0
    modpo_w0_min: float = opt(0.05, gt=0.0, le=1.0)

    def check(self) -> None:
        check_schedule(self.lr_scheduler)
        if self.beta_range[0] > self.beta_range[1]:
            raise FieldError("beta_range", f"must be [low, high] with low <= high, got {self.beta_range}")


@dataclass
class EvalConfig(Validated):
    """Evaluation: NDCG cut-offs (the first is the front's metric), grids, blank-query policy, HV reference point."""

    ks: list[int] = opt(factory=lambda: [10, 5], items_ge=1)
    val_grid: int = opt(5, ge=2)
    grid: int | None = opt(None, ge=1)
    grid_method: Literal["auto", "lattice", "random"] = "auto"
    blank_policy: Literal["skip", "zero", "one"] = "skip"
    ref_point: float | list[float] | None = None

    def check(self) -> None:
        if not self.ks:
            raise FieldError("ks", "needs at least one cut-off")


@dataclass
class RunConfig(Validated):
    """A whole run: data, model, the two stages, evaluation."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    hyperdpo: HyperDPOConfig = field(default_factory=HyperDPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    method: str = "hyperdpo"
    seed: int = opt(0, ge=0)
    threads: int | None = opt(None, ge=1)
    progress: bool = True
    device: str = opt("auto", doc="auto (CUDA when present), cpu, cuda or cuda:N; cuda:LOCAL_RANK under torchrun")
    precision: Literal["fp32", "bf16", "fp16-amp"] = "fp32"

    def check(self) -> None:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise FieldError("device", f"expected auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.precision == "fp16-amp" and self.device == "cpu":
            raise FieldError("precision", "fp16-amp needs a CUDA device (use bf16 on the CPU)")
        if self.method not in method_names():
            raise FieldError("method", f"expected one of {', '.join(method_names())}, got {self.method!r}")
        lo, hi = self.hyperdpo.beta_range
        if self.model.temperature_conditioned and not lo <= self.hyperdpo.beta <= hi:
            raise FieldError("hyperdpo.beta", f"{self.hyperdpo.beta:g} lies outside hyperdpo.beta_range [{lo:g}, "
                                              f"{hi:g}] of a temperature-conditioned model (the model is validated "
                                              f"and stored at this beta); use a value inside, e.g. the geometric "
                                              f"mean {math.sqrt(lo * hi):.4g}")

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Build and validate a run config from a mapping (unknown keys and bad values name their key)."""
        return from_dict(cls, d)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read and validate a JSON or YAML run config."""
        return cls.from_dict(load_config_file(path))

    def to_dict(self) -> dict:
        return to_dict(self)

    def check_objectives(self, n_objectives: int, source: str = "the training data") -> None:
        """Check every value whose size depends on the number of objectives K, once K is known (before any
        training): a per-objective ``hyperdpo.alpha`` needs K values, ``eval.ref_point`` one or K."""
        a = self.hyperdpo.alpha
        if isinstance(a, list) and len(a) != n_objectives:
            raise ConfigError(f"config key 'hyperdpo.alpha': {len(a)} values for the {n_objectives} objective(s) of "
                              f"{source}; give one value, or one per objective")
        r = self.eval.ref_point
        if isinstance(r, list) and len(r) not in (1, n_objectives):
            raise ConfigError(f"config key 'eval.ref_point': {len(r)} values for the {n_objectives} objective(s) "
                              f"of {source}; give one value, or one per objective")


#: keys that may change on ``--resume`` without changing the result
RESUME_HARMLESS_KEYS = ("progress", "threads", "device", "data.cache_dir")
