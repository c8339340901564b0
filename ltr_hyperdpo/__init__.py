"""ltr_hyperdpo: multi-objective listwise learning-to-rank with HyperDPO (COS-DPO).

Train one model on data labelled for several objectives and pick the trade-off after training::

    import ltr_hyperdpo as lh
    result = lh.train(lh.RunConfig.from_dict({"data": {"train": "train.parquet", "test": "test.parquet"}}), "runs/x")
    run = lh.load_run("runs/x")

The LLM entry points live in :mod:`ltr_hyperdpo.llm`. The public names resolve on first use (PEP 562), so importing
the package (and starting the CLI) does not load torch until something needs it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__

if TYPE_CHECKING:
    from .data import RankingDataset, convert
    from .errors import ConfigError, DataError, UserError
    from .eval import FrontResult, evaluate_front
    from .models import Ranker
    from .serving import MultiObjectiveRanker, Run, load_run
    from .training import RunConfig, RunResult, train

#: public name -> (module, name there)
_EXPORTS = {
    "train": (".training", "train"),
    "RunConfig": (".training", "RunConfig"),
    "RunResult": (".training", "RunResult"),
    "load_run": (".serving", "load_run"),
    "Run": (".serving", "Run"),
    "MultiObjectiveRanker": (".serving", "MultiObjectiveRanker"),
    "RankingDataset": (".data", "RankingDataset"),
    "convert": (".data", "convert"),
    "evaluate_front": (".eval", "evaluate_front"),
    "FrontResult": (".eval", "FrontResult"),
    "Ranker": (".models", "Ranker"),
    "UserError": (".errors", "UserError"),
    "ConfigError": (".errors", "ConfigError"),
    "DataError": (".errors", "DataError"),
}

__all__ = ["__version__", "train", "load_run", "Run", "RunConfig", "RunResult", "RankingDataset", "convert",
           "evaluate_front", "FrontResult", "Ranker", "MultiObjectiveRanker", "UserError", "ConfigError", "DataError"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
