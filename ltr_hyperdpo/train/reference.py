"""Stage 1: the reference scorer, trained on the main objective (objective 0) with a single-objective loss."""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.batching import SlateLoader
from ..data.dataset import RankingDataset
from ..losses import get_loss
from ..models.scorers import Scorer, build_scorer
from . import checkpoint as ckpt
from .config import RunConfig
from .loop import StageSpec, run_stage
from .validation import val_ndcg


def train_reference(cfg: RunConfig, tr: RankingDataset, va: RankingDataset, run_dir: Path, *,
                    resume_state: dict | None = None, stop_after: int | None = None) -> tuple[Scorer, list, float]:
    """Train (or load ``reference.checkpoint``, or reuse ``run_dir/reference.pt``); returns (model, history, best)."""
    ref_path = run_dir / "reference.pt"
    k0 = cfg.eval.ks[0]
    rc = cfg.reference
    if rc.checkpoint:
        reference, _ = ckpt.load_scorer(rc.checkpoint)
        best = float(val_ndcg(lambda x, m: reference(x, m), va, k0)[0])
        ckpt.save_scorer(reference, ref_path, history=[], best_metric=best)
        return reference, [], best
    if ref_path.exists() and (resume_state is None or resume_state["stage"] != "reference"):
        reference, saved = ckpt.load_scorer(ref_path)
        return reference, saved.get("history", []), saved.get("best_metric", float("nan"))
    torch.manual_seed(cfg.seed)
    reference = build_scorer(cfg.model, conditioned=False)
    loss_fn = get_loss(rc.loss)

    def loss(b, gen):
        s = reference(b.features, b.mask)
        y = b.labels[..., 0]
        if rc.loss in ("pl", "listmle"):
            return loss_fn(s, y, b.mask, generator=gen).mean()
        return loss_fn(s, y, b.mask).mean()

    def val():
        return {f"val_ndcg@{k0}": float(val_ndcg(lambda x, m: reference(x, m), va, k0)[0])}

    spec = StageSpec("reference", 1, reference, loss, val, f"val_ndcg@{k0}", rc.epochs, rc.lr, rc.weight_decay,
                     rc.patience, rc.grad_clip)
    d = cfg.data
    loader = SlateLoader(tr, d.batch_size, slate_length=d.slate_length, shuffle=True, seed=cfg.seed)
    st = run_stage(spec, loader, run_dir, cfg.seed,
                   resume=resume_state if resume_state and resume_state["stage"] == "reference" else None,
                   progress=cfg.progress, log_path=run_dir / "log.jsonl", stop_after=stop_after)
    ckpt.save_scorer(reference, ref_path, history=st.history, best_metric=st.best_metric)
    return reference, st.history, st.best_metric
