"""Configuration of an LLM HyperDPO run (validated when loaded; saved as config.json in the run directory)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import defaults
from ..config import FieldError, Validated, from_dict, load_config_file, opt, to_dict

#: keys a ``--resume`` may change: they do not change the result
RESUME_HARMLESS_KEYS = ("progress", "threads")


@dataclass(kw_only=True)
class LLMConfig(Validated):
    """Model, data, Hyper Prompt Tuning and training settings.

    ``model`` is a Hugging Face directory, a GGUF file or a known model's name (``smollm2``; see
    :mod:`ltr_hyperdpo.llm.gguf`). ``lora``, ``precision`` and ``dtype`` may be ``auto``; their rules are in
    :mod:`ltr_hyperdpo.llm.plan`, and what they resolved to is written to the run's ``plan.json``.
    ``grad_clip`` bounds the gradient norm of each optimizer group separately (the prompt network; the adapters):
    the adapters' gradient, summed over hundreds of matrices, would otherwise dominate a joint norm and shrink the
    prompt network's steps, which carry the steering. ``lora_lr``: the adapters' learning rate (``None``: ``lr``
    times :data:`~ltr_hyperdpo.defaults.LLM_LORA_LR_SCALE`, recorded in ``plan.json``). ``gradient_checkpointing``
    recomputes the decoder's activations in the backward pass (less memory, ~30 % more compute); off by default
    because at the sequence lengths of preference data memory is not what limits a 135M model. ``group_by_length``
    forms each epoch's batches from lists of similar length (among ~50 batches' worth of lists at a time, then the
    batches shuffled), so less of every forward pass is padding. ``chat_template``: how a plain-text prompt is
    rendered (see :attr:`ltr_hyperdpo.llm.tokenize.TextTokenizer.templates_text`).
    """

    model: str = ""
    tokenizer: str | None = None
    data: str = ""
    source: str = "jsonl"
    heldout: str | None = None
    heldout_fraction: float = opt(0.2, gt=0.0, lt=1.0)
    max_train_lists: int | None = opt(None, ge=1)
    list_size: int = opt(4, ge=2)
    max_prompt_tokens: int = opt(64, ge=1)
    max_length: int | None = opt(None, ge=2)
    n_prompts: int = opt(4, ge=1)
    prompt_hidden: int = opt(64, ge=1)
    temperature_conditioned: bool = False
    beta: float = opt(defaults.LLM_BETA, gt=0.0)
    beta_range: list[float] = opt(factory=lambda: list(defaults.LLM_BETA_RANGE), items_gt=0.0, length=2)
    alpha: float = opt(defaults.ALPHA, gt=0.0)
    lr: float = opt(defaults.LLM_LR, gt=0.0)
    lora_lr: float | None = opt(None, gt=0.0)
    weight_decay: float = opt(0.0, ge=0.0)
    epochs: int = opt(1, ge=1)
    batch_lists: int = opt(2, ge=1)
    grad_accum: int = opt(4, ge=1)
    grad_clip: float = opt(defaults.LLM_GRAD_CLIP, ge=0.0)
    lora: dict | Literal["auto"] | None = "auto"
    gradient_checkpointing: bool = False
    group_by_length: bool = True
    seed: int = opt(defaults.SEED, ge=0)
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    chat_template: Literal["auto", "on", "off"] = "auto"
    eval_grid: int = opt(5, ge=1)
    eval_max_lists: int | None = opt(100, ge=1)
    eval_list_size: int | None = opt(8, ge=2)
    threads: int | None = opt(None, ge=1)
    progress: bool = True

    def check(self) -> None:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise FieldError("device", f"expected auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.beta_range[0] > self.beta_range[1]:
            raise FieldError("beta_range", f"must be [low, high] with low <= high, got {self.beta_range}")

    @classmethod
    def from_dict(cls, d: dict) -> LLMConfig:
        """Build and validate from a mapping."""
        return from_dict(cls, d)

    @classmethod
    def load(cls, path: str | Path) -> LLMConfig:
        """Read and validate a JSON or YAML LLM config."""
        return cls.from_dict(load_config_file(path))

    def to_dict(self) -> dict:
        return to_dict(self)
