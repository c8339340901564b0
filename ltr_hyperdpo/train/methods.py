"""Stage 2 methods: one-shot HyperDPO and the multi-objective baselines, on the same backbone and data.

| method | models | loss | front |
|---|---|---|---|
| ``hyperdpo`` | 1 conditioned | PL-DPO, w ~ Dirichlet(α) per list | any w |
| ``cosmos`` | 1 conditioned | Σ w_k L_k − λ cos(w, L) (COSMOS-style), w ~ Dirichlet | any w |
| ``dpo_ls`` | one per grid w | fixed-w PL-DPO (linear scalarisation, multi-run) | grid w |
| ``dpo_soup`` | one per objective | PL-DPO on e_k; parameters mixed by w at evaluation | any w |
| ``modpo`` | one per grid w | PL-DPO on the main objective with the others as a margin | grid w |
| ``reference`` | the reference | — | one point |

MODPO-style margin: the main objective's ranking is scored under
``u = (β (s − s_ref) − Σ_{k≥1} w_k · margin_scale · y_k) / max(w_0, w0_min)``, so the optimum satisfies
``β (s − s_ref) ≈ w_0 r_0 + Σ w_k r_k`` with the auxiliary grades as their rewards.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..core.dpo import pl_dpo_loss, pl_dpo_objective_losses
from ..core.plackett_luce import plackett_luce_nll
from ..core.sampling import sample_beta, sample_weights, weight_grid
from ..data.batching import SlateLoader
from ..data.dataset import RankingDataset
from ..models.ranker import HyperDPORanker, MemberRanker, ReferenceRanker, SoupRanker
from ..models.scorers import Scorer, build_scorer, conditioned_copy
from . import checkpoint as ckpt
from .config import RunConfig
from .loop import StageSpec, run_stage
from .validation import val_hypervolume, val_ndcg

METHODS = ("hyperdpo", "cosmos", "dpo_ls", "dpo_soup", "modpo", "reference")


def member_weights(cfg: RunConfig, n_objectives: int) -> np.ndarray:
    """The training weights of the multi-run methods (the same grid the front is evaluated on)."""
    return weight_grid(n_objectives, cfg.eval.grid, method=cfg.eval.grid_method, seed=cfg.seed)


def _loader(cfg: RunConfig, tr: RankingDataset, offset: int = 1) -> SlateLoader:
    d = cfg.data
    return SlateLoader(tr, d.batch_size, slate_length=d.slate_length, shuffle=True, seed=cfg.seed + offset)


def _fit(name, stage_id, model, loss_fn, val_fn, val_key, cfg, tr, run_dir, resume_state, stop_after, on_epoch=None,
         param_groups=None):
    hc = cfg.hyperdpo
    spec = StageSpec(name, stage_id, model, loss_fn, val_fn, val_key, hc.epochs, hc.lr, hc.weight_decay,
                     hc.patience, hc.grad_clip, param_groups)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_stage(spec, _loader(cfg, tr), run_dir, cfg.seed, resume=resume_state, progress=cfg.progress,
                     log_path=run_dir / "log.jsonl", stop_after=stop_after, on_epoch=on_epoch)


def fit_conditioned(cfg: RunConfig, tr, va, reference: Scorer, run_dir: Path, resume_state, stop_after,
                    on_epoch=None):
    """HyperDPO or COSMOS-style: one weight-conditioned copy of the reference."""
    hc = cfg.hyperdpo
    K = tr.n_objectives
    # seeded here so the conditioning network's initialisation does not depend on what ran before
    torch.manual_seed(cfg.seed * 7919 + 17)
    policy = conditioned_copy(reference, cfg.model)
    temp = cfg.model.temperature_conditioned
    cosmos = cfg.method == "cosmos"
    k0 = cfg.eval.ks[0]
    grid = torch.from_numpy(weight_grid(K, cfg.eval.val_grid).astype(np.float32))

    def loss(b, gen):
        w = sample_weights(b.features.shape[0], K, hc.alpha, generator=gen)
        beta = sample_beta(b.features.shape[0], tuple(hc.beta_range), generator=gen) if temp else hc.beta
        with torch.no_grad():
            ref_s = reference(b.features, b.mask)
        pol = policy(b.features, b.mask, w, beta if temp else None)
        if not cosmos:
            return pl_dpo_loss(pol, ref_s, b.labels, b.mask, w, beta=beta, top_k=hc.top_k,
                               tie_break=hc.tie_break, generator=gen)
        per = pl_dpo_objective_losses(pol, ref_s, b.labels, b.mask, beta=beta, top_k=hc.top_k,
                                      tie_break=hc.tie_break, generator=gen)
        cos = torch.nn.functional.cosine_similarity(per, w, dim=1, eps=1e-8)
        return ((w * per).sum(1) - hc.cosmos_lambda * cos).mean()

    def val():
        fn = (lambda x, m, w: policy(x, m, w, hc.beta)) if temp else (lambda x, m, w: policy(x, m, w))
        return {"val_hypervolume": val_hypervolume(fn, grid, va, k0, cfg.eval.ref_point)}

    resume = resume_state if resume_state and resume_state["stage"] == cfg.method else None
    cond = [p for n, p in policy.named_parameters() if n.startswith(("film.", "prompt_net."))]
    ids = {id(p) for p in cond}
    groups = [{"params": [p for p in policy.parameters() if id(p) not in ids]},
              {"params": cond, "lr": hc.lr * hc.cond_lr_mult}] if cond else None
    st = _fit(cfg.method, 2, policy, loss, val, "val_hypervolume", cfg, tr, run_dir, resume, stop_after, on_epoch,
              groups)
    ckpt.save_scorer(policy, run_dir / "model.pt", beta=hc.beta, history=st.history)
    _write_method(run_dir, cfg.method, [], hc.beta)
    return HyperDPORanker(policy, reference, hc.beta), st.history, st.best_metric


def fit_members(cfg: RunConfig, tr, va, reference: Scorer, run_dir: Path, stop_after):
    """DPO-LS, MODPO-style (one plain model per grid weight) or DPO soup (one per objective)."""
    hc = cfg.hyperdpo
    K = tr.n_objectives
    k0 = cfg.eval.ks[0]
    weights = np.eye(K) if cfg.method == "dpo_soup" else member_weights(cfg, K)
    members, hist, scores = [], [], []
    for i, w in enumerate(weights):
        mdir = run_dir / "members" / f"m{i:02d}"
        path = mdir / "model.pt"
        if path.exists():
            model, saved = ckpt.load_scorer(path)
            members.append((w, model))
            hist += saved.get("history", [])
            scores.append(saved.get("best_metric", float("nan")))
            continue
        model = build_scorer(reference.config, conditioned=False)
        model.load_state_dict(reference.state_dict())
        wt = torch.tensor(w, dtype=torch.float32)

        def loss(b, gen, model=model, wt=wt):
            with torch.no_grad():
                ref_s = reference(b.features, b.mask)
            s = model(b.features, b.mask)
            bw = wt[None, :].expand(s.shape[0], -1)
            if cfg.method != "modpo":
                return pl_dpo_loss(s, ref_s, b.labels, b.mask, bw, beta=hc.beta, top_k=hc.top_k,
                                   tie_break=hc.tie_break, generator=gen)
            margin = (b.labels[..., 1:] * wt[1:]).sum(-1) * hc.modpo_margin_scale
            u = (hc.beta * (s - ref_s) - margin) / max(float(wt[0]), hc.modpo_w0_min)
            return plackett_luce_nll(u, b.labels[..., 0], b.mask, top_k=hc.top_k, tie_break=hc.tie_break,
                                     generator=gen).mean()

        def val(model=model, w=w):
            return {"val_scalarised": float(np.dot(w, val_ndcg(lambda x, m: model(x, m), va, k0)))}

        state = ckpt.load(mdir / "checkpoint.pt") if (mdir / "checkpoint.pt").exists() else None
        st = _fit(f"{cfg.method}[{i}]", 10 + i, model, loss, val, "val_scalarised", cfg, tr, mdir, state,
                  stop_after)
        ckpt.save_scorer(model, path, beta=hc.beta, history=st.history, best_metric=st.best_metric, weight=list(w))
        members.append((w, model))
        hist += st.history
        scores.append(st.best_metric)
    _write_method(run_dir, cfg.method, [{"w": list(map(float, w)), "path": f"members/m{i:02d}/model.pt"}
                                        for i, w in enumerate(weights)], hc.beta)
    if cfg.method == "dpo_soup":
        ranker = SoupRanker([m for _, m in members], reference, hc.beta)
    else:
        ranker = MemberRanker(members, reference, hc.beta)
    grid = torch.from_numpy(weight_grid(K, cfg.eval.val_grid).astype(np.float32))
    hv = val_hypervolume(lambda x, m, w: ranker.score(x, m, w[0]), grid, va, k0, cfg.eval.ref_point)
    return ranker, hist, hv


def _write_method(run_dir: Path, method: str, members: list, beta: float) -> None:
    from ..data.store import atomic_write_json

    atomic_write_json(run_dir / "method.json", {"method": method, "members": members, "beta": beta})


def fit_method(cfg: RunConfig, tr, va, reference: Scorer, run_dir: Path, resume_state=None, stop_after=None,
               on_epoch=None):
    """Run stage 2 of ``cfg.method``; returns (ranker, history, validation hypervolume)."""
    if cfg.method not in METHODS:
        raise ValueError(f"unknown method {cfg.method!r}; available: {', '.join(METHODS)}")
    if cfg.method in ("hyperdpo", "cosmos"):
        return fit_conditioned(cfg, tr, va, reference, run_dir, resume_state, stop_after, on_epoch)
    if cfg.method == "reference":
        _write_method(run_dir, "reference", [], 1.0)
        r = ReferenceRanker(reference)
        pts = val_ndcg(lambda x, m: reference(x, m), va, cfg.eval.ks[0])[None]
        from ..eval.pareto import hypervolume

        return r, [], hypervolume(pts, cfg.eval.ref_point)
    return fit_members(cfg, tr, va, reference, run_dir, stop_after)


def load_ranker(run_dir: Path, reference: Scorer):
    """Rebuild the ranker of a finished run from ``method.json`` and the saved models."""
    meta_path = run_dir / "method.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"method": "hyperdpo", "members": []}
    method = meta["method"]
    if method in ("hyperdpo", "cosmos"):
        policy, saved = ckpt.load_scorer(run_dir / "model.pt")
        return HyperDPORanker(policy, reference, saved.get("beta", meta.get("beta", 1.0)))
    if method == "reference":
        return ReferenceRanker(reference)
    members = [(np.asarray(m["w"]), ckpt.load_scorer(run_dir / m["path"])[0]) for m in meta["members"]]
    if method == "dpo_soup":
        return SoupRanker([m for _, m in members], reference, meta["beta"])
    return MemberRanker(members, reference, meta["beta"])
