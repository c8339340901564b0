"""The reference model alone (no stage 2): one point whatever the weight; the bar every front must clear."""
from __future__ import annotations

from pathlib import Path

from ..eval.pareto import hypervolume
from ..eval.validation import val_ndcg
from ..models.ranker import Ranker, ReferenceRanker
from ..models.scorers import Scorer
from ..runs.distributed import is_main
from .base import FitContext, FitOutcome, Method, write_method_json


class Reference(Method):
    """No training beyond stage 1."""

    name = "reference"
    label = "reference"

    def fit(self, ctx: FitContext) -> FitOutcome:
        if is_main():
            write_method_json(ctx.run_dir, self.name, [], 1.0)
        pts = val_ndcg(lambda x, m: ctx.reference(x, m), ctx.validation_set(), ctx.front_k,
                       blank_policy=ctx.blank_policy)[None]
        return FitOutcome(ReferenceRanker(ctx.reference), [], hypervolume(pts, ctx.ref_point))

    def load(self, run_dir: Path, reference: Scorer, meta: dict) -> Ranker:
        return ReferenceRanker(reference)
