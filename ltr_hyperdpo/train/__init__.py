"""Training: the reference stage, one-shot HyperDPO, checkpoints and resume."""
from .api import RunResult, load_run, train
from .config import DataConfig, EvalConfig, HyperDPOConfig, ReferenceConfig, RunConfig
from .loop import TrainingDivergedError

__all__ = ["train", "load_run", "RunResult", "RunConfig", "DataConfig", "ReferenceConfig", "HyperDPOConfig",
           "EvalConfig", "TrainingDivergedError"]
