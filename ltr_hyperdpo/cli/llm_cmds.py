"""The LLM commands: llm-convert, llm-train, llm-front, llm-generate: the implementations (loaded only when one of these
commands runs; the parser is in :mod:`ltr_hyperdpo.cli.llm`)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ..config import apply_overrides, load_config_file
from ..data.conversion import same_file
from ..errors import ConfigError
from ..eval.report import markdown_table, write_front
from ..llm.config import LLMConfig
from ..llm.convert import CONVERTERS, load_preferences
from ..llm.evaluate import evaluate_llm_front
from ..llm.generate import decoding_strength, fit_prompt, generate_front, loop_guard, parse_objectives
from ..llm.refcache import RefLogprobCache, cache_path
from ..llm.train import llm_run_plan, llm_train, load_data, load_llm_run, resolve_device
from ..runs.device import autocast
from ..utils.io import dumps_json
from .common import require

SOURCES = ["jsonl", *CONVERTERS]


def run_precision(run_dir: str) -> str:
    """The autocast precision a run trained in (its ``plan.json``; fp32 for runs written before it)."""
    plan = llm_run_plan(run_dir)
    return plan.precision if plan is not None else "fp32"


def cmd_convert(a: argparse.Namespace) -> int:
    if same_file(a.input, a.output):
        raise ConfigError(f"{a.output}: the output would overwrite the input; choose another output path")
    options = {}
    if a.source == "long":
        options = {"objectives": [o.strip() for o in (a.objectives or "").split(",") if o.strip()],
                   "group_by": a.group_by, "response_key": a.response_key}
    elif a.objectives or a.group_by != "prompt" or a.response_key != "response":
        raise ConfigError("--objectives, --group-by and --response-key apply to the long format only")
    lists = load_preferences(a.input, a.source, **options)
    lists.save(a.output)
    print(dumps_json({"output": a.output, "lists": len(lists), "objectives": lists.objectives,
                      "responses": sum(len(r) for r in lists.responses)}))
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    require("transformers")
    d = apply_overrides(load_config_file(a.config) if a.config else {}, a.set)
    if a.model:
        d["model"] = a.model
    res = llm_train(LLMConfig.from_dict(d), a.out, resume=a.resume)
    print(dumps_json({"run_dir": res.run_dir, "train_seconds": round(res.train_seconds, 1), "steps": res.steps,
                      "final_loss": res.history[-1]["loss"] if res.history else None}))
    return 0


def cmd_front(a: argparse.Namespace) -> int:
    require("transformers")
    model, enc, cfg, objectives, dev = load_llm_run(a.run_dir)
    held = load_preferences(a.data, a.source) if a.data else load_data(cfg)[1]
    if len(held) == 0:
        raise ConfigError(f"{a.data or cfg.data}: no held-out lists to evaluate")
    if held.objectives != objectives:
        raise ConfigError(f"held-out objectives {held.objectives} differ from the run's {objectives}")
    fns = parse_objectives(a.objective_fn, a.reward_model, dev) if a.generate else {}  # bad specs fail first
    precision = run_precision(a.run_dir)
    cache = RefLogprobCache(cache_path(a.run_dir, cfg.model, resolve_device(cfg)[1], precision))
    with autocast(precision, dev):
        res = evaluate_llm_front(model, enc, held, dev, grid=a.grid, beta=cfg.beta,
                                 max_lists=a.max_lists or cfg.eval_max_lists,
                                 list_size=a.list_size or cfg.eval_list_size, ref_point=a.ref_point, seed=cfg.seed,
                                 eval_beta=a.beta, ref_cache=cache)
    cache.save()
    title = f"LLM implicit-reward front, HV {res.hypervolume:.4g}"
    if len(res.objective_names) == 2:
        title += f"\n(labels: w_{res.objective_names[0]})"
    paths = write_front(res, a.out, title=title,
                        serve_command=f"ltr-hyperdpo llm-generate {a.run_dir} --prompt PROMPT --w {{w}}")
    print(markdown_table(res))
    summary: dict[str, Any] = {"hypervolume": res.hypervolume, **paths}
    if a.generate:
        prompts = held.prompts[: a.prompts]
        with autocast(precision, dev):
            gen = generate_front(model, enc, prompts, res.weights, fns, dev, weight_names=objectives,
                                 beta=(a.beta or cfg.beta), trained_beta=cfg.beta, max_new_tokens=a.max_new_tokens,
                                 temperature=a.temperature, seed=a.seed, no_repeat_ngram=a.no_repeat_ngram)
        gpaths = gen.write(Path(a.out) / "generated")
        print()
        print(gen.markdown())
        summary["generated"] = {"hypervolume": gen.hypervolume()[0], **gpaths}
    print(dumps_json(summary))
    return 0


def cmd_generate(a: argparse.Namespace) -> int:
    require("transformers")
    model, enc, cfg, objectives, dev = load_llm_run(a.run_dir)
    if a.w is not None and len(a.w) != len(objectives):
        raise ConfigError(f"--w needs {len(objectives)} values ({', '.join(objectives)})")
    if a.w is not None and sum(a.w) <= 0:
        raise ConfigError("--w: the weights must not all be 0")
    ids = fit_prompt(enc, a.prompt, a.max_new_tokens)
    w = None if a.w is None else torch.tensor([a.w], dtype=torch.float32).to(dev) / sum(a.w)
    beta = (a.beta or cfg.beta) if model.temperature_conditioned else None
    strength = decoding_strength(cfg.beta, a.beta, model.temperature_conditioned)
    kw: dict[str, Any] = {"max_new_tokens": a.max_new_tokens, "do_sample": a.temperature > 0,
                          **loop_guard(a.no_repeat_ngram)}
    if a.temperature > 0:
        kw["temperature"] = a.temperature
        torch.manual_seed(a.seed)
    with autocast(run_precision(a.run_dir), dev):
        out = model.generate(torch.tensor([ids]).to(dev), w, beta, strength=strength if w is not None else 1.0, **kw)
    print(enc.tok.decode(out[0].tolist()))
    return 0
