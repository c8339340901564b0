"""Run infrastructure shared by the LTR trainer and the LLM trainer: atomic writes, run-directory locking,
checkpoints, progress output, and the one training loop."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .checkpoint import load as load_checkpoint
    from .checkpoint import save_atomic
    from .io import append_jsonl, atomic_path, atomic_write_json, atomic_write_text, dumps_json, jsonable
    from .loop import Stage, StageState, epoch_seed, run_stage
    from .progress import progress_bar, say
    from .device import set_threads
    from .rundir import RunLock, check_new_or_resume

#: public name -> (module, name there): resolved on first use (PEP 562), so importing one light module of this
#: package (a constant, the atomic writer) does not load the heavy ones (torch)
_EXPORTS = {
    "load_checkpoint": (".checkpoint", "load"),
    "save_atomic": (".checkpoint", "save_atomic"),
    "append_jsonl": (".io", "append_jsonl"),
    "atomic_path": (".io", "atomic_path"),
    "atomic_write_json": (".io", "atomic_write_json"),
    "atomic_write_text": (".io", "atomic_write_text"),
    "dumps_json": (".io", "dumps_json"),
    "jsonable": (".io", "jsonable"),
    "Stage": (".loop", "Stage"),
    "StageState": (".loop", "StageState"),
    "epoch_seed": (".loop", "epoch_seed"),
    "run_stage": (".loop", "run_stage"),
    "progress_bar": (".progress", "progress_bar"),
    "say": (".progress", "say"),
    "RunLock": (".rundir", "RunLock"),
    "check_new_or_resume": (".rundir", "check_new_or_resume"),
    "set_threads": (".device", "set_threads"),
}

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_json", "append_jsonl", "dumps_json", "jsonable",
           "save_atomic", "load_checkpoint", "RunLock", "check_new_or_resume", "set_threads", "progress_bar", "say",
           "Stage", "StageState", "epoch_seed", "run_stage"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
