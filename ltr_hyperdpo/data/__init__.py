"""Ranking data: LETOR/SVMlight readers, Arrow storage, objectives, normalisation, batching, synthetic data."""
from .conversion import convert
from .dataset import DatasetState, RankingDataset, load_splits
from .letor import LetorFormatError, parse_letor
from .objectives import PRESETS, ObjectiveSpec, parse_objectives

__all__ = ["convert", "RankingDataset", "DatasetState", "load_splits", "LetorFormatError", "parse_letor",
           "ObjectiveSpec", "PRESETS", "parse_objectives"]
