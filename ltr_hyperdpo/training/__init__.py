"""Training: the run config (the user's intent), its resolved plan, the reference stage, the stage-2 method, the run
directory."""
from .api import RunResult, load_run_splits, train, train_worker
from .config import (
    DataConfig,
    EvalConfig,
    HyperDPOConfig,
    MethodConfig,
    ReferenceConfig,
    RunConfig,
    method_parameters,
    upgrade,
)
from .plan import DataSummary, RunPlan, locate_splits, resolve, run_plan

__all__ = ["train", "train_worker", "load_run_splits", "RunResult", "RunConfig", "DataConfig", "ReferenceConfig",
           "HyperDPOConfig", "EvalConfig", "MethodConfig", "RunPlan", "DataSummary", "resolve", "locate_splits",
           "run_plan", "upgrade", "method_parameters"]
