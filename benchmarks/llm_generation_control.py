#!/usr/bin/env python
"""Control on generated text: does the length of generations fall as w_brevity rises?

    python benchmarks/llm_generation_control.py [--seeds 0 1 2] [--train-lists 300] [--epochs 1] [--prompts 20]

Per seed: an LLM HyperDPO run on the AlpacaEval lists (objectives preference and brevity = -characters) with the
tiny Llama of ``../shared`` (prompt network only), then greedy and sampled generations (``--max-new-tokens``) for
``--prompts`` held-out prompts at 5 grid weights and with the reference model. Reported: the mean generated length
(characters) per w_brevity, its Spearman correlation with w_brevity (the claim: <= -0.8), and whether the reference's
mean length lies inside the range of the weights'. Prints one JSON line and a markdown table.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA_ROOT, ROOT, emit  # noqa: E402

from ltr_hyperdpo.core.grids import weight_grid  # noqa: E402
from ltr_hyperdpo.llm.config import LLMConfig  # noqa: E402
from ltr_hyperdpo.llm.convert import convert_alpacaeval  # noqa: E402
from ltr_hyperdpo.llm.data import PreferenceLists  # noqa: E402
from ltr_hyperdpo.llm.generate import generate_front, length_objective  # noqa: E402
from ltr_hyperdpo.llm.train import llm_train, load_data, load_llm_run  # noqa: E402


def short_responses(lists: PreferenceLists, max_chars: int, min_size: int) -> PreferenceLists:
    """The lists restricted to responses of at most ``max_chars`` characters (lists left with fewer than
    ``min_size`` responses are dropped)."""
    prompts, responses, scores = [], [], {o: [] for o in lists.objectives}
    for i, rs in enumerate(lists.responses):
        keep = [j for j, r in enumerate(rs) if len(r) <= max_chars]
        if len(keep) >= min_size:
            prompts.append(lists.prompts[i])
            responses.append([rs[j] for j in keep])
            for o in lists.objectives:
                scores[o].append(np.asarray(lists.scores[o][i])[keep])
    return PreferenceLists(prompts, responses, scores)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "babyllama_tok105" / "hf_llama"))
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--train-lists", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--list-size", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=200)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="LLM config overrides")
    ap.add_argument("--max-response-chars", type=int, default=0,
                    help="keep only responses of at most this many characters (lists with >= --list-size of them), "
                         "so that training responses fit the tiny model's 256-token context and end with EOS")
    a = ap.parse_args(argv)
    lists = convert_alpacaeval(a.data_root / "pref" / "alpacaeval" / "alpacaeval_805x54_lists.jsonl.gz")
    if a.max_response_chars:
        lists = short_responses(lists, a.max_response_chars, a.list_size)
    grid = weight_grid(2, 5)
    rows, runs = [], []
    with tempfile.TemporaryDirectory(prefix="llm_control_") as td:
        data = Path(td) / "alpaca.jsonl"
        lists.save(data)
        for seed in a.seeds:
            d = {"model": a.model, "data": str(data), "heldout_fraction": 0.2, "max_train_lists": a.train_lists,
                 "list_size": a.list_size, "epochs": a.epochs, "batch_lists": 2, "grad_accum": 2, "beta": a.beta,
                 "lr": a.lr, "max_prompt_tokens": 48, "seed": seed, "progress": False, "threads": 2}
            for s in a.set:
                k, _, v = s.partition("=")
                d[k] = type(d[k])(v) if k in d and d[k] is not None else v
            t = time.perf_counter()
            llm_train(LLMConfig.from_dict(d), Path(td) / f"run{seed}")
            train_s = time.perf_counter() - t
            model, enc, cfg, objectives, dev = load_llm_run(Path(td) / f"run{seed}")
            held = load_data(cfg)[1]
            t = time.perf_counter()
            gen = generate_front(model, enc, held.prompts[: a.prompts], grid, {"brevity": length_objective}, dev,
                                 weight_names=objectives, beta=cfg.beta, max_new_tokens=a.max_new_tokens, seed=seed)
            gen_s = time.perf_counter() - t
            k = objectives.index("brevity")
            res: dict = {"seed": seed, "train_s": train_s, "generate_s": gen_s}
            for mode in ("greedy", "sampled"):
                length = -gen.scores[mode][:, 0]
                ref = -float(gen.reference[mode][0])
                rho = float(spearmanr(grid[:, k], length).statistic)
                res[mode] = {"mean_length": length.tolist(), "reference_length": ref, "spearman": rho,
                             "reference_inside": bool(length.min() <= ref <= length.max())}
                rows.append([seed, mode, *[f"{v:.0f}" for v in length], f"{ref:.0f}", f"{rho:+.2f}"])
            runs.append(res)
    ok = {m: all(r[m]["spearman"] <= -0.8 for r in runs) for m in ("greedy", "sampled")}
    emit({"runs": runs, "w_brevity": grid[:, 1].tolist(), "spearman_le_-0.8_all_seeds": ok,
          "settings": vars(a) | {"data_root": str(a.data_root)}},
         rows, ["seed", "mode", *[f"w_brevity={w:.2f}" for w in grid[:, 1]], "reference", "Spearman"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
