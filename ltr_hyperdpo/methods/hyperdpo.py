"""HyperDPO (COS-DPO): one weight-conditioned copy of the reference, PL-DPO with ``w ~ Dirichlet(α)`` per list."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .. import defaults
from ..config import Validated, opt
from ..core.dpo import pl_dpo_loss
from ..core.sampling import sample_beta, sample_weights
from ..data.batching import Slates
from ..eval.pareto import hypervolume
from ..eval.validation import val_ndcg_grid
from ..models.base import ScorerConfig
from ..models.io import load_scorer, save_scorer
from ..models.ranker import HyperDPORanker, Ranker
from ..models.scorers import Scorer, conditioned_copy
from ..runs.distributed import is_main
from .base import (
    ONE_MODEL_STAGE_ID,
    FitContext,
    FitOutcome,
    Method,
    Stage2Settings,
    conditioning_init_seed,
    global_rows,
    write_method_json,
)

#: parameters of the conditioning network (FiLM generator, low-rank deltas, hyper-prompt MLP, the transformer's output
#: towers): they may get their own learning rate
CONDITIONING_PREFIXES = ("film.", "prompt_net.", "lowrank.", "towers.")


def sample_preferences(n: int, n_objectives: int, alpha: float | list[float], vertex_prob: float,
                       gen: torch.Generator) -> torch.Tensor:
    """``w ~ Dirichlet(α)`` ``[n, objectives]``; with probability ``vertex_prob`` a row is a random vertex instead
    (so the extreme trade-offs, where users often start, are trained as often as one asks)."""
    w = sample_weights(n, n_objectives, alpha, generator=gen)
    if vertex_prob > 0:
        pick = torch.rand(n, generator=gen) < vertex_prob
        corner = torch.randint(n_objectives, (n,), generator=gen)
        w = torch.where(pick[:, None], torch.nn.functional.one_hot(corner, n_objectives).to(w.dtype), w)
    return w


@dataclass(frozen=True, kw_only=True)
class OneShotParams(Validated):
    """Parameters of the one-model, weight-conditioned methods (``method: {name: hyperdpo, params: {...}}``).

    ``None`` is ``auto``: resolved by the rule of the same name in :mod:`ltr_hyperdpo.training.auto`."""

    alpha: float | list[float] = opt(defaults.ALPHA, gt=0.0, items_gt=0.0,
                                     doc="Dirichlet concentration of w (one value, or one per objective)")
    weights_per_list: int | None = opt(None, ge=1, doc="trade-offs each list is trained under per step")
    vertex_prob: float | None = opt(None, ge=0.0, le=1.0, doc="probability that a draw is a vertex e_k")
    cond_lr_mult: float = opt(defaults.COND_LR_MULT, gt=0.0,
                              doc="the conditioning network's learning rate as a multiple of lr")
    select: Literal["hypervolume", "scalarised"] | None = opt(
        None, doc="the validation figure whose best epoch is kept: the hypervolume of the validation weights' "
                  "NDCG, or their mean scalarised NDCG (mean over w of w . NDCG(w))")


#: ``select`` -> the validation record's key that keeps an epoch
SELECTION_KEYS = {"hypervolume": "val_hypervolume", "scalarised": "val_scalarised"}


def scalarised_mean(weights: np.ndarray, ndcg: np.ndarray) -> float:
    """``mean_i w_i . NDCG(w_i)`` of validation weights ``[weights, K]`` and their NDCG ``[weights, K]``: each trade-off
    judged by the figure it asks for (a multi-run member's own selection figure), averaged over the trade-offs."""
    return float(np.mean(np.sum(weights * ndcg, axis=1)))


def kept_hypervolume(history: list, best_epoch: int, fallback: float) -> float:
    """The validation hypervolume of the epoch a stage kept (``best_epoch`` 0-based, a record's ``epoch`` 1-based;
    ``fallback`` when no record of it is in ``history``)."""
    for rec in history:
        if rec.get("epoch") == best_epoch + 1 and "val_hypervolume" in rec:
            return float(rec["val_hypervolume"])
    return fallback


class HyperDPO(Method):
    """One model conditioned on (w, β); any trade-off after training."""

    name = "hyperdpo"
    label = "HyperDPO (1 run)"
    Params = OneShotParams

    def learning_rates(self, stage2: Stage2Settings, params: OneShotParams, scorer: ScorerConfig
                       ) -> dict[str, float]:
        """The trunk learns at ``lr`` (nothing with ``freeze_backbone``), the conditioning network at
        ``lr x cond_lr_mult``."""
        rates = {"conditioning": stage2.lr * params.cond_lr_mult}
        if not scorer.freeze_backbone:
            rates = {"backbone": stage2.lr, **rates}
        return rates

    def batch_loss(self, ctx: FitContext, model: torch.nn.Module, b: Slates, gen: torch.Generator) -> torch.Tensor:
        """The mean loss of one batch: ``weights_per_list`` weights (and β) sampled per list, the reference scored
        once per list without gradient. Draws are made for the whole global batch and sliced to this process's
        lists, so the result does not depend on the number of processes."""
        p, s2 = ctx.params, ctx.stage2
        temp = ctx.scorer.temperature_conditioned
        m = p.weights_per_list
        rows = global_rows(b, m)
        n_all = b.n_global * m
        w = sample_preferences(n_all, ctx.n_objectives, p.alpha, p.vertex_prob, gen)[rows].to(ctx.device)
        beta = sample_beta(n_all, (s2.beta_range[0], s2.beta_range[1]), generator=gen)[rows].to(ctx.device) \
            if temp else s2.beta
        noise = ctx.tie_noise(b, gen, (ctx.n_objectives, b.mask.shape[1]), m)
        with torch.no_grad():
            ref_s = ctx.reference(b.features, b.mask).repeat_interleave(m, 0)
        n_b = b.mask.shape[0]
        # each list is seen under m trade-offs in one step: the reference forward and the policy's
        # weight-independent trunk are computed once per list
        pol = model(b.features, b.mask, w.view(n_b, m, -1),
                    beta.view(n_b, m) if temp else None).reshape(n_b * m, -1)  # type: ignore[union-attr]
        if m > 1:
            b = Slates(b.features, b.labels.repeat_interleave(m, 0), b.mask.repeat_interleave(m, 0), b.queries,
                       b.rows)
        return self.objective(ctx, pol, ref_s, b, w, beta, gen, noise)

    def objective(self, ctx: FitContext, pol: torch.Tensor, ref_s: torch.Tensor, b: Slates, w: torch.Tensor,
                  beta: torch.Tensor | float, gen: torch.Generator, tie_noise: torch.Tensor | None = None
                  ) -> torch.Tensor:
        """``mean_lists Σ_k w_k L_k`` (the PL-DPO loss per objective under the implicit rewards)."""
        p = ctx.stage2
        return pl_dpo_loss(pol, ref_s, b.labels, b.mask, w, beta=beta, top_k=p.top_k, tie_break=p.tie_break,
                           generator=gen, tie_noise=tie_noise)

    def fit(self, ctx: FitContext) -> FitOutcome:
        p = ctx.stage2
        torch.manual_seed(conditioning_init_seed(ctx.seed))
        policy = conditioned_copy(ctx.reference, ctx.scorer)
        temp = ctx.scorer.temperature_conditioned
        grid = ctx.val_grid()
        vset = ctx.validation_set()

        grid_np = grid.double().cpu().numpy()

        def val() -> dict:
            fn = (lambda x, m, w: policy(x, m, w, p.beta)) if temp else (lambda x, m, w: policy(x, m, w))
            nd = val_ndcg_grid(fn, grid, vset, ctx.front_k, ctx.blank_policy, policy.per_weight_width)
            # every validation weight's NDCG per objective beside both selection figures (log.jsonl, trackers)
            return {"val_hypervolume": hypervolume(nd, ctx.ref_point),
                    "val_scalarised": scalarised_mean(grid_np, nd), f"val_ndcg@{ctx.front_k}": nd.tolist()}

        resume = ctx.resume if ctx.resume and ctx.resume["stage"] == self.name else None
        groups = self.param_groups(policy, ctx.learning_rates)

        def loss(model: torch.nn.Module, b: Slates, gen: torch.Generator) -> torch.Tensor:
            return self.batch_loss(ctx, model, b, gen)

        key = SELECTION_KEYS[ctx.params.select]
        st = ctx.fit_stage(self.name, ONE_MODEL_STAGE_ID, policy, loss, val, key, ctx.run_dir, resume, groups)
        if is_main():
            save_scorer(policy, ctx.run_dir / "model.pt", beta=p.beta, history=st.history)
            write_method_json(ctx.run_dir, self.name, [], p.beta)
        return FitOutcome(HyperDPORanker(policy, ctx.reference, p.beta), st.history,
                          kept_hypervolume(st.history, st.best_epoch, st.best_metric if key == "val_hypervolume"
                                           else float("nan")))

    @staticmethod
    def param_groups(policy: torch.nn.Module, rates: dict[str, float]) -> list[dict]:
        """The optimizer's groups at the plan's rates: ``conditioning`` (FiLM generator, low-rank deltas, hyper
        prompts) and ``backbone`` (everything else; frozen when the plan has no rate for it)."""
        cond = [q for n, q in policy.named_parameters() if n.startswith(CONDITIONING_PREFIXES)]
        ids = {id(q) for q in cond}
        backbone = [q for q in policy.parameters() if id(q) not in ids]
        groups = []
        if "backbone" in rates:
            groups.append({"params": backbone, "lr": rates["backbone"], "name": "backbone"})
        else:  # Hyper Prompt Tuning proper: only the conditioning network learns
            for q in backbone:
                q.requires_grad_(False)
        if cond:
            groups.append({"params": cond, "lr": rates["conditioning"], "name": "conditioning"})
        return groups

    def load(self, run_dir: Path, reference: Scorer, meta: dict) -> Ranker:
        policy, saved = load_scorer(run_dir / "model.pt")
        return HyperDPORanker(policy, reference, saved.get("beta", meta.get("beta", 1.0)))
