"""PNG plots of fronts: the 2-D front for K=2, pairwise panels for K>2 (simplex vertices labelled), a strip for K=1;
the reference model's point marked. Weight labels are placed only where they do not pile up."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.io import atomic_path

#: a weight label is drawn only this far (as a fraction of the axes) from every label already drawn
LABEL_SPACING = 0.07


def _plt() -> Any:
    import matplotlib  # lazy: the CLI starts without loading matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _spread_labels(ax: Any, xy: np.ndarray, texts: list[str]) -> None:
    """Annotate points with texts, skipping any that would sit within LABEL_SPACING of one already drawn."""
    span = np.ptp(xy, axis=0)
    span[span <= 0] = 1.0
    scaled = (xy - xy.min(axis=0)) / span
    placed: list[np.ndarray] = []
    for p, s, t in zip(xy, scaled, texts, strict=True):
        if all(np.hypot(*(s - q)) >= LABEL_SPACING for q in placed):
            ax.annotate(t, tuple(p), textcoords="offset points", xytext=(4, 3), fontsize=7, alpha=0.75)
            placed.append(s)


def plot_fronts(fronts: dict[str, np.ndarray], names: list[str], path: str | Path, *,
                reference: np.ndarray | None = None, nondominated: dict[str, np.ndarray] | None = None,
                title: str = "", metric: str = "NDCG@10", weights: np.ndarray | None = None,
                points: dict[str, np.ndarray] | None = None) -> Path:
    """Plot one or more fronts (``label -> [points, K]``) into ``path`` (written atomically)."""
    plt = _plt()
    k = len(names)
    pairs = list(itertools.combinations(range(k), 2)) if k > 1 else [(0, 0)]
    cols = min(3, len(pairs))
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.0 * rows), squeeze=False)
    single = len(fronts) == 1 and weights is not None
    for ax, (a, b) in zip(axes.flat, pairs, strict=False):  # spare axes stay empty
        for label, pts in fronts.items():
            pts = np.asarray(pts)
            if k == 1:  # one objective: the values at every weight on one axis
                xs = np.zeros(len(pts))
                line, = ax.plot(xs, pts[:, 0], "o", ms=5, alpha=0.85, label=label)
                continue
            order = np.lexsort((pts[:, b], pts[:, a])) if k == 2 else np.arange(len(pts))
            # a line only makes sense along the K=2 segment of weights; for K>2 the grid has no order
            line, = ax.plot(pts[order, a], pts[order, b], "-o" if k == 2 else "o", ms=3.5, lw=1, alpha=0.85,
                            label=label)
            if nondominated and label in nondominated:
                nd = np.asarray(nondominated[label])[order]
                ax.plot(pts[order][nd, a], pts[order][nd, b], "o", ms=7, mfc="none", color=line.get_color())
        if single and k >= 2:
            pts = np.asarray(next(iter(fronts.values())))
            w = np.asarray(weights)
            if k == 2:
                _spread_labels(ax, pts[:, [a, b]], [f"{v:.2g}" for v in w[:, 0]])
            else:
                vertex = np.flatnonzero(np.isclose(w.max(axis=1), 1.0))
                _spread_labels(ax, pts[vertex][:, [a, b]], [f"w={names[int(np.argmax(w[i]))]}" for i in vertex])
        if reference is not None:
            ax.plot(0.0 if k == 1 else reference[a], reference[b], "k*", ms=13, label="reference model")
        for (label, p), mk in zip((points or {}).items(), "DsP^vX", strict=False):
            ax.plot(0.0 if k == 1 else p[a], p[b], mk, ms=9, mec="k", label=label)
        if k == 1:
            ax.set_xticks([])
            ax.set_ylabel(f"{metric} {names[0]}")
        else:
            ax.set_xlabel(f"{metric} {names[a]}")
            ax.set_ylabel(f"{metric} {names[b]}")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
