"""The LTR run commands: train, import-allrank, front, demo: the implementations (loaded only when one of these commands
runs; the parser is in :mod:`ltr_hyperdpo.cli.run`)."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import yaml

from ..config import apply_overrides, load_config_file
from ..core.grids import describe_grid, weight_grid
from ..data.cache import cached_input
from ..data.dataset import RankingDataset
from ..demo import run_demo
from ..errors import ConfigError
from ..eval.front import FrontResult, evaluate_front
from ..eval.report import markdown_table, write_front
from ..runs.distributed import is_main
from ..serving import load_run
from ..training import DataSummary, RunConfig, locate_splits, resolve, train, upgrade
from ..training.allrank import from_allrank, is_allrank_config
from ..training.config import load_run_config_dict
from ..utils.io import atomic_path, dumps_json


def run_config(a: argparse.Namespace) -> RunConfig:
    """The run config of ``train`` / ``plan``: the file (an allRank config translated), ``--method``, ``--set``."""
    d = load_run_config_dict(a.config) if a.config else {}
    if is_allrank_config(d):  # an allRank config, translated (refused if anything has no counterpart)
        imported = from_allrank(d)
        imported.check(source=f"{a.config} (an allRank config)")
        for note in imported.notes:
            warnings.warn(f"{a.config}: {note}", stacklevel=1)
        d = imported.config
    d = upgrade(d)  # today's layout first: --set method.params.KEY=... works on any config
    if a.method and (not isinstance(d.get("method"), dict) or d["method"].get("name") != a.method):
        d["method"] = {"name": a.method}  # another method: the config's method parameters were the other's
    return RunConfig.from_dict(apply_overrides(d, a.set))


def cmd_train(a: argparse.Namespace) -> int:
    res = train(run_config(a), a.out, resume=a.resume)
    if not is_main():  # under torchrun, rank 0 reports (once)
        return 0
    if res.front:
        print(markdown_table(FrontResult.from_dict(res.front)))
        print()
    print(dumps_json({"run_dir": res.run_dir, "best_val_reference": res.best_val_reference,
                      "best_val_hypervolume": res.best_val_hypervolume, "train_seconds": round(res.train_seconds, 2),
                      "test_hypervolume": res.front["hypervolume"] if res.front else None}))
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    cfg = run_config(a)
    paths = locate_splits(cfg)
    tr = RankingDataset.load(paths[0], objectives=cfg.data.objectives, fit=True)
    plan = resolve(cfg, DataSummary(train=paths[0], vali=paths[1], test=paths[2], n_features=tr.n_features,
                                    n_objectives=tr.n_objectives, objective_names=tuple(tr.objective_names)))
    text = dumps_json(plan.to_dict(), indent=2) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        with atomic_path(a.out) as tmp:
            tmp.write_text(text)
    return 0


def cmd_import_allrank(a: argparse.Namespace) -> int:
    imported = from_allrank(load_config_file(a.config), objectives=a.objectives)
    imported.check(allow_unmapped=a.ignore_unmapped, source=a.config)
    RunConfig.from_dict(json.loads(json.dumps(imported.config)))  # the result must be a valid run config
    out = Path(a.out)
    if out.exists() and out.resolve() == Path(a.config).resolve():
        raise ConfigError(f"{out}: the output would overwrite the allRank config")
    header = [f"run config imported from the allRank config {a.config}", ""]
    header += [f"note: {n}" for n in imported.notes]
    header += [f"dropped (no counterpart): {u}" for u in imported.unmapped]
    text = "".join(f"# {line}\n" if line else "#\n" for line in header)
    text += yaml.safe_dump(imported.config, sort_keys=False, default_flow_style=None)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    for n in imported.notes:
        print(f"note: {n}", file=sys.stderr)
    print(dumps_json({"output": str(out), "notes": len(imported.notes), "dropped": imported.unmapped}))
    return 0


def cmd_front(a: argparse.Namespace) -> int:
    run = load_run(a.run_dir, device=a.device)
    cfg = run.config
    with tempfile.TemporaryDirectory(prefix="ltr-hyperdpo-front-") as tmp:  # text data: one streamed Arrow copy
        ds = RankingDataset.load(cached_input(a.data, tmp), state=run.state)
        ds.name = str(a.data)
        grid = weight_grid(ds.n_objectives, a.grid, method=a.grid_method, seed=cfg.seed)
        ks = tuple(a.k) if a.k else tuple(cfg.eval.ks)
        ref_point = a.ref_point if a.ref_point is not None else cfg.eval.ref_point
        res = evaluate_front(run.ranker, ds, grid, ks=ks, beta=a.beta, ref_point=ref_point,
                             blank_policy=a.blank_policy or cfg.eval.blank_policy, device=run.device)
        del ds  # the memory map, before its file goes
    res.extra["grid"] = describe_grid(grid, a.grid_method)
    serve = f"ltr-hyperdpo predict {a.run_dir} --data DATA --w {{w}} --out scores.tsv"
    paths = write_front(res, a.out, serve_command=serve)
    print(markdown_table(res))
    print(dumps_json({"hypervolume": res.hypervolume, **paths}))
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    return run_demo(a.out, quick=a.quick)
