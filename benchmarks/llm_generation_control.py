#!/usr/bin/env python
"""Control on generated text: does the length of generations fall as w_brevity rises, and do they stay fluent?

    python benchmarks/llm_generation_control.py --model smollm2 [--seeds 0 1 2] [--train-lists N] [--prompts P]
        [--out DIR]   (keep every generation and both fronts per seed, and results.json)
    python benchmarks/llm_generation_control.py --model ../shared/models/babyllama_tok105/hf_llama   (the tiny model)

Per seed: an LLM HyperDPO run on the AlpacaEval lists (objectives preference and brevity = -characters; responses of
at most ``--max-response-chars``, so that they fit and end with EOS), then, on held-out prompts the model never
trained on (the run's held-out split):

* greedy and sampled generations at 5 grid weights and with the reference model (``--prompts`` prompts,
  ``--max-new-tokens``): the mean generated length per w_brevity, its Spearman correlation with w_brevity (target
  <= -0.8), the ratio of the mean length at w_brevity = 1 to that at 0 (target <= 0.8), and whether the reference's
  mean length lies inside the weights' range;
* under each decoding loop guard of ``--no-repeat-ngram`` (default: the toolkit's) and at each temperature of
  ``--decode-beta`` (the trained policy rescaled to β' at decoding; default: the trained β), all from the same
  trained model; the targets are checked on the first of each;
* fluency: empty or degenerate generations (a word 3-gram that occurs 4 or more times: a repetition loop) per weight
  against the reference's count, and distinct-2 (distinct word bigrams / bigrams) per weight within 0.1 of the
  reference's;
* the implicit-reward front on held-out lists (``--eval-lists`` lists of 4): pairwise accuracy of each objective at
  its own vertex (target >= 0.60) and at the opposite vertex, beside two text-only rankers on the same pairs (the
  longer response wins; a bag-of-words logistic regression fitted to the same training lists): how much of each
  label the text alone carries at this data size.

Reported per seed: wall time of training, generation and evaluation, training tokens/s, peak resident memory.
``--model smollm2`` uses SmolLM2-135M-Instruct (``make llm-model``) with its defaults (LoRA r=8 + 8 soft prompts,
bf16 autocast where the CPU has native bf16); every setting is printed with the results.
Prints one JSON line and markdown tables.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.sparse import vstack as sp_vstack
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA_ROOT, ROOT, StagedOutput, emit  # noqa: E402

from ltr_hyperdpo.core.grids import weight_grid  # noqa: E402
from ltr_hyperdpo.defaults import LLM_NO_REPEAT_NGRAM  # noqa: E402
from ltr_hyperdpo.eval.report import write_front  # noqa: E402
from ltr_hyperdpo.llm.config import LLMConfig  # noqa: E402
from ltr_hyperdpo.llm.convert import convert_alpacaeval  # noqa: E402
from ltr_hyperdpo.llm.data import PreferenceLists  # noqa: E402
from ltr_hyperdpo.llm.evaluate import evaluate_llm_front, pairwise_accuracy, select  # noqa: E402
from ltr_hyperdpo.llm.generate import distinct_ngrams, generate_front, length_objective  # noqa: E402
from ltr_hyperdpo.llm.train import llm_run_plan, llm_train, load_data, load_llm_run  # noqa: E402
from ltr_hyperdpo.runs.device import autocast  # noqa: E402
from ltr_hyperdpo.utils.io import atomic_write_json  # noqa: E402

TINY = str(ROOT.parent / "shared" / "models" / "babyllama_tok105" / "hf_llama")
#: per model: benchmark settings that differ from the argparse defaults (the tiny model's context is 256 tokens)
PRESETS = {
    "smollm2": {"train_lists": 160, "prompts": 12, "max_new_tokens": 128, "max_response_chars": 400,
                "eval_lists": 40, "lr": 3e-3, "set": ["max_length=256", "max_prompt_tokens=96"]},
    "tiny": {"train_lists": 300, "prompts": 20, "max_new_tokens": 200, "max_response_chars": 0, "eval_lists": 100,
             "lr": 3e-3, "set": ["max_prompt_tokens=48"]},
}


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


def text_baselines(train: PreferenceLists, held: PreferenceLists, max_lists: int, list_size: int, seed: int) -> dict:
    """Pairwise accuracy of two text-only rankers on the held-out pairs the implicit-reward front is scored on: the
    longer response wins, and a bag-of-words model (TF-IDF of word 1-2-grams, logistic regression on the pairwise
    differences) fitted to the training lists, ``list_size`` responses each as one epoch of training draws them.
    Per objective. They say how much of a label the response text alone carries at this data size."""
    rng = np.random.default_rng([seed, 7])
    picks_train = [rng.choice(len(r), size=min(list_size, len(r)), replace=False) for r in train.responses]
    lists, picks = select(held, max_lists, list_size, seed)
    texts = [train.responses[i][j] for i, p in enumerate(picks_train) for j in p]
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts)
    out: dict = {}
    for o in train.objectives:
        rows, ys = [], []
        for i, p in enumerate(picks_train):
            x = vec.transform([train.responses[i][j] for j in p])
            s = np.asarray(train.scores[o][i])[p]
            for a_ in range(len(p)):
                for b_ in range(len(p)):
                    if s[a_] > s[b_]:
                        rows += [x[a_] - x[b_], x[b_] - x[a_]]
                        ys += [1, 0]
        clf = LogisticRegression(max_iter=2000).fit(sp_vstack(rows), ys)
        acc = {"longer_wins": [0.0, 0], "bag_of_words": [0.0, 0]}
        for i, p in zip(lists, picks, strict=True):
            resp = [held.responses[i][j] for j in p]
            s = np.asarray(held.scores[o][i])[p]
            for name, r in (("longer_wins", np.array([len(t) for t in resp], dtype=float)),
                            ("bag_of_words", clf.decision_function(vec.transform(resp)))):
                a_, n = pairwise_accuracy(r, s)
                if n:
                    acc[name][0] += a_ * n
                    acc[name][1] += n
        out[o] = {name: num / max(den, 1) for name, (num, den) in acc.items()}
    return out


def degenerate(text: str) -> bool:
    """Empty, or a repetition loop: some word 3-gram occurs 4 or more times."""
    words = text.split()
    if not words:
        return True
    grams = Counter(tuple(words[i:i + 3]) for i in range(len(words) - 2))
    return bool(grams) and max(grams.values()) >= 4


def fluency(gens: list[dict], mode: str, weights: np.ndarray) -> dict:
    """Degenerate counts and mean distinct-2 per weight and for the reference (``w`` None)."""
    def of(rows: list[dict]) -> dict:
        return {"degenerate": sum(degenerate(g["response"]) for g in rows),
                "distinct2": float(np.mean([distinct_ngrams("", g["response"]) for g in rows]))}
    ref = of([g for g in gens if g["mode"] == mode and g["w"] is None])
    per = [of([g for g in gens if g["mode"] == mode and g["w"] == [float(v) for v in w]]) for w in weights]
    return {"reference": ref, "weights": per,
            "degenerate_ok": all(p["degenerate"] <= ref["degenerate"] for p in per),
            "distinct2_ok": all(abs(p["distinct2"] - ref["distinct2"]) <= 0.1 for p in per)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=TINY, help="smollm2, a GGUF file or a Hugging Face directory (default: tiny)")
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--train-lists", type=int)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--list-size", type=int, default=4)
    ap.add_argument("--prompts", type=int)
    ap.add_argument("--max-new-tokens", type=int)
    ap.add_argument("--eval-lists", type=int)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="LLM config overrides")
    ap.add_argument("--no-repeat-ngram", type=int, nargs="+", default=[LLM_NO_REPEAT_NGRAM], metavar="N",
                    help="the decoding loop guard(s) to generate under, each from the same trained model (0 = off; "
                         "the first is the one the targets are checked on; default: the toolkit's default guard)")
    ap.add_argument("--decode-beta", type=float, nargs="+", metavar="BETA",
                    help="temperatures β' to decode the trained policy at, each from the same trained model "
                         "(rescaled from --beta: next-token log p_ref + (β/β')(log p - log p_ref); the first is the "
                         "one the targets are checked on; default: the trained β)")
    ap.add_argument("--out", type=Path,
                    help="also keep, per seed, every generation and both fronts: OUT/seed<N>/generated_<guard>@<β'>/ "
                         "(front.json, generations.jsonl, ...) and OUT/seed<N>/implicit/ (the implicit-reward front)")
    ap.add_argument("--max-response-chars", type=int,
                    help="keep only responses of at most this many characters (lists with >= --list-size of them)")
    a = ap.parse_args(argv)
    staged = StagedOutput(a.out, "llm_generation_control.py")  # refuses a foreign non-empty --out before any training
    preset = PRESETS["smollm2" if a.model == "smollm2" else "tiny"]
    for k, v in preset.items():
        if k == "set":
            a.set = v + a.set
        elif getattr(a, k) is None:
            setattr(a, k, v)
    lists = convert_alpacaeval(a.data_root / "pref" / "alpacaeval" / "alpacaeval_805x54_lists.jsonl.gz")
    if a.max_response_chars:
        lists = short_responses(lists, a.max_response_chars, a.list_size)
    grid = weight_grid(2, 5)
    decodings = [(g, b) for g in a.no_repeat_ngram for b in (a.decode_beta or [a.beta])]
    rows, fl_rows, front_rows, runs = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="llm_control_") as td:
        data = Path(td) / "alpaca.jsonl"
        lists.save(data)
        for seed in a.seeds:
            d: dict = {"model": a.model, "data": str(data), "heldout_fraction": 0.2, "max_train_lists": a.train_lists,
                       "list_size": a.list_size, "epochs": a.epochs, "batch_lists": 2, "grad_accum": 1,
                       "beta": a.beta, "lr": a.lr, "seed": seed, "progress": False, "threads": 2}
            for s in a.set:
                k, _, v = s.partition("=")
                d[k] = json.loads(v) if v[:1] in "0123456789-[{tfn" else v
            run = Path(td) / f"run{seed}"
            t = time.perf_counter()
            llm_train(LLMConfig.from_dict(d), run)
            train_s = time.perf_counter() - t
            log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
            plan = llm_run_plan(run)
            model, enc, cfg, objectives, dev = load_llm_run(run)
            trained_on, held = load_data(cfg)
            precision = plan.precision if plan else "fp32"
            gens, gen_s, gen_each = {}, 0.0, {}
            for guard, decode_beta in decodings:
                t = time.perf_counter()
                with autocast(precision, dev):
                    gens[guard, decode_beta] = generate_front(
                        model, enc, held.prompts[: a.prompts], grid, {"brevity": length_objective}, dev,
                        weight_names=objectives, beta=decode_beta, trained_beta=cfg.beta,
                        max_new_tokens=a.max_new_tokens, seed=seed, no_repeat_ngram=guard)
                gen_each[f"{guard}@{decode_beta:g}"] = time.perf_counter() - t
                gen_s += gen_each[f"{guard}@{decode_beta:g}"]
            t = time.perf_counter()
            with autocast(precision, dev):
                front = evaluate_llm_front(model, enc, held, dev, grid=5, beta=cfg.beta, max_lists=a.eval_lists,
                                           list_size=4, seed=seed)
            eval_s = time.perf_counter() - t
            baselines = text_baselines(trained_on, held, a.eval_lists, 4, seed)
            if staged.path:
                for (guard, decode_beta), gen in gens.items():
                    gen.write(staged.path / f"seed{seed}" / f"generated_{guard}@{decode_beta:g}")
                write_front(front, staged.path / f"seed{seed}" / "implicit",
                            title=f"{Path(a.model).name} seed {seed}: implicit reward")
            k = objectives.index("brevity")
            acc = front.metrics["pairwise_accuracy"]  # [weights, objectives]; grid row 0 is w = (0, 1)
            vertex = {o: int(np.argmax(grid[:, j])) for j, o in enumerate(objectives)}
            res: dict = {"seed": seed, "train_s": train_s, "generate_s": gen_s, "generate_s_each": gen_each,
                         "eval_s": eval_s,
                         "train_tokens_per_s": float(np.mean([r["tokens_per_s"] for r in log if "tokens_per_s" in r])),
                         "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                         "plan": plan.to_dict() if plan else None,
                         "front": {o: {"own_vertex": float(acc[vertex[o], j]),
                                       "opposite_vertex": float(acc[vertex[objectives[1 - j]], j])}
                                   for j, o in enumerate(objectives)},
                         "front_accuracy": acc.tolist(), "text_baselines": baselines}
            res["front_ok"] = all(v["own_vertex"] >= 0.60 and v["own_vertex"] > v["opposite_vertex"]
                                  for v in res["front"].values())
            for (guard, decode_beta), gen in gens.items():
                for mode in ("greedy", "sampled"):
                    length = -gen.scores[mode][:, 0]
                    ref = -float(gen.reference[mode][0])
                    rho = float(spearmanr(grid[:, k], length).statistic)
                    at1, at0 = length[int(np.argmax(grid[:, k]))], length[int(np.argmin(grid[:, k]))]
                    fl = fluency(gen.generations, mode, grid)
                    out = {"mean_length": length.tolist(), "reference_length": ref, "spearman": rho,
                           "ratio_w1_w0": float(at1 / at0),
                           "reference_inside": bool(length.min() <= ref <= length.max()), "fluency": fl}
                    res.setdefault("by_decoding", {}).setdefault(f"{guard}@{decode_beta:g}", {})[mode] = out
                    if (guard, decode_beta) == decodings[0]:
                        res[mode] = out
                    rows.append([seed, guard, f"{decode_beta:g}", mode, *[f"{v:.0f}" for v in length],
                                 f"{ref:.0f}", f"{rho:+.2f}", f"{at1 / at0:.2f}"])
                    fl_rows.append([seed, guard, f"{decode_beta:g}", mode,
                                    *[f"{p['degenerate']}/{p['distinct2']:.2f}" for p in fl["weights"]],
                                    f"{fl['reference']['degenerate']}/{fl['reference']['distinct2']:.2f}"])
            front_rows.append([seed, *[f"{res['front'][o]['own_vertex']:.3f} / {res['front'][o]['opposite_vertex']:.3f}"
                                       f" ({baselines[o]['longer_wins']:.3f} / {baselines[o]['bag_of_words']:.3f})"
                                       for o in objectives], f"{train_s:.0f}", f"{gen_s:.0f}", f"{eval_s:.0f}",
                               f"{res['train_tokens_per_s']:.0f}", f"{res['peak_rss_mb']:.0f}"])
            runs.append(res)
            print(json.dumps(res), file=sys.stderr, flush=True)
    ok = {m: {"spearman": all(r[m]["spearman"] <= -0.8 for r in runs),
              "ratio": all(r[m]["ratio_w1_w0"] <= 0.8 for r in runs),
              "reference_inside": all(r[m]["reference_inside"] for r in runs),
              "fluent": all(r[m]["fluency"]["degenerate_ok"] and r[m]["fluency"]["distinct2_ok"] for r in runs)}
          for m in ("greedy", "sampled")}
    ok["front"] = all(r["front_ok"] for r in runs)
    summary = {"runs": runs, "w_brevity": grid[:, k].tolist(), "targets_met": ok,
               "settings": vars(a) | {"data_root": str(a.data_root), "out": str(a.out) if a.out else None}}
    if staged.path:
        atomic_write_json(staged.path / "results.json", summary)
    staged.publish()
    emit(summary,
         rows, ["seed", "no-repeat n-gram", "decoded at β'", "mode", *[f"w_brevity={w:.2f}" for w in grid[:, k]],
                "reference",
                "Spearman",
                "len(w=1)/len(w=0)"])
    print()
    print("| seed | no-repeat n-gram | decoded at β' | mode | "
          + " | ".join(f"degenerate/distinct-2 at w_brevity={w:.2f}" for w in grid[:, k]) + " | reference |")
    print("|" + "---|" * (5 + len(grid)))
    for r in fl_rows:
        print("| " + " | ".join(map(str, r)) + " |")
    print()
    print("| seed | " + " | ".join(f"{o} accuracy: own / opposite vertex (text baselines: longer wins / bag of words)"
                                   for o in objectives)
          + " | train s | generate s | eval s | train tokens/s | peak RSS MB |")
    print("|" + "---|" * (6 + len(objectives)))
    for r in front_rows:
        print("| " + " | ".join(map(str, r)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
