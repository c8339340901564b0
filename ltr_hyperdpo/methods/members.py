"""Multi-run methods: one plain copy of the reference trained per weight, each with its own fixed-w loss.

Members train one after another under ``RUN/members/mNN/``; a resumed run skips finished members and continues the
interrupted one from its checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Validated, opt
from ..core.dpo import pl_dpo_loss
from ..core.grids import member_grid
from ..data.batching import Slates
from ..eval.validation import val_hypervolume, val_ndcg
from ..models.io import load_scorer, save_scorer
from ..models.ranker import MemberRanker, Ranker
from ..models.scorers import Scorer, build_scorer
from ..runs.distributed import is_main
from ..utils.checkpoint import load_latest, previous_path
from .base import MEMBER_STAGE_BASE, FitContext, FitOutcome, Method, write_method_json


@dataclass(frozen=True, kw_only=True)
class MembersParams(Validated):
    """Parameters of a multi-run method: its budget of members. ``None`` is ``auto`` (``training.auto.members``)."""

    members: int | None = opt(None, ge=1, doc="models trained, one per weight of the member grid")


class MultiRun(Method):
    """Base of the methods that train one model per weight; subclasses define the weights and the member loss."""

    multi_run = True
    Params: type = MembersParams

    def training_weights(self, n_objectives: int, params: Any) -> np.ndarray:
        """``[members, objectives]``: the member grid of ``params.members`` weights."""
        return member_grid(n_objectives, params.members)

    def tie_noise(self, ctx: FitContext, b: Slates, gen: torch.Generator) -> torch.Tensor | None:
        """Tie-break draws for the global batch (one ranking per objective), sliced to this process's lists."""
        return ctx.tie_noise(b, gen, (ctx.n_objectives, b.mask.shape[1]))

    def member_loss(self, ctx: FitContext, s: torch.Tensor, ref_s: torch.Tensor, b: Slates, w: torch.Tensor,
                    gen: torch.Generator, tie_noise: torch.Tensor | None = None) -> torch.Tensor:
        """The mean loss of one batch for the member trained at ``w`` ``[objectives]``."""
        p = ctx.stage2
        return pl_dpo_loss(s, ref_s, b.labels, b.mask, w[None, :].expand(s.shape[0], -1), beta=p.beta,
                           top_k=p.top_k, tie_break=p.tie_break, generator=gen, tie_noise=tie_noise)

    def make_ranker(self, members: list[tuple[np.ndarray, Scorer]], reference: Scorer, beta: float) -> Ranker:
        return MemberRanker(members, reference, beta)

    def fit(self, ctx: FitContext) -> FitOutcome:
        p = ctx.stage2
        weights = np.asarray(ctx.member_weights, dtype=np.float64)
        vset = ctx.validation_set()
        members: list[tuple[np.ndarray, Scorer]] = []
        hist: list = []
        for i, w in enumerate(weights):
            mdir = ctx.run_dir / "members" / f"m{i:02d}"
            path = mdir / "model.pt"
            if path.exists():
                model, saved = load_scorer(path)
                members.append((w, model))
                hist += saved.get("history", [])
                continue
            model = build_scorer(ctx.reference.config, conditioned=False)
            model.load_state_dict(ctx.reference.state_dict())
            wt = torch.tensor(w, dtype=torch.float32, device=ctx.device)

            def loss(net: torch.nn.Module, b: Slates, gen: torch.Generator, wt: torch.Tensor = wt) -> torch.Tensor:
                with torch.no_grad():
                    ref_s = ctx.reference(b.features, b.mask)
                noise = self.tie_noise(ctx, b, gen)
                return self.member_loss(ctx, net(b.features, b.mask), ref_s, b, wt, gen, noise)

            def val(model: Scorer = model, w: np.ndarray = w) -> dict:
                nd = val_ndcg(lambda x, m: model(x, m), vset, ctx.front_k, blank_policy=ctx.blank_policy)
                return {"val_scalarised": float(np.dot(w, nd))}

            ck = mdir / "checkpoint.pt"
            state = load_latest(ck) if ck.exists() or previous_path(ck).exists() else None
            groups = [{"params": list(model.parameters()), "lr": ctx.learning_rates["model"], "name": "model"}]
            st = ctx.fit_stage(f"{self.name}[{i}]", MEMBER_STAGE_BASE + i, model, loss, val, "val_scalarised", mdir,
                               state, groups)
            if is_main():
                save_scorer(model, path, beta=p.beta, history=st.history, best_metric=st.best_metric,
                            weight=[float(v) for v in w])
            members.append((w, model))
            hist += st.history
        if is_main():
            write_method_json(ctx.run_dir, self.name, [{"w": [float(v) for v in w],
                                                        "path": f"members/m{i:02d}/model.pt"}
                                                       for i, w in enumerate(weights)], p.beta)
        ranker = self.make_ranker(members, ctx.reference, p.beta)
        hv = val_hypervolume(lambda x, m, w: ranker.score(x, m, w), ctx.val_grid(), vset, ctx.front_k,
                             ctx.ref_point, ctx.blank_policy)
        return FitOutcome(ranker, hist, hv)

    def load(self, run_dir: Path, reference: Scorer, meta: dict) -> Ranker:
        members = [(np.asarray(m["w"]), load_scorer(run_dir / m["path"])[0]) for m in meta["members"]]
        return self.make_ranker(members, reference, meta["beta"])
