"""CLI: llm-convert, llm-train, llm-front, llm-generate."""
from __future__ import annotations

import json


def cmd_convert(a) -> int:
    from .data import load_preferences

    lists = load_preferences(a.input, a.source)
    lists.save(a.output)
    print(json.dumps({"output": a.output, "lists": len(lists), "objectives": lists.objectives,
                      "responses": sum(len(r) for r in lists.responses)}))
    return 0


def cmd_train(a) -> int:
    from ..cli_train import apply_overrides
    from ..config import load_config_file
    from .config import LLMConfig
    from .train import llm_train

    d = apply_overrides(load_config_file(a.config) if a.config else {}, a.set)
    if a.model:
        d["model"] = a.model
    res = llm_train(LLMConfig.from_dict(d), a.out, resume=a.resume)
    print(json.dumps({"run_dir": res.run_dir, "train_seconds": round(res.train_seconds, 1), "steps": res.steps,
                      "final_loss": res.history[-1]["loss"] if res.history else None}))
    return 0


def cmd_front(a) -> int:
    from ..eval.report import markdown_table, write_front
    from .data import load_preferences
    from .evaluate import evaluate_llm_front
    from .train import load_data, load_llm_run

    model, enc, cfg, objectives, dev = load_llm_run(a.run_dir)
    held = load_preferences(a.data, a.source) if a.data else load_data(cfg)[1]
    if held.objectives != objectives:
        raise ValueError(f"held-out objectives {held.objectives} differ from the run's {objectives}")
    res = evaluate_llm_front(model, enc, held, dev, grid=a.grid, beta=cfg.beta,
                             max_lists=a.max_lists or cfg.eval_max_lists,
                             list_size=a.list_size or cfg.eval_list_size, ref_point=a.ref_point, seed=cfg.seed,
                             eval_beta=a.beta)
    paths = write_front(res, a.out, title=f"LLM implicit-reward front, HV {res.hypervolume:.4g}\n(labels: w_{res.objective_names[0]})"
                        if len(res.objective_names) == 2 else f"LLM implicit-reward front, HV {res.hypervolume:.4g}")
    print(markdown_table(res))
    print(json.dumps({"hypervolume": res.hypervolume, **paths}))
    return 0


def cmd_generate(a) -> int:
    import torch

    from .train import load_llm_run

    model, enc, cfg, objectives, dev = load_llm_run(a.run_dir)
    if a.w is not None and len(a.w) != len(objectives):
        raise ValueError(f"--w needs {len(objectives)} values ({', '.join(objectives)})")
    ids = [enc.tok.bos_id] + enc.tok.encode(a.prompt)
    w = None if a.w is None else torch.tensor([a.w], dtype=torch.float32).to(dev) / max(sum(a.w), 1e-12)
    beta = (a.beta or cfg.beta) if model.temperature_conditioned else None
    kw = dict(max_new_tokens=a.max_new_tokens, do_sample=a.temperature > 0)
    if a.temperature > 0:
        kw["temperature"] = a.temperature
        torch.manual_seed(a.seed)
    out = model.generate(torch.tensor([ids]).to(dev), w, beta, **kw)
    print(enc.tok.decode(out[0].tolist()))
    return 0


def add_commands(sub, fmt) -> None:
    c = sub.add_parser("llm-convert", help="convert a raw preference set to the list format",
                       description="AlpacaEval lists (preference, brevity), OpenAssistant ranked replies "
                                   "(human_rank), HH-RLHF harmless pairs -> our JSONL (or .parquet).",
                       **fmt("example:\n  ltr-hyperdpo llm-convert alpacaeval alpacaeval_805x54_lists.jsonl.gz "
                             "alpaca_lists.jsonl"))
    c.add_argument("source", choices=["alpacaeval", "oasst", "hh_rlhf", "jsonl"])
    c.add_argument("input")
    c.add_argument("output")
    c.set_defaults(fn=cmd_convert)

    t = sub.add_parser("llm-train", help="HyperDPO over lists of LLM responses (Hyper Prompt Tuning)",
                       description="Trains a (w, β)-conditioned soft-prompt network (and optional LoRA adapters) on "
                                   "a frozen causal LM with the PL-DPO loss over response lists.",
                       **fmt("example:\n  ltr-hyperdpo llm-train --config llm.yaml --out runs/llm\n"
                             "  ltr-hyperdpo llm-train --model ../shared/models/babyllama_tok105/hf_llama "
                             "--set data=lists.jsonl --out runs/llm"))
    t.add_argument("--config")
    t.add_argument("--model", help="local Hugging Face causal LM directory")
    t.add_argument("--out", required=True)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--set", action="append", metavar="KEY=VALUE")
    t.set_defaults(fn=cmd_train)

    f = sub.add_parser("llm-front", help="implicit-reward ranking quality over a grid of weights",
                       description="Pairwise accuracy and NDCG@10 of the implicit reward per objective on held-out "
                                   "lists, the front, its hypervolume and a PNG plot.",
                       **fmt("example:\n  ltr-hyperdpo llm-front runs/llm --grid 5 --out runs/llm/front\n"
                             "  ltr-hyperdpo llm-front runs/llm --data heldout.jsonl --grid 7 --out f"))
    f.add_argument("run_dir")
    f.add_argument("--data", help="held-out lists (default: the run's held-out split)")
    f.add_argument("--source", default="jsonl", choices=["jsonl", "alpacaeval", "oasst", "hh_rlhf"])
    f.add_argument("--grid", type=int, default=5)
    f.add_argument("--out", required=True)
    f.add_argument("--max-lists", type=int)
    f.add_argument("--list-size", type=int)
    f.add_argument("--beta", type=float, help="evaluate at another temperature")
    f.add_argument("--ref-point", type=float, nargs="*")
    f.set_defaults(fn=cmd_front)

    g = sub.add_parser("llm-generate", help="generate with a chosen trade-off w (and β)",
                       **fmt("example:\n  ltr-hyperdpo llm-generate runs/llm --prompt 'Once upon a time' --w 1 0"))
    g.add_argument("run_dir")
    g.add_argument("--prompt", required=True)
    g.add_argument("--w", type=float, nargs="*", help="weights per objective (omit for the reference model)")
    g.add_argument("--beta", type=float)
    g.add_argument("--max-new-tokens", type=int, default=80)
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(fn=cmd_generate)
