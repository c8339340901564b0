"""What a dataset fits on its training split and reuses for validation and test (the objectives' quantile edges,
the feature normaliser, the dropped columns): :class:`DatasetState`, saved with every run, and the objective grade
matrix computed under it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .features import FeatureSource, FeatureTransform
from .normalize import FeatureNormalizer
from .objectives import ObjectiveSpec, input_columns, objectives_to_json, parse_objectives


@dataclass
class DatasetState:
    """What is fitted on the training split and reused for vali/test: objectives and the feature normaliser."""

    objectives: list[ObjectiveSpec]
    normalizer: FeatureNormalizer | None
    n_raw_features: int
    drop_features: list[int] = field(default_factory=list)  # 1-based input columns dropped besides the objectives'

    def transform(self) -> FeatureTransform:
        """The model-input transform: objective (and dropped) columns removed, then the normaliser."""
        return FeatureTransform(input_columns(self.objectives, self.n_raw_features, self.drop_features),
                                self.normalizer)

    def to_dict(self) -> dict:
        return {"objectives": objectives_to_json(self.objectives),
                "normalizer": self.normalizer.to_dict() if self.normalizer else None,
                "n_raw_features": self.n_raw_features, "drop_features": list(self.drop_features)}

    @classmethod
    def from_dict(cls, d: dict) -> DatasetState:
        return cls(parse_objectives(d["objectives"]),
                   FeatureNormalizer.from_dict(d["normalizer"]) if d.get("normalizer") else None,
                   int(d["n_raw_features"]), [int(f) for f in d.get("drop_features") or []])


def grade_matrix(objectives: list[ObjectiveSpec], source: FeatureSource, labels: np.ndarray,
                 rows: np.ndarray | None = None) -> np.ndarray:
    """Graded labels ``[docs, objectives]`` float32 of the given source rows (all rows when ``rows`` is None)."""
    lab = labels if rows is None else labels[rows]
    cols = []
    for o in objectives:
        if o.source == "feature" and o.column >= source.width:
            raise DataError(f"objective {o.name!r} reads feature {o.feature} but the data has {source.width} "
                            f"features")
        col = source.column(o.column, rows) if o.source == "feature" else None
        cols.append(o.grade_raw(o.raw_from(lab, col)))
    return np.stack(cols, axis=1).astype(np.float32, copy=False)


def fit_state(source: FeatureSource, labels: np.ndarray, objectives: list[ObjectiveSpec], *,
              rows: np.ndarray | None = None, normalize: bool = True,
              drop_features: list[int] | None = None) -> DatasetState:
    """Fit the objectives' quantile edges and the normaliser on the given rows (the training part) only."""
    lab = labels if rows is None else labels[rows]
    for o in objectives:
        if o.source == "feature" and o.column >= source.width:
            raise DataError(f"objective {o.name!r} reads feature {o.feature} but the data has {source.width} "
                            f"features")
        o.fit_raw(o.raw_from(lab, source.column(o.column, rows) if o.source == "feature" else None))
    drops = list(drop_features or [])
    cols = input_columns(objectives, source.width, drops)
    normalizer = None
    if normalize:
        normalizer = FeatureNormalizer().fit_blocks(lambda: source.blocks(rows), source.width, columns=cols)
    return DatasetState(objectives, normalizer, source.width, drops)
