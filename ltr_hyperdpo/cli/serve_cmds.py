"""The commands that use a trained run: predict, qrels: the implementations (loaded only when one of these commands
runs; the parser is in :mod:`ltr_hyperdpo.cli.serve`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..serving import load_run
from ..serving.export import export_onnx
from ..serving.outputs import write_scores
from ..utils.io import dumps_json
from .common import require

EXTENSIONS = {".tsv": "tsv", ".txt": "tsv", ".trec": "trec", ".run": "trec", ".parquet": "parquet"}


def cmd_predict(a: argparse.Namespace) -> int:
    run = load_run(a.run_dir, device=a.device)
    fmt = a.format or EXTENSIONS.get(Path(a.out).suffix.lower(), "tsv")
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
