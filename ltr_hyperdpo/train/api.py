"""`train(config, run_dir) -> RunResult`: stage 1 (reference) then stage 2 (one-shot HyperDPO), resumable."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.dpo import pl_dpo_loss
from ..core.plackett_luce import plackett_luce_nll
from ..core.sampling import sample_beta, sample_weights, weight_grid
from ..data.batching import SlateLoader
from ..data.dataset import DatasetState, RankingDataset
from ..data.store import atomic_write_json
from ..eval.metrics import ndcg_torch
from ..eval.pareto import hypervolume
from ..models.ranker import HyperDPORanker
from ..models.scorers import Scorer, build_scorer, conditioned_copy
from . import checkpoint as ckpt
from .config import RunConfig
from .loop import StageSpec, run_stage


@dataclass
class RunResult:
    """What a run produced: paths, the validation figures, timings, and the test front when a test split is set."""

    run_dir: str
    reference_path: str
    model_path: str
    config_path: str
    best_val_reference: float
    best_val_hypervolume: float
    train_seconds: float
    reference_seconds: float
    hyperdpo_seconds: float
    history: list = field(default_factory=list)
    front: dict | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def load_splits(cfg: RunConfig) -> tuple[RankingDataset, RankingDataset, RankingDataset | None]:
    """Train (fitting objectives and normaliser), vali (or a held-out part of train), test."""
    d = cfg.data
    if not d.train:
        raise ValueError("data.train is required")
    tr = RankingDataset.load(d.train, objectives=d.objectives, fit=True, normalize=d.normalize)
    if d.vali:
        va = RankingDataset.load(d.vali, state=tr.state)
    else:
        rng = np.random.default_rng(cfg.seed)
        q = rng.permutation(tr.n_queries)
        n_va = max(1, int(round(d.vali_fraction * tr.n_queries)))
        if tr.n_queries - n_va < 1:
            raise ValueError(f"{d.train}: too few queries to hold out a validation split")
        va = tr.subset(np.sort(q[:n_va]), name=f"{tr.name}[vali]")
        tr = tr.subset(np.sort(q[n_va:]), name=f"{tr.name}[train]")
    te = RankingDataset.load(d.test, state=tr.state) if d.test else None
    return tr, va, te


def _val_loader(ds: RankingDataset, bs: int) -> SlateLoader:
    return SlateLoader(ds, batch_size=bs, bucket=True, shuffle=False)


def val_ndcg(model_fn, ds: RankingDataset, k: int, batch_size: int = 64) -> np.ndarray:
    """Mean torch NDCG@k per objective (blank queries skipped) of ``model_fn(features, mask)``."""
    sums = np.zeros(ds.n_objectives)
    cnt = np.zeros(ds.n_objectives)
    with torch.no_grad():
        for b in _val_loader(ds, batch_size):
            s = model_fn(b.features, b.mask)
            for j in range(ds.n_objectives):
                v, blank = ndcg_torch(s, b.labels[..., j], b.mask, k)
                sums[j] += float(v[~blank].sum())
                cnt[j] += int((~blank).sum())
    return sums / np.maximum(cnt, 1)


def train(cfg: RunConfig, run_dir: str | os.PathLike, *, resume: bool = False,
          stop_after: int | None = None) -> RunResult:
    """Run both stages into ``run_dir``; with ``resume`` continue from its checkpoint to the same result."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if not resume and (run_dir / "checkpoint.pt").exists():
        raise FileExistsError(f"{run_dir} already holds a run; pass resume=True (--resume) or use another directory")
    t_start = time.perf_counter()
    tr, va, te = load_splits(cfg)
    atomic_write_json(run_dir / "config.json", cfg.to_dict())
    atomic_write_json(run_dir / "data_state.json", tr.state.to_dict())
    mcfg = cfg.model
    mcfg.n_features, mcfg.n_objectives = tr.n_features, tr.n_objectives
    log_path = run_dir / "log.jsonl"
    state = ckpt.load(run_dir / "checkpoint.pt") if resume and (run_dir / "checkpoint.pt").exists() else None
    if not resume and log_path.exists():
        log_path.unlink()
    k0 = cfg.eval.ks[0]
    d = cfg.data
    loader_ref = SlateLoader(tr, d.batch_size, slate_length=d.slate_length, shuffle=True, seed=cfg.seed)
    ref_path = run_dir / "reference.pt"

    # stage 1 ---------------------------------------------------------------------------------------------------
    t1 = time.perf_counter()
    if cfg.reference.checkpoint:
        reference, _ = ckpt.load_scorer(cfg.reference.checkpoint)
        ckpt.save_scorer(reference, ref_path)
        ref_hist, ref_best = [], float(val_ndcg(lambda x, m: reference(x, m), va, k0)[0])
    elif ref_path.exists() and (state is None or state["stage"] != "reference"):
        reference, saved = ckpt.load_scorer(ref_path)
        ref_hist, ref_best = saved.get("history", []), saved.get("best_metric", float("nan"))
    else:
        torch.manual_seed(cfg.seed)
        reference = build_scorer(mcfg, conditioned=False)
        rc = cfg.reference

        def ref_loss(b, gen):
            s = reference(b.features, b.mask)
            y = b.labels[..., 0]
            if rc.loss == "pl":
                return plackett_luce_nll(s, y, b.mask, generator=gen).mean()
            return listnet_loss(s, y, b.mask)

        spec = StageSpec("reference", 1, reference, ref_loss,
                         lambda: {f"val_ndcg@{k0}": float(val_ndcg(lambda x, m: reference(x, m), va, k0)[0])},
                         f"val_ndcg@{k0}", rc.epochs, rc.lr, rc.weight_decay, rc.patience, rc.grad_clip)
        st = run_stage(spec, loader_ref, run_dir, cfg.seed, resume=state if state and state["stage"] == "reference"
                       else None, progress=cfg.progress, log_path=log_path, stop_after=stop_after)
        ref_hist, ref_best = st.history, st.best_metric
        ckpt.save_scorer(reference, ref_path, history=ref_hist, best_metric=ref_best)
        state = None if (state and state["stage"] == "reference") else state
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    ref_seconds = time.perf_counter() - t1

    # stage 2 ---------------------------------------------------------------------------------------------------
    t2 = time.perf_counter()
    policy = conditioned_copy(reference)
    hc = cfg.hyperdpo
    K = tr.n_objectives
    vgrid = torch.from_numpy(weight_grid(K, cfg.eval.val_grid).astype(np.float32))
    temp = mcfg.temperature_conditioned

    def dpo_loss(b, gen):
        w = sample_weights(b.features.shape[0], K, hc.alpha, generator=gen)
        beta = sample_beta(b.features.shape[0], tuple(hc.beta_range), generator=gen) if temp else hc.beta
        with torch.no_grad():
            ref_s = reference(b.features, b.mask)
        pol = policy(b.features, b.mask, w, beta if temp else None)
        return pl_dpo_loss(pol, ref_s, b.labels, b.mask, w, beta=beta, top_k=hc.top_k, tie_break=hc.tie_break,
                           generator=gen)

    def dpo_val():
        pts = np.stack([val_ndcg(lambda x, m, w=w: policy(x, m, w.expand(x.shape[0], -1),
                                                          hc.beta if temp else None), va, k0) for w in vgrid])
        return {"val_hypervolume": hypervolume(pts, cfg.eval.ref_point)}

    spec2 = StageSpec("hyperdpo", 2, policy, dpo_loss, dpo_val, "val_hypervolume", hc.epochs, hc.lr,
                      hc.weight_decay, hc.patience, hc.grad_clip)
    loader_dpo = SlateLoader(tr, d.batch_size, slate_length=d.slate_length, shuffle=True, seed=cfg.seed + 1)
    st2 = run_stage(spec2, loader_dpo, run_dir, cfg.seed, resume=state if state and state["stage"] == "hyperdpo"
                    else None, progress=cfg.progress, log_path=log_path, stop_after=stop_after)
    model_path = ckpt.save_scorer(policy, run_dir / "model.pt", beta=hc.beta, history=st2.history)
    dpo_seconds = time.perf_counter() - t2

    front = None
    if te is not None:
        from ..eval.front import evaluate_front
        from ..eval.report import write_front

        ranker = HyperDPORanker(policy, reference, hc.beta)
        grid = weight_grid(K, cfg.eval.grid, method=cfg.eval.grid_method, seed=cfg.seed)
        res = evaluate_front(ranker, te, grid, ks=tuple(cfg.eval.ks), ref_point=cfg.eval.ref_point,
                             blank_policy=cfg.eval.blank_policy)
        write_front(res, run_dir / "front")
        front = res.to_dict()
    result = RunResult(str(run_dir), str(ref_path), str(model_path), str(run_dir / "config.json"), float(ref_best),
                       float(st2.best_metric), time.perf_counter() - t_start, ref_seconds, dpo_seconds,
                       list(ref_hist) + list(st2.history), front)
    atomic_write_json(run_dir / "result.json", result.to_dict())
    return result


def listnet_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ListNet (top-one softmax cross-entropy) averaged over lists ``[batch, list]``."""
    neg = torch.finfo(scores.dtype).min
    s = torch.where(mask, scores, torch.full_like(scores, neg))
    y = torch.where(mask, labels, torch.full_like(labels, neg))
    p_true = torch.softmax(y, dim=-1)
    logp = torch.log_softmax(s, dim=-1)
    return -(torch.where(mask, p_true * logp, torch.zeros_like(logp))).sum(-1).mean()


def load_run(run_dir: str | os.PathLike) -> tuple[HyperDPORanker, RunConfig, DatasetState]:
    """The trained ranker, its config and the fitted data state of a finished run."""
    run_dir = Path(run_dir)
    if not (run_dir / "model.pt").exists():
        raise FileNotFoundError(f"{run_dir}: no model.pt (is the run finished?)")
    cfg = RunConfig.load(run_dir / "config.json")
    policy, saved = ckpt.load_scorer(run_dir / "model.pt")
    reference, _ = ckpt.load_scorer(run_dir / "reference.pt")
    state = DatasetState.from_dict(json.loads((run_dir / "data_state.json").read_text()))
    return HyperDPORanker(policy, reference, saved.get("beta", cfg.hyperdpo.beta)), cfg, state
