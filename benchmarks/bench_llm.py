#!/usr/bin/env python
"""LLM-module throughput: tokens per second of the log-prob pass (reference, no grad; policy with soft prompts, no
grad) and of a training step (policy forward + backward through the frozen model, PL-DPO loss, AdamW), for the
prompt network alone and with LoRA adapters (r = 4, 8), with the peak memory of each training step.

    python benchmarks/bench_llm.py [--model ../shared/models/babyllama_tok105/hf_llama] [--lists 4] [--list-size 4]
                                   [--lora-ranks 4 8] [--device auto]

Inputs: AlpacaEval lists from ../shared (prompt <= 32 tokens, responses cut to the context). Medians of --repeats.
Each variant runs in a fresh process; memory is that process's peak resident-set growth over the timed passes,
measured from just before the first one (CPU), or ``torch.cuda.max_memory_allocated`` (GPU).
Prints one JSON object and a markdown table.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA_ROOT, ROOT, emit  # noqa: E402


def bench_variant(name: str, lora: dict | None, a, data, torch, dev) -> list[tuple]:
    """(pass, tokens, median seconds, memory MB) rows of one model variant."""
    from _common import peak_rss_bytes, reset_peak_rss, rss_bytes

    from ltr_hyperdpo.core import pl_dpo_loss, sample_weights
    from ltr_hyperdpo.llm.model import HyperPromptLM, load_causal_lm
    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    torch.manual_seed(0)
    model = HyperPromptLM(load_causal_lm(a.model), 2, n_prompts=8, hidden=64, lora=lora).to(dev)
    ctx = model.base.config.max_position_embeddings
    enc = Encoder(TextTokenizer(a.model), ctx - 8, 32)
    pairs = [(data.prompts[i], data.responses[i][j]) for i in range(a.lists) for j in range(a.list_size)]
    ids, att, resp = (t.to(dev) for t in enc.batch(pairs))
    n_tok = int(att.sum())
    w = sample_weights(len(pairs), 2, 0.5, generator=torch.Generator().manual_seed(0)).to(dev)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-3)
    labels = torch.from_numpy(data.score_matrix(0)[: a.list_size]).float()[None].expand(a.lists, -1, -1).to(dev)

    def ref_pass():
        with torch.no_grad():
            model.sequence_logprobs(ids, att, resp)

    def pol_pass():
        with torch.no_grad():
            model.sequence_logprobs(ids, att, resp, w)

    def step():
        with torch.no_grad():
            ref = model.sequence_logprobs(ids, att, resp).view(a.lists, a.list_size)
        pol = model.sequence_logprobs(ids, att, resp, w).view(a.lists, a.list_size)
        loss = pl_dpo_loss(pol, ref, labels, None, w.view(a.lists, a.list_size, 2)[:, 0], beta=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def timed(fn):
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = 0
        else:
            reset_peak_rss()
            before = rss_bytes()
        fn()  # the warm-up allocates what the pass needs: counted in its memory
        ts = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            ts.append(time.perf_counter() - t)
        mem = torch.cuda.max_memory_allocated() if dev.type == "cuda" else max(peak_rss_bytes() - before, 0)
        return statistics.median(ts), mem / 1e6

    n_params = sum(p.numel() for p in trainable)
    rows = []
    for label, fn in (("reference log-prob pass", ref_pass), ("policy log-prob pass", pol_pass),
                      ("training step", step)):
        sec, mem = timed(fn)
        rows.append((name, label, n_tok, sec, mem, n_params))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "babyllama_tok105" / "hf_llama"))
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--lists", type=int, default=4)
    ap.add_argument("--list-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lora-ranks", type=int, nargs="*", default=[4, 8], help="LoRA ranks to measure besides prompts")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    import torch

    from ltr_hyperdpo.llm.convert import convert_alpacaeval
    from ltr_hyperdpo.runs.device import resolve_device

    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    data = convert_alpacaeval(a.data_root / "pref" / "alpacaeval" / "alpacaeval_805x54_lists.jsonl.gz")
    if a.child is not None:  # one variant in this fresh process
        r = int(a.child)
        rows = bench_variant("prompts only" if r == 0 else f"prompts + LoRA r={r}",
                             None if r == 0 else {"r": r, "lora_alpha": 2 * r}, a, data, torch, dev)
        print(json.dumps(rows))
        return 0
    rows = []
    for r in [0, *a.lora_ranks]:
        cmd = [sys.executable, __file__, "--child", str(r), *(argv if argv is not None else sys.argv[1:])]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows += [tuple(x) for x in json.loads(out.strip().splitlines()[-1])]
    steps = {r[0]: r[2] / r[3] for r in rows if r[1] == "training step"}
    base = steps["prompts only"]
    emit({"device": str(dev), "torch_threads": torch.get_num_threads(), "model": a.model,
          "logprob_tokens_per_s": rows[0][2] / rows[0][3], "policy_logprob_tokens_per_s": rows[1][2] / rows[1][3],
          "train_step_tokens_per_s": steps, "train_step_vs_prompts_only": {k: v / base for k, v in steps.items()},
          "train_step_memory_mb": {r[0]: r[4] for r in rows if r[1] == "training step"},
          "trainable_parameters": {r[0]: r[5] for r in rows if r[1] == "training step"},
          "tokens_per_batch": rows[0][2], "sequences": a.lists * a.list_size},
         [[r[0], r[1], r[2], r[3] * 1000, r[2] / r[3], r[4], r[5]] for r in rows],
         ["variant", "pass", "tokens", "median ms", "tokens/s", "memory MB", "trainable params"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
