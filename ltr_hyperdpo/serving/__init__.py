"""Using a trained run: scoring new data (Python and ``predict``), TREC runs and qrels, an estimator for Python
pipelines, a PyTerrier re-ranker, and ONNX export."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .blocks import QueryBlock, docno_of, iter_blocks
    from .estimator import MultiObjectiveRanker
    from .run import Run, check_preference, load_run

#: public name -> (module, name there): resolved on first use (PEP 562), so importing one light module of this
#: package (a constant, the atomic writer) does not load the heavy ones (torch)
_EXPORTS = {
    "QueryBlock": (".blocks", "QueryBlock"),
    "docno_of": (".blocks", "docno_of"),
    "iter_blocks": (".blocks", "iter_blocks"),
    "MultiObjectiveRanker": (".estimator", "MultiObjectiveRanker"),
    "Run": (".run", "Run"),
    "check_preference": (".run", "check_preference"),
    "load_run": (".run", "load_run"),
}

__all__ = ["Run", "load_run", "check_preference", "QueryBlock", "iter_blocks", "docno_of", "MultiObjectiveRanker"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
