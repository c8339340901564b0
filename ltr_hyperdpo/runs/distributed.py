"""Several processes (``torchrun``): PyTorch's process group from the launcher's environment, and the few
collective operations the training loop needs. One process is the default and needs none of this.

    torchrun --standalone --nproc-per-node 2 -m ltr_hyperdpo train --config run.yaml --out runs/x

Rank 0 owns the run directory (lock, checkpoints, logs, outputs) and validates; every rank trains on its slice of
each global batch under DistributedDataParallel (gloo on CPU, nccl on GPU).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..errors import RAISED_ON_RANK0

T = TypeVar("T")



@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world`` processes (``local_rank`` on its machine)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def info() -> DistInfo:
    """The process group as initialised (a single process when none is)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return DistInfo()


def init_from_env(device_type: str = "cpu") -> DistInfo:
    """Join the process group described by ``torchrun``'s environment (``WORLD_SIZE`` > 1), once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available() and not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return info()


def collective_device() -> torch.device:
    """Where tensors of a collective (all-reduce) must live: the current CUDA device under ``nccl`` (which reduces
    CUDA tensors only: ``Backend.backend_capability['nccl'] == ['cuda']``), else the CPU (``gloo``, one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: list[float]) -> list[float]:
    """The sums of ``values`` over every process (the values themselves with one process)."""
    if not info().active:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=collective_device())
    dist.all_reduce(t)
    return t.cpu().tolist()


def is_main() -> bool:
    """Whether this process writes the run directory (rank 0, or the only process)."""
    return info().main


def barrier() -> None:
    if info().active:
        dist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info().active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(fn: Callable[[], T]) -> T | None:
    """``fn()`` on rank 0 alone (``None`` elsewhere), then a barrier; an exception there is raised on every
    process, so that none waits for a rank 0 that has stopped."""
    d = info()
    if not d.active:
        return fn()
    err: BaseException | None = None
    out: T | None = None
    if d.main:
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 - re-raised below, on every process
            err = e
    err = broadcast(err)
    if err is not None:
        if not d.main:
            setattr(err, RAISED_ON_RANK0, True)
        raise err
    return out


def shutdown() -> None:
    """Leave the process group (at the end of a command), so the process exits without gloo's abort message."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
