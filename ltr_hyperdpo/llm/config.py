"""Configuration of an LLM HyperDPO run (saved as config.json in the run directory)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import from_dict, load_config_file, to_dict


@dataclass
class LLMConfig:
    """Model, data, Hyper Prompt Tuning and training settings."""

    model: str = ""
    tokenizer: str | None = None
    data: str = ""
    source: str = "jsonl"
    heldout: str | None = None
    heldout_fraction: float = 0.2
    max_train_lists: int | None = None
    list_size: int = 4
    max_prompt_tokens: int = 64
    max_length: int | None = None
    n_prompts: int = 4
    prompt_hidden: int = 64
    temperature_conditioned: bool = False
    beta: float = 0.1
    beta_range: list[float] = field(default_factory=lambda: [0.05, 0.5])
    alpha: float = 0.5
    lr: float = 3e-3
    weight_decay: float = 0.0
    epochs: int = 1
    batch_lists: int = 2
    grad_accum: int = 4
    grad_clip: float = 1.0
    lora: dict | None = None
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    eval_grid: int = 5
    eval_max_lists: int | None = 100
    eval_list_size: int | None = 8
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.list_size < 2:
            raise ValueError("list_size must be >= 2")
        if self.beta <= 0:
            raise ValueError("beta must be positive")
        if self.grad_accum < 1 or self.batch_lists < 1:
            raise ValueError("batch_lists and grad_accum must be >= 1")

    @classmethod
    def from_dict(cls, d: dict) -> "LLMConfig":
        return from_dict(cls, d)

    @classmethod
    def load(cls, path: str | Path) -> "LLMConfig":
        return cls.from_dict(load_config_file(path))

    def to_dict(self) -> dict:
        return to_dict(self)
