"""PNG plots of fronts: the 2-D front for K=2, pairwise panels for K>2, the reference model's point marked."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..runs.io import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fronts(fronts: dict[str, np.ndarray], names: list[str], path, *, reference: np.ndarray | None = None,
                nondominated: dict[str, np.ndarray] | None = None, title: str = "", metric: str = "NDCG@10",
                weights: np.ndarray | None = None, points: dict[str, np.ndarray] | None = None) -> Path:
    """Plot one or more fronts (``label -> [points, K]``) into ``path`` (written atomically)."""
    plt = _plt()
    k = len(names)
    pairs = list(itertools.combinations(range(k), 2)) if k > 1 else [(0, 0)]
    cols = min(3, len(pairs))
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.0 * rows), squeeze=False)
    for ax, (a, b) in zip(axes.flat, pairs, strict=False):  # spare axes stay empty
        for label, pts in fronts.items():
            pts = np.asarray(pts)
            order = np.lexsort((pts[:, 1], pts[:, 0])) if k == 2 else np.arange(len(pts))
            pts = pts[order]  # the K=2 front is drawn in order along the curve
            # a line only makes sense along the K=2 segment of weights; for K>2 the grid has no order
            line, = ax.plot(pts[:, a], pts[:, b], "-o" if k == 2 else "o", ms=3.5, lw=1, alpha=0.85, label=label)
            if nondominated and label in nondominated:
                nd = np.asarray(nondominated[label])[order]
                ax.plot(pts[nd, a], pts[nd, b], "o", ms=7, mfc="none", color=line.get_color())
        if weights is not None and k == 2 and len(fronts) == 1:
            pts = np.asarray(next(iter(fronts.values())))
            for w, p in zip(np.asarray(weights), pts, strict=True):
                ax.annotate(f"{w[0]:.1f}", (p[a], p[b]), textcoords="offset points", xytext=(4, 3), fontsize=7,
                            alpha=0.7)
        if reference is not None:
            ax.plot(reference[a], reference[b], "k*", ms=13, label="reference model")
        for (label, p), mk in zip((points or {}).items(), "DsP^vX", strict=False):
            ax.plot(p[a], p[b], mk, ms=9, mec="k", label=label)
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
