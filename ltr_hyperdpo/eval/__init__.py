"""Evaluation: NDCG per objective (ranx for reports, torch for validation), fronts, hypervolume, reports, plots."""
from .front import FrontResult, evaluate_front
from .metrics import BLANK_POLICIES, ndcg_ranx, ndcg_torch
from .pareto import hypervolume, nondominated, reference_point

__all__ = ["FrontResult", "evaluate_front", "ndcg_ranx", "ndcg_torch", "BLANK_POLICIES", "hypervolume",
           "nondominated", "reference_point"]
