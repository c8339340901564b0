"""Scorers and their conditioning on (w, β)."""
from .ranker import HyperDPORanker, MemberRanker, ReferenceRanker, SoupRanker
from .scorers import MLPScorer, Scorer, ScorerConfig, TransformerScorer, build_scorer, conditioned_copy

__all__ = ["ScorerConfig", "Scorer", "MLPScorer", "TransformerScorer", "build_scorer", "conditioned_copy",
           "HyperDPORanker", "MemberRanker", "SoupRanker", "ReferenceRanker"]
