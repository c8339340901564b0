"""Devices and numeric precision for training, evaluation and scoring.

``device``: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:i``; under torchrun each process
takes ``cuda:LOCAL_RANK``. ``precision``: ``fp32``; ``bf16`` (autocast to bfloat16, CPU or GPU); ``fp16-amp``
(autocast to float16 with a gradient scaler, GPU only).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch

from ..errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16-amp")


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device for a config value; asking for CUDA where there is none is a clear error."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r}: CUDA is not available here (torch {torch.__version__}); use cpu "
                              f"or auto")
        if spec == "cuda" and "LOCAL_RANK" in os.environ:
            spec = f"cuda:{os.environ['LOCAL_RANK']}"
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if spec != "cpu":
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    return torch.device("cpu")


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp16-amp" and device.type != "cuda":
        raise ConfigError("precision fp16-amp needs a CUDA device (use bf16 on the CPU)")


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """The forward passes' precision context (a no-op for fp32)."""
    if precision == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(precision: str, device: torch.device) -> Any:
    """A gradient scaler for fp16 autocast, else ``None``."""
    return torch.amp.GradScaler(device.type) if precision == "fp16-amp" else None


def to_device(batch: Any, device: torch.device) -> Any:
    """A batch on ``device`` (pinned host memory and non-blocking copies toward CUDA)."""
    if device.type == "cpu" or not hasattr(batch, "to"):
        return batch
    return batch.to(device)


def set_threads(threads: int | None) -> None:
    """Apply the torch intra-op thread count when one is given."""
    if threads:
        torch.set_num_threads(threads)
