"""CLI commands for training, the front and the demo (kept apart from the data commands)."""
from __future__ import annotations

import json


def apply_overrides(d: dict, sets: list[str] | None) -> dict:
    """``key.sub=value`` overrides (value parsed as JSON when it can be, else a string)."""
    for s in sets or []:
        if "=" not in s:
            raise ValueError(f"--set expects key=value, got {s!r}")
        key, raw = s.split("=", 1)
        try:
            val = json.loads(raw)
        except json.JSONDecodeError:
            val = raw
        node = d
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = val
    return d


def cmd_train(a) -> int:
    from .config import load_config_file
    from .train import RunConfig, TrainingDivergedError, train

    d = load_config_file(a.config) if a.config else {}
    d = apply_overrides(d, a.set)
    if a.method:
        d["method"] = a.method
    cfg = RunConfig.from_dict(d)
    try:
        res = train(cfg, a.out, resume=a.resume)
    except TrainingDivergedError as e:
        print(f"ltr-hyperdpo train: {e}")
        return 3
    print(json.dumps({"run_dir": res.run_dir, "best_val_reference": res.best_val_reference,
                      "best_val_hypervolume": res.best_val_hypervolume, "train_seconds": round(res.train_seconds, 2),
                      "test_hypervolume": res.front["hypervolume"] if res.front else None}))
    return 0


def cmd_front(a) -> int:
    from .core.sampling import weight_grid
    from .data.dataset import RankingDataset
    from .eval.front import evaluate_front
    from .eval.report import markdown_table, write_front
    from .train import load_run

    ranker, cfg, state = load_run(a.run_dir)
    ds = RankingDataset.load(a.data, state=state)
    grid = weight_grid(ds.n_objectives, a.grid, method=a.grid_method, seed=cfg.seed)
    ks = tuple(a.k) if a.k else tuple(cfg.eval.ks)
    ref_point = a.ref_point if a.ref_point is not None else cfg.eval.ref_point
    res = evaluate_front(ranker, ds, grid, ks=ks, beta=a.beta, ref_point=ref_point,
                         blank_policy=a.blank_policy or cfg.eval.blank_policy)
    paths = write_front(res, a.out)
    print(markdown_table(res))
    print(json.dumps({"hypervolume": res.hypervolume, **paths}))
    return 0


def cmd_demo(a) -> int:
    from .demo import run_demo

    return run_demo(a.out, quick=a.quick)


def add_commands(sub, fmt) -> None:
    t = sub.add_parser("train", help="train the reference and the one-shot HyperDPO model",
                       description="Stage 1 trains the reference on the main objective; stage 2 fine-tunes a "
                                   "weight-conditioned copy with the PL-DPO loss over all objectives. Writes "
                                   "config.json, data_state.json, reference.pt, model.pt, checkpoint.pt, log.jsonl, "
                                   "result.json (and front/ when data.test is set) into --out.",
                       **fmt("example:\n  ltr-hyperdpo train --config run.yaml --out runs/mslr5\n"
                             "  ltr-hyperdpo train --config run.yaml --out runs/mslr5 --resume\n"
                             "  ltr-hyperdpo train --set data.train=train.parquet --set data.objectives=mslr5 "
                             "--out runs/x"))
    t.add_argument("--config", help="JSON or YAML RunConfig")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoint")
    t.add_argument("--method", choices=["hyperdpo", "cosmos", "dpo_ls", "dpo_soup", "modpo", "reference"],
                   help="stage-2 method (default hyperdpo; the others are the multi-objective baselines)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. "
                                                                       "hyperdpo.epochs=5")
    t.set_defaults(fn=cmd_train)

    f = sub.add_parser("front", help="evaluate a trained run over a grid of weights",
                       description="NDCG per objective for each weight of a grid (K=2: N points on the segment; "
                                   "K>=3: simplex lattice or quasi-random), the non-dominated subset and the exact "
                                   "hypervolume (moocore, maximise). Writes front.csv, front.json, front.png.",
                       **fmt("example:\n  ltr-hyperdpo front runs/mslr5 --data test.txt --grid 11 --out runs/mslr5/"
                             "front_test\n  ltr-hyperdpo front runs/mslr5 --data test.parquet --beta 0.5 --out f05"))
    f.add_argument("run_dir")
    f.add_argument("--data", required=True, help="evaluation split (text or converted)")
    f.add_argument("--grid", type=int, default=11, help="number of weights")
    f.add_argument("--grid-method", default="auto", choices=["auto", "lattice", "random"])
    f.add_argument("--out", required=True)
    f.add_argument("--beta", type=float, help="evaluate at another temperature")
    f.add_argument("--k", type=int, nargs="*", help="NDCG cut-offs (first = front metric); default from config")
    f.add_argument("--ref-point", type=float, nargs="*", help="hypervolume reference point (default 0)")
    f.add_argument("--blank-policy", choices=["skip", "zero", "one"])
    f.set_defaults(fn=cmd_front)

    from .llm.cli import add_commands as add_llm
    from .tune import add_command as add_tune

    add_tune(sub, fmt)
    add_llm(sub, fmt)

    d = sub.add_parser("demo", help="run the main job on the embedded synthetic dataset",
                       description="Generate the synthetic two-objective dataset (conflicting objectives), convert "
                                   "it, train the reference and the one-shot model, print the front and its "
                                   "hypervolume, save the plot.",
                       **fmt("example:\n  ltr-hyperdpo demo --out demo_output"))
    d.add_argument("--out", default="demo_output")
    d.add_argument("--quick", action="store_true", help="a smaller run (for tests)")
    d.set_defaults(fn=cmd_demo)
