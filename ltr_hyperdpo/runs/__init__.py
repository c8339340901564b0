"""The training engine shared by the LTR trainer and the LLM trainer: the one training loop and its callbacks,
devices and precision, torchrun / DDP, the run-directory lock, input fingerprints and learning-rate schedules.

Generic utilities (atomic writes, checkpoint files, memory release, progress output) live in
:mod:`ltr_hyperdpo.utils`."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .device import set_threads
    from .loop import Stage, StageState, epoch_seed, run_stage
    from .rundir import RunLock, check_new_or_resume

#: public name -> (module, name there): resolved on first use (PEP 562), so importing one light module of this
#: package does not load the heavy ones (torch)
_EXPORTS = {
    "Stage": (".loop", "Stage"),
    "StageState": (".loop", "StageState"),
    "epoch_seed": (".loop", "epoch_seed"),
    "run_stage": (".loop", "run_stage"),
    "RunLock": (".rundir", "RunLock"),
    "check_new_or_resume": (".rundir", "check_new_or_resume"),
    "set_threads": (".device", "set_threads"),
}

__all__ = ["RunLock", "check_new_or_resume", "set_threads", "Stage", "StageState", "epoch_seed", "run_stage"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
