#!/usr/bin/env python
"""LLM-module throughput on CPU: tokens per second of the log-prob pass (reference, no grad; policy with soft
prompts, no grad) and of a training step (policy forward + backward through the frozen model, PL-DPO loss, AdamW).

    python benchmarks/bench_llm.py [--model ../shared/models/babyllama_tok105/hf_llama] [--lists 4] [--list-size 4]

Inputs: AlpacaEval lists from ../shared (prompt <= 32 tokens, responses cut to the context). Medians of --repeats.
Prints one JSON object and a markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA_ROOT, ROOT, emit  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "babyllama_tok105" / "hf_llama"))
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--lists", type=int, default=4)
    ap.add_argument("--list-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args(argv)
    import torch

    from ltr_hyperdpo.core import pl_dpo_loss, sample_weights
    from ltr_hyperdpo.llm.convert import convert_alpacaeval
    from ltr_hyperdpo.llm.model import HyperPromptLM, load_causal_lm
    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    if a.threads:
        torch.set_num_threads(a.threads)
    data = convert_alpacaeval(a.data_root / "pref" / "alpacaeval" / "alpacaeval_805x54_lists.jsonl.gz")
    torch.manual_seed(0)
    model = HyperPromptLM(load_causal_lm(a.model), 2, n_prompts=8, hidden=64)
    ctx = model.base.config.max_position_embeddings
    enc = Encoder(TextTokenizer(a.model), ctx - 8, 32)
    pairs = [(data.prompts[i], data.responses[i][j]) for i in range(a.lists) for j in range(a.list_size)]
    ids, att, resp = enc.batch(pairs)
    n_tok = int(att.sum())
    w = sample_weights(len(pairs), 2, 0.5, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    labels = torch.from_numpy(data.score_matrix(0)[: a.list_size]).float()[None].expand(a.lists, -1, -1)

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
        fn()
        ts = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    rows = [("reference log-prob pass", timed(ref_pass)), ("policy log-prob pass (soft prompts)", timed(pol_pass)),
            ("training step (ref fwd + policy fwd/bwd + AdamW)", timed(step))]
    res = {r[0]: n_tok / r[1] for r in rows}
    emit({"logprob_tokens_per_s": res[rows[0][0]], "policy_logprob_tokens_per_s": res[rows[1][0]],
          "train_step_tokens_per_s": res[rows[2][0]], "tokens_per_batch": n_tok, "sequences": len(pairs),
          "torch_threads": torch.get_num_threads(), "model": a.model},
         [[name, n_tok, t * 1000, n_tok / t] for name, t in rows], ["pass", "tokens", "median ms", "tokens/s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
