"""ltr_hyperdpo: multi-objective listwise learning-to-rank with HyperDPO (COS-DPO).

Train one model on data labelled for several objectives and pick the trade-off after training::

    import ltr_hyperdpo as lh
    result = lh.train(lh.RunConfig.from_dict({"data": {"train": "train.parquet", "test": "test.parquet"}}), "runs/x")
    run = lh.load_run("runs/x")

The LLM entry points live in :mod:`ltr_hyperdpo.llm`.
"""
from ._version import __version__
from .data import RankingDataset, convert
from .errors import ConfigError, DataError, UserError
from .eval import FrontResult, evaluate_front
from .models import Ranker
from .serving import MultiObjectiveRanker, Run, load_run
from .training import RunConfig, RunResult, train

__all__ = ["__version__", "train", "load_run", "Run", "RunConfig", "RunResult", "RankingDataset", "convert",
           "evaluate_front", "FrontResult", "Ranker", "MultiObjectiveRanker", "UserError", "ConfigError", "DataError"]
