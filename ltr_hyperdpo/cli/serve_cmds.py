"""The commands that use a trained run: predict, qrels: the implementations (loaded only when one of these commands
runs; the parser is in :mod:`ltr_hyperdpo.cli.serve`)."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..data.cache import cached_input
from ..data.dataset import RankingDataset
from ..errors import ConfigError
from ..serving import load_run
from ..serving.export import export_onnx
from ..serving.importance import permutation_importance
from ..serving.outputs import write_scores
from ..serving.selection import check_selection, select_weight
from ..utils.io import atomic_path, dumps_json
from .common import require

EXTENSIONS = {".tsv": "tsv", ".txt": "tsv", ".trec": "trec", ".run": "trec", ".parquet": "parquet"}


def cmd_predict(a: argparse.Namespace) -> int:
    run = load_run(a.run_dir, device=a.device)
    suffix = Path(a.out).suffix.lower()
    if a.format is None and suffix and suffix not in EXTENSIONS:
        raise ConfigError(f"--out {a.out}: predict writes tsv (.tsv, .txt), trec (.trec, .run) or parquet (.parquet), "
                          f"not {suffix}; name the file so, or pass --format")
    fmt = a.format or EXTENSIONS.get(suffix, "tsv")
    if Path(a.out).exists() and Path(a.out).resolve() == Path(a.data).resolve():
        raise ConfigError(f"{a.out}: the output would overwrite the input data")
    w = run.preference(a.w if a.w is not None else [1.0] + [0.0] * (run.n_objectives - 1))
    res = write_scores(a.out, run.iter_scores(a.data, w, a.beta, group_file=a.group_file,
                                              batch_size=a.batch_size), fmt, tag=a.tag)
    print(dumps_json({**res, "w": dict(zip(run.objective_names, w.tolist(), strict=True)), "beta": a.beta}))
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    require("onnx", *(() if a.no_check else ("onnxruntime",)))
    run = load_run(a.run_dir)
    # onnxruntime against Run.score at a shape not used at export, before the file is moved into place
    path, diff = export_onnx(run, a.out, opset=a.opset, check=not a.no_check)
    out: dict = {"output": str(path), "format": a.format, "inputs": ["features", "mask", "w"]
                 + (["beta"] if run.config.model.temperature_conditioned else []),
                 "raw_features": run.n_raw_features, "objectives": run.objective_names}
    if diff is not None:
        out["max_abs_difference_vs_run_score"] = diff
    print(dumps_json(out))
    return 0


def cmd_select_weight(a: argparse.Namespace) -> int:
    run = load_run(a.run_dir, device=a.device)
    with tempfile.TemporaryDirectory(prefix="ltr-hyperdpo-select-") as tmp:  # text data: one streamed Arrow copy
        ds = RankingDataset.load(cached_input(a.data, tmp), state=run.state)
        ds.name = str(a.data)
        sel = select_weight(run, ds, maximise=a.maximise, subject_to=a.subject_to, k=a.k,
                            beta_range=tuple(a.beta_range) if a.beta_range else None, confidence=a.confidence)
        del ds
        if a.check:
            test = RankingDataset.load(cached_input(a.check, tmp), state=run.state)
            test.name = str(a.check)
            sel.check = check_selection(run, sel, test, a.subject_to)
            del test
    text = dumps_json(sel.to_dict(str(a.run_dir)), indent=2) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        with atomic_path(a.out) as out:
            out.write_text(text)
        print(dumps_json({"output": a.out, "w": sel.w, "predict": sel.predict_command(str(a.run_dir))}))
    return 0



def cmd_importance(a: argparse.Namespace) -> int:
    run = load_run(a.run_dir, device=a.device)
    if a.objective is not None and a.objective not in run.objective_names:
        raise ConfigError(f"--objective {a.objective!r}: no such objective; the run's objectives are "
                          f"{', '.join(run.objective_names)}")
    with tempfile.TemporaryDirectory(prefix="ltr-hyperdpo-importance-") as tmp:
        ds = RankingDataset.load(cached_input(a.data, tmp), state=run.state)
        ds.name = str(a.data)
        imp = permutation_importance(run, ds, a.w, k=a.k, repeats=a.repeats, seed=a.seed)
        del ds
    if a.out:
        with atomic_path(a.out) as out:
            out.write_text(imp.to_csv())
    print(f"NDCG@{imp.k} drop when a feature is shuffled within queries ({imp.repeats} repeats, mean ± sd); "
          f"w = {' '.join(f'{v:g}' for v in imp.weights[0])}")
    print(imp.markdown(a.objective, a.top))
    return 0
