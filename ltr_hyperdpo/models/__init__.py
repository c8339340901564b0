"""Scorers, their conditioning on (w, β), and the trained rankers' one interface."""
from .io import load_scorer, save_scorer
from .ranker import HyperDPORanker, MemberRanker, Ranker, ReferenceRanker, SoupRanker
from .scorers import MLPScorer, ModelConfig, Scorer, ScorerConfig, TransformerScorer, build_scorer, conditioned_copy

__all__ = ["ModelConfig", "ScorerConfig", "Scorer", "MLPScorer", "TransformerScorer", "build_scorer",
           "conditioned_copy", "Ranker", "HyperDPORanker", "MemberRanker", "SoupRanker", "ReferenceRanker",
           "save_scorer", "load_scorer"]
