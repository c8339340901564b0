"""ltr_hyperdpo: multi-objective listwise learning-to-rank with HyperDPO (COS-DPO).

Train one model on data labelled for several objectives and pick the trade-off after training::

    import ltr_hyperdpo as lh
    result = lh.train(lh.RunConfig.from_dict({"data": {"train": "train.parquet", "test": "test.parquet"}}), "runs/x")
    run = lh.load_run("runs/x")

The LLM entry points live in :mod:`ltr_hyperdpo.llm`. The public names resolve on first use (PEP 562), so importing
the package (and starting the CLI) does not load torch until something needs it.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .data import RankingDataset, convert
    from .errors import ConfigError, DataError, UserError
    from .eval import FrontResult, evaluate_front
    from .models import Ranker
    from .serving import MultiObjectiveRanker, Run, load_run
    from .training import RunConfig, RunResult, train

#: public name -> the module that defines it
_EXPORTS = {"train": ".training", "RunConfig": ".training", "RunResult": ".training", "load_run": ".serving",
            "Run": ".serving", "MultiObjectiveRanker": ".serving", "RankingDataset": ".data", "convert": ".data",
            "evaluate_front": ".eval", "FrontResult": ".eval", "Ranker": ".models", "UserError": ".errors",
            "ConfigError": ".errors", "DataError": ".errors"}

__all__ = ["__version__", "train", "load_run", "Run", "RunConfig", "RunResult", "RankingDataset", "convert",
           "evaluate_front", "FrontResult", "Ranker", "MultiObjectiveRanker", "UserError", "ConfigError", "DataError"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ltr_hyperdpo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
