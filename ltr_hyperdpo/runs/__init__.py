"""Run infrastructure shared by the LTR trainer and the LLM trainer: atomic writes, run-directory locking,
checkpoints, progress output, and the one training loop."""
from .checkpoint import load as load_checkpoint
from .checkpoint import save_atomic
from .io import append_jsonl, atomic_path, atomic_write_json, atomic_write_text, dumps_json, jsonable
from .loop import Stage, StageState, epoch_seed, run_stage
from .progress import progress_bar, say
from .rundir import RunLock, check_new_or_resume, set_threads

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_json", "append_jsonl", "dumps_json", "jsonable",
           "save_atomic", "load_checkpoint", "RunLock", "check_new_or_resume", "set_threads", "progress_bar", "say",
           "Stage", "StageState", "epoch_seed", "run_stage"]
