"""Objectives: turn one LTR dataset into K graded labels per document.

Objective 0 is the main objective (normally the relevance label). Auxiliary objectives are feature columns
(e.g. MSLR 132 QualityScore); a column used as an objective is removed from the model input by default.

Transform of a continuous feature into grades 0..n_grades-1 (``quantile``, the default): a value of exactly 0 is
grade 0 (e.g. "no clicks"); the non-zero training values are cut at their quantiles into n_grades-1 equal-mass
bins, grades 1..n_grades-1. Edges are fitted on the training split and stored with the dataset, so validation and
test use the same bins. Tied quantiles collapse, so a column with few distinct values gets fewer grades.
``lower_is_better`` negates the value before binning (e.g. brevity). ``identity`` keeps the value as the grade.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..config import read_structured_file
from ..errors import DataError

TRANSFORMS = ("identity", "quantile")


@dataclass
class ObjectiveSpec:
    """One objective: the relevance label (``source='label'``) or a 1-based feature column (``source='feature'``)."""

    name: str
    source: str = "label"
    feature: int | None = None
    transform: str = "identity"
    n_grades: int = 5
    lower_is_better: bool = False
    drop_from_input: bool = True
    edges: list[float] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.source not in ("label", "feature"):
            raise ValueError(f"objective {self.name!r}: source must be 'label' or 'feature', got {self.source!r}")
        if self.source == "feature" and (self.feature is None or int(self.feature) < 1):
            raise ValueError(f"objective {self.name!r}: a feature objective needs a 1-based 'feature' id")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"objective {self.name!r}: transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if self.n_grades < 2:
            raise ValueError(f"objective {self.name!r}: n_grades must be >= 2")

    @property
    def fitted(self) -> bool:
        return self.transform != "quantile" or self.edges is not None

    @property
    def column(self) -> int:
        """The 0-based feature column of a feature objective."""
        if self.feature is None:
            raise ValueError(f"objective {self.name!r} is the label, not a feature column")
        return int(self.feature) - 1

    def raw_from(self, labels: np.ndarray, column: np.ndarray | None) -> np.ndarray:
        """The objective's raw values ``[docs]`` (negated when lower is better) from the labels or its column."""
        if self.source == "label":
            v = labels.astype(np.float64)
        else:
            if column is None:
                raise ValueError(f"objective {self.name!r} reads feature {self.feature}: pass its column")
            v = column.astype(np.float64)
        return -v if self.lower_is_better else v

    def raw_values(self, labels: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The objective's raw values ``[docs]`` from the label column and the full feature matrix."""
        if self.source == "feature" and self.column >= features.shape[1]:
            raise ValueError(f"objective {self.name!r}: feature {self.feature} but the data has "
                             f"{features.shape[1]} features")
        return self.raw_from(labels, features[:, self.column] if self.source == "feature" else None)

    def fit_raw(self, v: np.ndarray) -> ObjectiveSpec:
        """Fit the quantile edges on raw training values (no-op for identity); returns self."""
        if self.transform == "quantile":
            nz = v[v != 0]
            if nz.size == 0:
                self.edges = []
            else:
                qs = np.linspace(0, 1, self.n_grades)[1:-1]
                self.edges = [float(e) for e in np.unique(np.quantile(nz, qs))]
        return self

    def fit(self, labels: np.ndarray, features: np.ndarray) -> ObjectiveSpec:
        """Fit the quantile edges on training data (no-op for identity); returns self."""
        return self.fit_raw(self.raw_values(labels, features))

    def grades(self, labels: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Graded labels ``[docs]`` float32 for this objective."""
        return self.grade_raw(self.raw_values(labels, features))

    def grade_raw(self, v: np.ndarray) -> np.ndarray:
        """Graded labels ``[docs]`` float32 from raw values (see :meth:`raw_from`)."""
        if self.transform == "identity":
            return v.astype(np.float32)
        if self.edges is None:
            raise RuntimeError(f"objective {self.name!r} is not fitted (call fit on the training split)")
        g = 1 + np.searchsorted(np.asarray(self.edges, dtype=np.float64), v, side="right")
        return np.where(v == 0, 0, g).astype(np.float32)


_MSLR5: list[dict] = [
    {"name": "relevance"},
    {"name": "quality_score", "source": "feature", "feature": 132, "transform": "quantile"},
    {"name": "quality_score2", "source": "feature", "feature": 133, "transform": "quantile"},
    {"name": "query_url_clicks", "source": "feature", "feature": 134, "transform": "quantile"},
    {"name": "url_dwell_time", "source": "feature", "feature": 136, "transform": "quantile"},
]

#: presets: a list of objectives, or ``{objectives, drop_features}`` (1-based input columns dropped besides them)
PRESETS: dict[str, list[dict] | dict] = {
    "label": [{"name": "relevance"}],
    "mslr5": _MSLR5,
    # mslr5 without 135 (url clicks) in the input: it is a near-copy of objective 136 (Spearman 0.987 on Fold1)
    "mslr5_strict": {"objectives": _MSLR5, "drop_features": [135]},
    # a three-objective MSLR setting: relevance, QualityScore, url dwell time (its near-copy 135 dropped too)
    "mslr3": {"objectives": [_MSLR5[0], _MSLR5[1], _MSLR5[4]], "drop_features": [135]},
    "mslr6": [
        *_MSLR5[:4],
        {"name": "url_clicks", "source": "feature", "feature": 135, "transform": "quantile"},
        _MSLR5[4],
    ],
    # LETOR 4.0 feature list: 41 PageRank, 42 inlink number (43 outlinks, 44 #slash, 45 URL length, 46 #child pages).
    "mq2008": [
        {"name": "relevance"},
        {"name": "pagerank", "source": "feature", "feature": 41, "transform": "quantile"},
        {"name": "inlinks", "source": "feature", "feature": 42, "transform": "quantile"},
    ],
    "mslr_quality": _MSLR5[:2],
}


def parse_spec(spec: str | list | dict | None) -> tuple[list[ObjectiveSpec], list[int]]:
    """(objectives, extra input columns to drop) from a preset name, a JSON/YAML file, a list of objectives, or a
    mapping ``{objectives: [...], drop_features: [1-based ids]}``."""
    if spec is None:
        spec = "label"
    if isinstance(spec, str):
        if spec in PRESETS:
            return parse_spec(PRESETS[spec])
        p = Path(spec)
        if p.exists():
            data = read_structured_file(p)
            if not isinstance(data, (list, dict)):
                raise DataError(f"{p}: an objective spec file holds a list of objectives or "
                                f"{{objectives: [...], drop_features: [...]}}")
            return parse_spec(data)
        raise DataError(f"unknown objectives {spec!r}: not a preset ({', '.join(PRESETS)}) nor an existing file")
    drops: list[int] = []
    if isinstance(spec, dict):
        unknown = set(spec) - {"objectives", "drop_features"}
        if unknown or "objectives" not in spec:
            raise DataError(f"an objective spec mapping has 'objectives' and optionally 'drop_features', got "
                            f"{sorted(spec)}")
        drops = [int(f) for f in spec.get("drop_features") or []]
        if any(f < 1 for f in drops):
            raise DataError(f"drop_features are 1-based feature ids, got {drops}")
        spec = spec["objectives"]
    if not isinstance(spec, list):
        raise DataError(f"objectives must be a list, got {spec!r}")
    out = []
    for d in spec:
        if isinstance(d, ObjectiveSpec):
            d = asdict(d)  # a copy: fitting never changes the caller's specs
        if not isinstance(d, dict):
            raise DataError(f"an objective is a mapping {{name, source, feature, transform, ...}}, got {d!r}")
        try:
            out.append(ObjectiveSpec(**d))
        except TypeError as e:
            raise DataError(f"objective {d.get('name', '?')!r}: {e}") from None
    if not out:
        raise DataError("at least one objective is required")
    if sum(o.source == "label" for o in out) > 1:
        raise DataError("only one objective can be the label")
    return out, sorted(set(drops))


def parse_objectives(spec: str | list | dict | None) -> list[ObjectiveSpec]:
    """Objectives from a preset name, a JSON/YAML file, or a list of dicts/ObjectiveSpecs (see :func:`parse_spec`)."""
    return parse_spec(spec)[0]


def objectives_to_json(objs: list[ObjectiveSpec]) -> list[dict]:
    """JSON-serialisable form of (fitted) objectives."""
    return [asdict(o) for o in objs]


def fit_objectives(objs: list[ObjectiveSpec], labels: np.ndarray, features: np.ndarray) -> list[ObjectiveSpec]:
    """Fit every objective on the training split."""
    return [o.fit(labels, features) for o in objs]


def input_columns(objs: list[ObjectiveSpec], n_features: int, drop_features: list[int] | tuple = ()) -> np.ndarray:
    """0-based feature columns that remain model input once objective columns (and ``drop_features``, 1-based) are
    dropped."""
    drop = {o.column for o in objs if o.source == "feature" and o.drop_from_input} | {f - 1 for f in drop_features}
    return np.array([j for j in range(n_features) if j not in drop], dtype=np.int64)
