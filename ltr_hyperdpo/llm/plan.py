"""What an LLM run resolves from its config (the ``auto`` settings), recorded as ``plan.json`` in the run directory.

The config stays the user's intent (``lora: auto``, ``precision: auto``); the plan holds what was used:

* ``lora`` -- ``auto`` gives :data:`~ltr_hyperdpo.defaults.LLM_LORA` (rank 8 per objective on ``q_proj``/``v_proj``,
  mixed by w; its comment says why) when the base model has at least
  :data:`~ltr_hyperdpo.defaults.LLM_LORA_MIN_PARAMETERS` parameters, none below. Why adapters: soft prompts act
  on the model only through attention to a few positions at the start; in a deep model their effect on tokens far
  into a response fades, while adapters change every position's computation. A small model (the 1M TinyStories
  model of the fast tests) is steered by prompts alone, and adapters there would be most of its size.
* ``precision`` -- ``auto`` is ``bf16`` autocast on CUDA and on a CPU with native bfloat16 dot products (AVX512-BF16
  or AMX), ``fp32`` elsewhere. Why: bfloat16 halves the bytes every matmul moves and those instructions do the
  products natively; the log-softmax, the log-probability sums and the PL-DPO loss stay in float32, so only the
  matmul inputs lose precision (8 mantissa bits), far below the reward differences DPO trains on (tens of nats).
  Without native support bfloat16 is emulated and slower, so fp32 is kept.
* ``dtype`` -- ``auto`` keeps float32 weights on the CPU and bfloat16 on CUDA.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .. import defaults
from .config import LLMConfig


@dataclass(frozen=True)
class LLMPlan:
    """The resolved settings of an LLM run."""

    device: str
    dtype: str
    precision: str
    lora: dict | None
    learning_rates: dict
    base_parameters: int
    gradient_checkpointing: bool

    def to_dict(self) -> dict:
        return asdict(self)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matmuls natively (CUDA, or a CPU with AVX512-BF16 or AMX tiles)."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(cfg: LLMConfig, device: torch.device) -> str:
    """``fp32`` or ``bf16`` (the rule is in the module docstring)."""
    if cfg.precision != "auto":
        return cfg.precision
    return "bf16" if native_bf16(device) else "fp32"


def resolve_learning_rates(cfg: LLMConfig, lora: dict | None) -> dict:
    """``{"prompt_net": lr, "adapters": lora_lr}`` (adapters only when there are some; ``lora_lr`` unset: ``lr`` times
    :data:`~ltr_hyperdpo.defaults.LLM_LORA_LR_SCALE`)."""
    out = {"prompt_net": cfg.lr}
    if lora:
        out["adapters"] = cfg.lora_lr if cfg.lora_lr is not None else cfg.lr * defaults.LLM_LORA_LR_SCALE
    return out


def resolve_lora(cfg: LLMConfig, base_parameters: int) -> dict | None:
    """The LoRA settings used (the rule is in the module docstring); an explicit mapping is completed from
    :data:`~ltr_hyperdpo.defaults.LLM_LORA` (its keys' types were checked when the config was loaded)."""
    if cfg.lora == "auto":
        return dict(defaults.LLM_LORA) if base_parameters >= defaults.LLM_LORA_MIN_PARAMETERS else None
    if not cfg.lora:
        return None
    return {**defaults.LLM_LORA, **cfg.lora}
