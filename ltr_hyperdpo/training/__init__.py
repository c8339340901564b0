"""Training: the reference stage, the stage-2 method, the run directory, and loading a finished run."""
from .api import RunResult, load_run_splits, train, train_worker
from .config import DataConfig, EvalConfig, HyperDPOConfig, ReferenceConfig, RunConfig

__all__ = ["train", "train_worker", "load_run_splits", "RunResult", "RunConfig", "DataConfig", "ReferenceConfig",
           "HyperDPOConfig", "EvalConfig"]
