"""Stage 1: the reference scorer, trained on the main objective (objective 0) with a single-objective loss."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..data.batching import SlateLoader, Slates
from ..data.dataset import RankingDataset
from ..eval.validation import ValidationSet, val_ndcg
from ..losses import get_loss, is_stochastic
from ..methods.base import REFERENCE_STAGE_ID
from ..models.io import load_scorer, save_scorer
from ..models.scorers import Scorer, build_scorer
from ..runs.callbacks import Callback
from ..runs.distributed import barrier, is_main
from ..runs.loop import Stage, run_stage
from ..runs.schedules import make_scheduler, needs_metric, parse_schedule
from .plan import RunPlan


def train_reference(plan: RunPlan, tr: RankingDataset, va: RankingDataset, run_dir: Path, *,
                    resume_state: dict | None = None, callbacks: Sequence[Callback] = (),
                    device: torch.device | None = None, progress: bool = True) -> tuple[Scorer, list, float]:
    """Train (or load ``reference.checkpoint``, or reuse ``run_dir/reference.pt``); returns (model, history, best)."""
    ref_path = run_dir / "reference.pt"
    device = device or torch.device("cpu")
    k0 = plan.eval.ks[0]
    blank = plan.eval.blank_policy
    rc = plan.reference
    if rc.checkpoint:
        reference, _ = load_scorer(rc.checkpoint)
        reference.to(device)
        best = float(val_ndcg(lambda x, m: reference(x, m), ValidationSet(va, device=device), k0,
                              blank_policy=blank)[0])
        if is_main():
            save_scorer(reference, ref_path, history=[], best_metric=best)
        return reference, [], best
    if ref_path.exists() and (resume_state is None or resume_state["stage"] != "reference"):
        reference, saved = load_scorer(ref_path)
        return reference.to(device), saved.get("history", []), saved.get("best_metric", float("nan"))
    torch.manual_seed(plan.seed)
    reference = build_scorer(plan.scorer, conditioned=False)
    loss_fn = get_loss(rc.loss, **rc.loss_args)
    stochastic = is_stochastic(rc.loss)

    def loss(model: torch.nn.Module, b: Slates, gen: torch.Generator) -> torch.Tensor:
        # random tie-breaks drawn for the global batch: the same whatever the number of processes
        noise = torch.rand((b.n_global, b.mask.shape[1]), generator=gen)[b.positions].to(b.mask.device) \
            if stochastic else None
        return loss_fn(model(b.features, b.mask), b.labels[..., 0], b.mask, gen, noise).mean()

    vset = ValidationSet(va, device=device)

    def val() -> dict:
        return {f"val_ndcg@{k0}": float(val_ndcg(lambda x, m: reference(x, m), vset, k0,
                                                 blank_policy=blank)[0])}

    d = plan.data
    loader = SlateLoader(tr, d.batch_size, slate_length=d.slate_length, shuffle=True, seed=plan.seed)
    sched, sched_args = parse_schedule(rc.lr_scheduler)
    stage = Stage(name="reference", stage_id=REFERENCE_STAGE_ID, model=reference, loss_fn=loss,
                  batches=loader.epoch_batches, epochs=rc.epochs, lr=rc.lr, weight_decay=rc.weight_decay,
                  grad_clip=rc.grad_clip, n_batches=len(loader), val_fn=val, val_key=f"val_ndcg@{k0}",
                  patience=rc.patience, scheduler_fn=make_scheduler(sched, sched_args, rc.epochs),
                  scheduler_needs_metric=needs_metric(sched), shard=Slates.shard, device=device,
                  precision=plan.precision)
    st = run_stage(stage, run_dir / "checkpoint.pt", plan.seed,
                   resume=resume_state if resume_state and resume_state["stage"] == "reference" else None,
                   progress=progress, log_path=run_dir / "log.jsonl", callbacks=callbacks)
    if is_main():
        save_scorer(reference, ref_path, history=st.history, best_metric=st.best_metric)
    barrier()  # the other processes read nothing before rank 0 has written
    return reference, st.history, st.best_metric
