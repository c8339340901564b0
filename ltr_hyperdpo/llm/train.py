"""LLM HyperDPO trainer: PL-DPO over lists of responses, w ~ Dirichlet per list, only the prompt network (and
adapters) trained; gradient accumulation, progress bar, JSON-lines log, atomic checkpoints, resume."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.dpo import pl_dpo_loss
from ..core.sampling import sample_beta, sample_weights
from ..data.store import atomic_write_json
from ..train.checkpoint import load as load_ckpt
from ..train.checkpoint import open_run_dir
from ..train.checkpoint import save_atomic
from ..train.loop import TrainingDivergedError, progress_bar
from .config import LLMConfig
from .data import PreferenceLists, load_preferences, read_lists
from .model import HyperPromptLM, load_causal_lm
from .tokenize import Encoder, TextTokenizer


def resolve_device(cfg: LLMConfig) -> tuple[torch.device, torch.dtype]:
    dev = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if cfg.device == "auto" else cfg.device))
    if cfg.dtype == "auto":
        dt = torch.bfloat16 if dev.type == "cuda" else torch.float32
    else:
        dt = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.dtype]
    return dev, dt


def build_model(cfg: LLMConfig, n_objectives: int) -> tuple[HyperPromptLM, Encoder, torch.device]:
    """The base LM (frozen) with its prompt network, the encoder, and the device."""
    dev, dt = resolve_device(cfg)
    base = load_causal_lm(cfg.model, dtype=dt)
    ctx = getattr(base.config, "max_position_embeddings", 2048)
    torch.manual_seed(cfg.seed)
    model = HyperPromptLM(base, n_objectives, cfg.n_prompts, cfg.prompt_hidden, cfg.temperature_conditioned,
                          cfg.lora).to(dev)
    enc = Encoder(TextTokenizer(cfg.model, cfg.tokenizer), (cfg.max_length or ctx) - cfg.n_prompts,
                  cfg.max_prompt_tokens)
    return model, enc, dev


def load_data(cfg: LLMConfig) -> tuple[PreferenceLists, PreferenceLists]:
    """(train, held-out) lists: a separate held-out file, or a split by prompt."""
    data = load_preferences(cfg.data, cfg.source)
    if cfg.heldout:
        held = read_lists(cfg.heldout)
        train = data
    else:
        train, held = data.split(cfg.heldout_fraction, cfg.seed)
    if cfg.max_train_lists:
        train = train.subset(range(min(cfg.max_train_lists, len(train))))
    return train, held


def sample_list(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(size, n), replace=False))


class RefCache:
    """Reference log-probs computed once per (list, response) and reused across steps and epochs."""

    def __init__(self):
        self.v: dict = {}

    def get(self, model: HyperPromptLM, enc: Encoder, data: PreferenceLists, keys: list[tuple[int, int]], dev):
        missing = [k for k in keys if k not in self.v]
        if missing:
            ids, att, resp = enc.batch([(data.prompts[i], data.responses[i][j]) for i, j in missing])
            with torch.no_grad():
                lp = model.sequence_logprobs(ids.to(dev), att.to(dev), resp.to(dev), None)
            for k, x in zip(missing, lp.float().cpu()):
                self.v[k] = float(x)
        return torch.tensor([self.v[k] for k in keys])


def list_batch(data: PreferenceLists, lists: list[int], picks: list[np.ndarray]):
    """(pairs, keys, labels [B, m, K], mask [B, m]) for the chosen responses of each list."""
    m = max(len(p) for p in picks)
    K = len(data.objectives)
    labels = torch.zeros(len(lists), m, K, dtype=torch.float64)
    mask = torch.zeros(len(lists), m, dtype=torch.bool)
    pairs, keys = [], []
    for b, (i, pick) in enumerate(zip(lists, picks)):
        sm = data.score_matrix(i)
        for j, r in enumerate(pick):
            pairs.append((data.prompts[i], data.responses[i][r]))
            keys.append((i, int(r)))
            labels[b, j] = torch.from_numpy(sm[r])
            mask[b, j] = True
    return pairs, keys, labels, mask


@dataclass
class LLMRunResult:
    run_dir: str
    train_seconds: float
    steps: int
    history: list


def llm_train(cfg: LLMConfig, run_dir: str | Path, *, resume: bool = False, stop_after: int | None = None):
    """Train the prompt network (and adapters) with PL-DPO over response lists; returns an :class:`LLMRunResult`."""
    run_dir = open_run_dir(run_dir, resume, cfg.threads)
    train, _ = load_data(cfg)
    atomic_write_json(run_dir / "config.json", cfg.to_dict())
    model, enc, dev = build_model(cfg, len(train.objectives))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, history, steps = 0, [], 0
    ck = run_dir / "checkpoint.pt"
    if resume and ck.exists():
        st = load_ckpt(ck)
        model.load_trainable_state(st["trainable"])
        opt.load_state_dict(st["optimizer"])
        start_epoch, history, steps = st["epoch"], st["history"], st["steps"]
    cache = RefCache()
    K = len(train.objectives)
    t0 = time.perf_counter()
    ran = 0
    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 1000 + epoch)
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch + 1)
        order = rng.permutation(len(train))
        batches = [order[s:s + cfg.batch_lists].tolist() for s in range(0, len(order), cfg.batch_lists)]
        bar = progress_bar(cfg.progress, len(batches), f"llm epoch {epoch + 1}/{cfg.epochs}")
        model.train()
        tot, n, tokens = 0.0, 0, 0
        opt.zero_grad(set_to_none=True)
        te = time.perf_counter()
        for bi, lists in enumerate(batches):
            picks = [sample_list(len(train.responses[i]), cfg.list_size, rng) for i in lists]
            pairs, keys, labels, mask = list_batch(train, lists, picks)
            B, m = mask.shape
            w = sample_weights(B, K, cfg.alpha, generator=gen)
            beta = sample_beta(B, tuple(cfg.beta_range), generator=gen) if cfg.temperature_conditioned else cfg.beta
            ref = torch.zeros(B, m)
            ref[mask] = cache.get(model, enc, train, keys, dev)
            ids, att, resp = enc.batch(pairs)
            tokens += int(att.sum())
            idx = mask.nonzero()
            w_rows = w[idx[:, 0]]
            b_rows = beta[idx[:, 0]] if torch.is_tensor(beta) else None
            lp = model.sequence_logprobs(ids.to(dev), att.to(dev), resp.to(dev), w_rows.to(dev),
                                         b_rows.to(dev) if b_rows is not None else None).float().cpu()
            pol = torch.zeros(B, m)
            pol = pol.index_put((idx[:, 0], idx[:, 1]), lp)
            loss = pl_dpo_loss(pol, ref, labels.float(), mask, w, beta=beta, generator=gen)
            if not torch.isfinite(loss):
                raise TrainingDivergedError(f"llm: loss became {loss.item()} at epoch {epoch + 1}, batch {bi + 1}; "
                                            f"the last good checkpoint is {ck}")
            (loss / cfg.grad_accum).backward()
            if (bi + 1) % cfg.grad_accum == 0 or bi + 1 == len(batches):
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                opt.zero_grad(set_to_none=True)
                steps += 1
            tot += loss.item()
            n += 1
            if bar is not None:
                bar.set_postfix(loss=f"{tot / n:.4f}")
                bar.update(1)
        if bar is not None:
            bar.close()
        sec = time.perf_counter() - te
        rec = {"epoch": epoch + 1, "loss": tot / max(n, 1), "steps": steps, "seconds": sec,
               "tokens_per_s": tokens / max(sec, 1e-9)}
        history.append(rec)
        with open(run_dir / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
        if cfg.progress:
            print(f"llm epoch {epoch + 1}/{cfg.epochs}: loss {rec['loss']:.4f}, {rec['tokens_per_s']:.0f} tok/s",
                  file=sys.stderr)
        save_atomic({"trainable": model.trainable_state(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                     "history": history, "steps": steps}, ck)
        ran += 1
        if stop_after is not None and ran >= stop_after and epoch + 1 < cfg.epochs:
            raise KeyboardInterrupt(f"stopped after {ran} epoch(s) (stop_after)")
    enc.warn_truncations("llm-train: ")
    save_atomic({"trainable": model.trainable_state(), "objectives": train.objectives, "beta": cfg.beta},
                run_dir / "prompt_model.pt")
    res = LLMRunResult(str(run_dir), time.perf_counter() - t0, steps, history)
    atomic_write_json(run_dir / "result.json", res.__dict__)
    return res


def load_llm_run(run_dir: str | Path) -> tuple[HyperPromptLM, Encoder, LLMConfig, list[str], torch.device]:
    """(model with trained prompts, encoder, config, objective names, device) of a finished run."""
    run_dir = Path(run_dir)
    if not (run_dir / "prompt_model.pt").exists():
        raise FileNotFoundError(f"{run_dir}: no prompt_model.pt (is the run finished?)")
    cfg = LLMConfig.load(run_dir / "config.json")
    saved = load_ckpt(run_dir / "prompt_model.pt")
    model, enc, dev = build_model(cfg, len(saved["objectives"]))
    model.load_trainable_state(saved["trainable"])
    return model.eval(), enc, cfg, saved["objectives"], dev

