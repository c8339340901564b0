"""The LLM commands: llm-convert, llm-train, llm-front, llm-generate: their parsers (light: the implementations in
:mod:`ltr_hyperdpo.cli.llm_cmds` load when a command runs)."""
from __future__ import annotations

from typing import Any

from .common import (
    command,
    finite_float,
    lazy_command,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)

#: input formats of llm-convert and llm-front (``llm.convert.CONVERTERS`` and the list format)
SOURCES = ["jsonl", "alpacaeval", "oasst", "hh_rlhf", "trl", "long"]

def add_commands(sub: Any) -> None:
    """Register the llm-* commands."""
    c = command(sub, "llm-convert", "convert a preference set to the list format",
                "Formats: alpacaeval (AlpacaEval lists: preference, brevity), oasst (OpenAssistant trees: human_rank), "
                "hh_rlhf (HH-RLHF pairs: harmless), trl (trl preference rows, standard or conversational: "
                "preference), long (one response per row with numeric attributes, grouped by prompt), jsonl (the "
                "list format, validated). Writes the list format as JSONL (or .parquet/.arrow).",
                ["ltr-hyperdpo llm-convert alpacaeval alpacaeval_805x54_lists.jsonl.gz alpaca_lists.jsonl",
                 "ltr-hyperdpo llm-convert trl preferences.jsonl lists.jsonl",
                 "ltr-hyperdpo llm-convert long helpsteer.parquet lists.jsonl --objectives helpfulness,correctness,"
                 "verbosity"])
    c.add_argument("source", choices=SOURCES, help="input format (see above)")
    c.add_argument("input", help="input file: JSON lines (.jsonl, .jsonl.gz), a JSON array, or Parquet")
    c.add_argument("output", help="output lists: .jsonl, or .parquet/.arrow")
    c.add_argument("--objectives", help="long format: comma-separated numeric columns, higher is better")
    c.add_argument("--group-by", default="prompt", help="long format: the column that makes a list (default prompt)")
    c.add_argument("--response-key", default="response", help="long format: the response column (default response)")
    c.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_convert"))

    t = command(sub, "llm-train", "HyperDPO over lists of LLM responses (Hyper Prompt Tuning)",
                "Trains a (w, β)-conditioned soft-prompt network (and optional LoRA adapters) on a frozen causal LM "
                "with the PL-DPO loss over response lists.",
                ["ltr-hyperdpo llm-train --config llm.yaml --out runs/llm",
                 "ltr-hyperdpo llm-train --model ../shared/models/babyllama_tok105/hf_llama --set data=lists.jsonl "
                 "--out runs/llm"])
    t.add_argument("--config", help="JSON or YAML LLM config")
    t.add_argument("--model", help="local Hugging Face causal LM directory")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoint")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    t.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_train"))

    f = command(sub, "llm-front", "implicit-reward ranking quality over a grid of weights",
                "Pairwise accuracy and NDCG@10 of the implicit reward per objective on held-out lists, the front, "
                "its hypervolume and a PNG plot. With --generate, also the generated front: held-out prompts "
                "generated at every grid weight (greedy and sampled) and scored by objective functions.",
                ["ltr-hyperdpo llm-front runs/llm --grid 5 --out runs/llm/front",
                 "ltr-hyperdpo llm-front runs/llm --data heldout.jsonl --grid 7 --out f",
                 "ltr-hyperdpo llm-front runs/llm --generate --objective-fn brevity=length "
                 "--objective-fn quality=myscores:quality --out f"])
    f.add_argument("run_dir", help="a finished LLM run directory")
    f.add_argument("--data", help="held-out lists (default: the run's held-out split)")
    f.add_argument("--source", default="jsonl", choices=SOURCES, help="format of --data (default jsonl)")
    f.add_argument("--grid", type=positive_int, default=5, help="number of weights (K=2: points on the segment)")
    f.add_argument("--out", required=True, help="output directory for front.csv/json/png")
    f.add_argument("--max-lists", type=positive_int, help="evaluate on at most this many lists")
    f.add_argument("--list-size", type=positive_int, help="responses per list (sampled)")
    f.add_argument("--beta", type=positive_float,
                   help="evaluate (and with --generate, generate) at another temperature β (> 0); a model that is "
                        "not temperature-conditioned is decoded rescaled from its trained β (see llm-generate)")
    f.add_argument("--ref-point", type=finite_float, nargs="*", help="hypervolume reference point (default 0)")
    f.add_argument("--generate", action="store_true",
                   help="also generate for held-out prompts at every grid weight and write the generated front "
                        "(mean objective scores of the generations) into OUT/generated")
    f.add_argument("--objective-fn", action="append", metavar="NAME=SPEC",
                   help="an objective of the generated front: NAME=length, NAME=distinct_ngrams or "
                        "NAME=module:function(prompt, response) -> float (repeatable; default: length and "
                        "distinct_ngrams)")
    f.add_argument("--reward-model", action="append", metavar="NAME=DIR",
                   help="a local Hugging Face sequence-classification model as an objective (its last logit)")
    f.add_argument("--prompts", type=positive_int, default=20, help="held-out prompts to generate for (default 20)")
    f.add_argument("--max-new-tokens", type=positive_int, default=64, help="tokens per generation (default 64)")
    f.add_argument("--temperature", type=positive_float, default=0.8,
                   help="sampling temperature of the sampled generations (default 0.8; greedy ones are also made)")
    f.add_argument("--seed", type=int, default=0, help="sampling seed (the same draws for every weight)")
    f.add_argument("--no-repeat-ngram", type=nonnegative_int, metavar="N",
                   help="loop guard: no token n-gram of this size twice in a response (0 = off; default: the "
                        "rule ltr_hyperdpo.defaults.LLM_NO_REPEAT_NGRAM, 6)")
    f.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_front"))

    g = command(sub, "llm-generate", "generate with a chosen trade-off w (and β)",
                "Greedy or sampled continuation of --prompt with the soft prompts of --w (omit --w for the "
                "reference model).",
                ["ltr-hyperdpo llm-generate runs/llm --prompt 'Once upon a time' --w 1 0",
                 "ltr-hyperdpo llm-generate runs/llm --prompt 'Summarise DPO' --w 0 1 --beta 0.05"])
    g.add_argument("run_dir", help="a finished LLM run directory")
    g.add_argument("--prompt", required=True, help="the prompt text")
    g.add_argument("--w", type=nonnegative_float, nargs="*", help="weights per objective (normalised to sum 1)")
    g.add_argument("--beta", type=positive_float,
                   help="temperature β (> 0): the input of a temperature-conditioned run; any other run's policy is "
                        "rescaled to it at decoding, next-token log p_ref + (β_trained/β)(log p - log p_ref) "
                        "(smaller β: further from the reference model); default: the trained β")
    g.add_argument("--max-new-tokens", type=positive_int, default=80, help="tokens to generate (default 80)")
    g.add_argument("--temperature", type=nonnegative_float, default=0.0, help="sampling temperature; 0 = greedy")
    g.add_argument("--seed", type=int, default=0, help="sampling seed")
    g.add_argument("--no-repeat-ngram", type=nonnegative_int, metavar="N",
                   help="loop guard: no token n-gram of this size twice in a response (0 = off; default: the "
                        "rule ltr_hyperdpo.defaults.LLM_NO_REPEAT_NGRAM, 6)")
    g.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_generate"))
