"""A PyTerrier re-ranker over a trained run (extra ``ltr_hyperdpo[pyterrier]``: the PyTerrier core, no Java).

    pipeline = first_stage % 100 >> features >> HyperDPOReranker.from_run("runs/mslr5", w=[0.6, 0.1, 0.1, 0.1, 0.1])

The input frame has ``qid``, ``docno`` and ``features`` (raw vectors of the training files' width); an optional
``w`` column gives each row its own trade-off (per user). Documents are scored query by query in the context of
their whole list (the transformer scorer needs it; PyTerrier's ``apply_learned_model`` scores rows alone), each at
its row's weight; the output adds ``score`` and ``rank``. Rows may come in any order.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pyterrier as pt

from .run import Run, load_run


class HyperDPOReranker(pt.Transformer):
    """Scores ``(qid, docno, features[, w])`` rows with a run at preference ``w`` (and temperature ``beta``)."""

    def __init__(self, run: Run, w: Any, beta: float | None = None, batch_size: int = 64):
        self.run = run
        self.w = run.preference(w)
        self.beta = beta
        self.batch_size = batch_size

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, w: Any, beta: float | None = None) -> HyperDPOReranker:
        """A re-ranker over the run directory ``run_dir`` at preference ``w``."""
        return cls(load_run(run_dir), w, beta)

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        missing = {"qid", "docno", "features"} - set(inp.columns)
        if missing:
            raise ValueError(f"HyperDPOReranker needs columns qid, docno, features; missing {sorted(missing)}")
        out = inp.copy()
        if len(out) == 0:
            out["score"] = pd.Series(dtype=float)
            return pt.model.add_ranks(out)
        raw = np.stack(out["features"].to_numpy()).astype(np.float32)
        qids = out["qid"].astype(str).to_numpy()
        scores = np.empty(len(out), dtype=np.float64)
        if "w" in out.columns:  # per-row trade-offs: every list scored whole at each weight its rows ask for
            ws = np.stack([self.run.preference(v) for v in out["w"].to_numpy()])
            uniq, inverse = np.unique(ws, axis=0, return_inverse=True)
            for u in range(len(uniq)):
                rows = np.flatnonzero(inverse.reshape(-1) == u)
                lists = np.flatnonzero(np.isin(qids, np.unique(qids[rows])))
                s = self.run.score(raw[lists], uniq[u], self.beta, qid=qids[lists], batch_size=self.batch_size)
                pos = {r: i for i, r in enumerate(lists.tolist())}
                scores[rows] = s[[pos[r] for r in rows.tolist()]]
        else:
            scores[:] = self.run.score(raw, self.w, self.beta, qid=qids, batch_size=self.batch_size)
        out["score"] = scores
        return pt.model.add_ranks(out)
