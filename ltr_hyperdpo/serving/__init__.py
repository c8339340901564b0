"""Using a trained run: scoring new data (Python and ``predict``), TREC runs and qrels, an estimator for Python
pipelines, a PyTerrier re-ranker, and ONNX export."""
from .blocks import QueryBlock, docno_of, iter_blocks
from .estimator import MultiObjectiveRanker
from .run import Run, check_preference, load_run

__all__ = ["Run", "load_run", "check_preference", "QueryBlock", "iter_blocks", "docno_of", "MultiObjectiveRanker"]
