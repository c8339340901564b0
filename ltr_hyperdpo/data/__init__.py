"""Ranking data: LETOR/SVMlight readers, Arrow storage, objectives, normalisation, batching, synthetic data."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .conversion import convert
    from .dataset import RankingDataset
    from .letor import LetorFormatError, parse_letor
    from .objectives import PRESETS, ObjectiveSpec, parse_objectives
    from .splits import load_splits
    from .state import DatasetState

#: public name -> (module, name there): resolved on first use (PEP 562), so importing one light module of this
#: package (a constant, the atomic writer) does not load the heavy ones (torch)
_EXPORTS = {
    "convert": (".conversion", "convert"),
    "DatasetState": (".state", "DatasetState"),
    "RankingDataset": (".dataset", "RankingDataset"),
    "load_splits": (".splits", "load_splits"),
    "LetorFormatError": (".letor", "LetorFormatError"),
    "parse_letor": (".letor", "parse_letor"),
    "PRESETS": (".objectives", "PRESETS"),
    "ObjectiveSpec": (".objectives", "ObjectiveSpec"),
    "parse_objectives": (".objectives", "parse_objectives"),
}

__all__ = ["convert", "RankingDataset", "DatasetState", "load_splits", "LetorFormatError", "parse_letor",
           "ObjectiveSpec", "PRESETS", "parse_objectives"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
