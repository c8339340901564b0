"""Ranking data: LETOR/SVMlight readers, Arrow storage, objectives, normalisation, batching, synthetic data."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conversion import convert
    from .dataset import DatasetState, RankingDataset, load_splits
    from .letor import LetorFormatError, parse_letor
    from .objectives import PRESETS, ObjectiveSpec, parse_objectives

#: public name -> (module, name there): resolved on first use (PEP 562), so importing one light module of this
#: package (a constant, the atomic writer) does not load the heavy ones (torch)
_EXPORTS = {
    "convert": (".conversion", "convert"),
    "DatasetState": (".dataset", "DatasetState"),
    "RankingDataset": (".dataset", "RankingDataset"),
    "load_splits": (".dataset", "load_splits"),
    "LetorFormatError": (".letor", "LetorFormatError"),
    "parse_letor": (".letor", "parse_letor"),
    "PRESETS": (".objectives", "PRESETS"),
    "ObjectiveSpec": (".objectives", "ObjectiveSpec"),
    "parse_objectives": (".objectives", "parse_objectives"),
}

__all__ = ["convert", "RankingDataset", "DatasetState", "load_splits", "LetorFormatError", "parse_letor",
           "ObjectiveSpec", "PRESETS", "parse_objectives"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
