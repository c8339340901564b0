"""Configuration of a training run (saved as config.json next to the run's outputs)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import from_dict, load_config_file, to_dict
from ..models.scorers import ScorerConfig

from ..losses import LOSSES

REFERENCE_LOSSES = tuple(LOSSES)


@dataclass
class DataConfig:
    """Splits (LETOR text or converted files), objectives, and batching."""

    train: str = ""
    vali: str | None = None
    test: str | None = None
    objectives: str | list | None = None
    normalize: bool = True
    slate_length: int = 120
    batch_size: int = 32
    vali_fraction: float = 0.15


@dataclass
class ReferenceConfig:
    """Stage 1: the reference scorer, trained on the main objective alone (or loaded)."""

    loss: str = "listnet"
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 5
    grad_clip: float = 5.0
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        if self.loss not in REFERENCE_LOSSES:
            raise ValueError(f"reference.loss must be one of {REFERENCE_LOSSES}, got {self.loss!r}")


@dataclass
class HyperDPOConfig:
    """Stage 2: one-shot HyperDPO fine-tuning of a conditioned copy against the frozen reference."""

    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-5
    alpha: float | list = 0.5
    beta: float = 1.0
    beta_range: list[float] = field(default_factory=lambda: [0.5, 2.0])
    top_k: int | None = None
    tie_break: str = "random"
    patience: int = 5
    grad_clip: float = 5.0
    cond_lr_mult: float = 1.0
    cosmos_lambda: float = 1.0
    modpo_margin_scale: float = 1.0
    modpo_w0_min: float = 0.05

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ValueError("hyperdpo.beta must be positive")


@dataclass
class EvalConfig:
    """Evaluation: NDCG cut-offs (the first is the front's metric), grids, blank-query policy, HV reference point."""

    ks: list[int] = field(default_factory=lambda: [10, 5])
    val_grid: int = 5
    grid: int = 11
    grid_method: str = "auto"
    blank_policy: str = "skip"
    ref_point: float | list | None = None


@dataclass
class RunConfig:
    """A whole run: data, model, the two stages, evaluation."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ScorerConfig = field(default_factory=ScorerConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    hyperdpo: HyperDPOConfig = field(default_factory=HyperDPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    method: str = "hyperdpo"
    seed: int = 0
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        from .methods import METHODS

        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; available: {', '.join(METHODS)}")

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        return from_dict(cls, d)

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        return cls.from_dict(load_config_file(path))

    def to_dict(self) -> dict:
        return to_dict(self)
