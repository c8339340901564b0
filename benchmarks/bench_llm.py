#!/usr/bin/env python
"""One LLM training step, ours against trl's ``DPOTrainer``, on the same batch, model, LoRA rank and lengths.

    python benchmarks/bench_llm.py [--model smollm2] [--pairs 4] [--max-length 256] [--rounds 3] [--repeats 3]
                                   [--variants ours-fp32 ours-bf16 trl-fp32 trl-bf16] [--loss-check-steps 20]

The batch: ``--pairs`` AlpacaEval instructions (rendered with the model's chat template), each with its most and
least preferred response of at most 600 characters, cut to ``--max-length`` tokens: trl trains on them as
(chosen, rejected) pairs, ours on the same pairs as lists of 2. Both use LoRA rank 8 on q_proj/v_proj
(ours adds its 8 soft prompts and their network) and compute the reference log-probs in the step (trl from the
adapter-free model, ours with adapters and prompts off). A step is forward, backward and AdamW. ``tokens/s`` counts
the batch's real tokens (no padding, no soft prompts) per second of step.

Variants run in fresh processes, interleaved over ``--rounds`` (each round runs every variant once; a variant's
figure is the median over rounds of its median over ``--repeats`` steps after one warm-up). Memory is the process's
peak resident-set growth over the steps (CPU) or ``torch.cuda.max_memory_allocated`` (GPU).

``--loss-check-steps N`` also trains ours N steps in fp32 and in bf16 autocast from the same start on the same
batches and reports both final training losses and the held-out loss (evaluated in fp32) on other pairs: bf16 is
kept as the CPU default (``precision: auto``) only if it is faster at equal loss.
Prints one JSON object and a markdown table.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA_ROOT, emit  # noqa: E402

VARIANTS = ("ours-fp32", "ours-bf16", "trl-fp32", "trl-bf16")
LORA_RANK = 8


def pick_pairs(data, n: int, start: int = 0) -> list[tuple[str, str, str]]:
    """(instruction, most preferred, least preferred) among responses of at most 600 characters."""
    out = []
    i = start
    while len(out) < n:
        rs = [(s[0], r) for r, s in zip(data.responses[i], data.score_matrix(i), strict=True) if len(r) <= 600]
        if len(rs) >= 2:
            rs.sort(key=lambda t: t[0])
            out.append((data.prompts[i], rs[-1][1], rs[0][1]))
        i += 1
    return out


def ours_setup(a, pairs, torch, dev):
    from ltr_hyperdpo.llm.model import HyperPromptLM, load_causal_lm
    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    torch.manual_seed(0)
    lora = {"r": LORA_RANK, "lora_alpha": 2 * LORA_RANK, "target_modules": ["q_proj", "v_proj"]}
    model = HyperPromptLM(load_causal_lm(a.model), 1, n_prompts=8, hidden=64, lora=lora).to(dev)
    enc = Encoder(TextTokenizer(a.model), a.max_length, max_prompt_tokens=a.max_length // 2)
    ids, att, resp = (t.to(dev) for t in enc.batch([(p, c) for p, c, _ in pairs] + [(p, r) for p, _, r in pairs]))
    return model, ids, att, resp


def ours_step_fn(a, pairs, torch, dev, precision: str):
    from ltr_hyperdpo.core import pl_dpo_loss
    from ltr_hyperdpo.runs.device import autocast

    model, ids, att, resp = ours_setup(a, pairs, torch, dev)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    labels = torch.tensor([[1.0], [0.0]], device=dev).expand(len(pairs), 2, 1)
    w = torch.ones(len(pairs), 1, device=dev)

    def step():
        with autocast(precision, dev):
            with torch.no_grad():
                ref = model.sequence_logprobs(ids, att, resp).view(2, -1).T
            pol = model.sequence_logprobs(ids, att, resp, w.repeat(2, 1)).view(2, -1).T
            loss = pl_dpo_loss(pol.float(), ref.float(), labels, None, w, beta=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)
    return step, int(att.sum())


def trl_step_fn(a, pairs, torch, dev, precision: str):
    import datasets
    import peft
    import trl
    from transformers import AutoTokenizer

    from ltr_hyperdpo.llm.gguf import resolve_model_dir
    from ltr_hyperdpo.llm.model import load_causal_lm
    from ltr_hyperdpo.llm.tokenize import TextTokenizer

    d = resolve_model_dir(a.model)
    tok = AutoTokenizer.from_pretrained(str(d))
    ours_tok = TextTokenizer(d)
    rows = [{"prompt": tok.bos_token + ours_tok.render(p), "chosen": c, "rejected": r} for p, c, r in pairs]
    torch.manual_seed(0)
    out = tempfile.mkdtemp(prefix="bench_llm_trl_")
    args = trl.DPOConfig(output_dir=out, beta=0.1, per_device_train_batch_size=len(pairs), report_to=[],
                         max_length=a.max_length, learning_rate=1e-4, bf16=precision == "bf16",
                         use_cpu=dev.type == "cpu", disable_tqdm=True, logging_strategy="no")
    lora = peft.LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    trainer = trl.DPOTrainer(model=load_causal_lm(d), args=args, train_dataset=datasets.Dataset.from_list(rows),
                             processing_class=tok, peft_config=lora)
    inputs = next(iter(trainer.get_eval_dataloader(trainer.train_dataset)))
    trainer.create_optimizer_and_scheduler(num_training_steps=1000)
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train() before its first step
    model = trainer.model
    model.train()

    def step():
        loss = trainer.training_step(model, inputs)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
        return float(loss)
    return step, int(inputs["attention_mask"].sum())


def child(a, variant: str) -> dict:
    import torch
    from _common import peak_rss_bytes, reset_peak_rss, rss_bytes

    from ltr_hyperdpo.llm.convert import convert_alpacaeval
    from ltr_hyperdpo.runs.device import resolve_device

    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    data = convert_alpacaeval(a.data_root / "pref" / "alpacaeval" / "alpacaeval_805x54_lists.jsonl.gz")
    pairs = pick_pairs(data, a.pairs)
    kind, precision = variant.split("-")
    make = ours_step_fn if kind == "ours" else trl_step_fn
    step, tokens = make(a, pairs, torch, dev, precision)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    else:
        reset_peak_rss()
    before = rss_bytes()
    step()  # warm-up: what the step allocates counts in its memory
    ts = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    mem = torch.cuda.max_memory_allocated() if dev.type == "cuda" else max(peak_rss_bytes() - before, 0)
    return {"variant": variant, "seconds": statistics.median(ts), "tokens": tokens, "memory_mb": mem / 1e6,
            "device": str(dev), "threads": torch.get_num_threads()}


def loss_check(a) -> dict:
    """Train ours ``--loss-check-steps`` steps in fp32 and in bf16 from the same start on the same batches."""
    import torch

    from ltr_hyperdpo.core import pl_dpo_loss
    from ltr_hyperdpo.llm.convert import convert_alpacaeval
    from ltr_hyperdpo.runs.device import autocast, resolve_device

    dev = resolve_device(a.device)
    data = convert_alpacaeval(a.data_root / "pref" / "alpacaeval" / "alpacaeval_805x54_lists.jsonl.gz")
    train = pick_pairs(data, a.pairs * a.loss_check_steps)
    held = pick_pairs(data, 16, start=600)
    out = {}
    for precision in ("fp32", "bf16"):
        model, _, _, _ = ours_setup(a, train[:1], torch, dev)
        from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

        enc = Encoder(TextTokenizer(a.model), a.max_length, max_prompt_tokens=a.max_length // 2)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

        def loss_of(batch, prec, model=model, enc=enc):
            ids, att, resp = (t.to(dev) for t in enc.batch([(p, c) for p, c, _ in batch] +
                                                           [(p, r) for p, _, r in batch]))
            labels = torch.tensor([[1.0], [0.0]], device=dev).expand(len(batch), 2, 1)
            w = torch.ones(len(batch), 1, device=dev)
            with autocast(prec, dev):
                with torch.no_grad():
                    ref = model.sequence_logprobs(ids, att, resp).view(2, -1).T
                pol = model.sequence_logprobs(ids, att, resp, w.repeat(2, 1)).view(2, -1).T
                return pl_dpo_loss(pol.float(), ref.float(), labels, None, w, beta=0.1)

        model.train()
        losses = []
        t0 = time.perf_counter()
        for s in range(a.loss_check_steps):
            loss = loss_of(train[s * a.pairs:(s + 1) * a.pairs], precision)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        secs = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            held_loss = float(loss_of(held, "fp32"))
        out[precision] = {"train_loss_last5": statistics.mean(losses[-5:]), "heldout_loss_fp32": held_loss,
                          "seconds": secs}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2", help="model: a known name, a GGUF file or a HF directory")
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--pairs", type=int, default=4, help="(chosen, rejected) pairs per step")
    ap.add_argument("--max-length", type=int, default=256, help="tokens per sequence at most")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--loss-check-steps", type=int, default=0, help="fp32 vs bf16 training check (0: skip)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child is not None:
        print(json.dumps(loss_check(a) if a.child == "loss-check" else child(a, a.child)))
        return 0
    own = argv if argv is not None else sys.argv[1:]

    def spawn(what: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--child", what, *own], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"bench_llm: {what} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    runs: dict[str, list[dict]] = {v: [] for v in a.variants}
    for r in range(a.rounds):
        for v in a.variants:
            runs[v].append(spawn(v))
            print(f"round {r + 1}: {v} {runs[v][-1]['tokens'] / runs[v][-1]['seconds']:.0f} tokens/s",
                  file=sys.stderr)
    fig = {v: {"tokens_per_s": statistics.median(x["tokens"] / x["seconds"] for x in rs),
               "step_seconds": statistics.median(x["seconds"] for x in rs),
               "memory_mb": statistics.median(x["memory_mb"] for x in rs), "tokens": rs[0]["tokens"]}
           for v, rs in runs.items()}
    ratios = {}
    for prec in ("fp32", "bf16"):
        if f"ours-{prec}" in fig and f"trl-{prec}" in fig:
            ours, theirs = fig[f"ours-{prec}"]["tokens_per_s"], fig[f"trl-{prec}"]["tokens_per_s"]
            ratios[f"ours/trl tokens/s, {prec}"] = ours / theirs
    if "ours-bf16" in fig and "ours-fp32" in fig:
        ratios["ours bf16/fp32 tokens/s"] = fig["ours-bf16"]["tokens_per_s"] / fig["ours-fp32"]["tokens_per_s"]
    result = {"model": a.model, "device": next(iter(runs.values()))[0]["device"],
              "threads": next(iter(runs.values()))[0]["threads"], "pairs": a.pairs, "max_length": a.max_length,
              "lora_rank": LORA_RANK, "rounds": a.rounds, "repeats": a.repeats, "variants": fig, "ratios": ratios}
    if a.loss_check_steps:
        result["loss_check"] = spawn("loss-check")
    emit(result, [[v, f["tokens"], f["step_seconds"] * 1000, f["tokens_per_s"], f["memory_mb"]] for v, f in fig.items()]
         + [[k, "", "", v, ""] for k, v in ratios.items()],
         ["variant", "tokens", "median step ms", "tokens/s (ratio)", "peak memory MB"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
