"""`ltr-hyperdpo demo`: the main job on the embedded synthetic dataset (two conflicting objectives).

The demo owns its output directory (marked by a ``.ltr-hyperdpo-demo`` file): a re-run, also after an
interruption, replaces the previous demo's files; a directory that is not a demo output is never touched.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from .data.conversion import convert
from .data.synth import make_synthetic, synth_objectives, write_letor_text
from .errors import RunDirError
from .eval.front import FrontResult
from .eval.report import markdown_table
from .runs.rundir import LOCK_NAME, RunLock
from .training import RunConfig, train
from .utils.io import dumps_json

N_FEATURES = 136
MARKER = ".ltr-hyperdpo-demo"


def _claim(out_dir: Path) -> None:
    """Make ``out_dir`` the demo's: clear a previous demo's files; refuse a directory that holds anything else."""
    own = {MARKER, LOCK_NAME}
    if any(p.name not in own for p in out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise RunDirError(f"{out_dir}: exists and is not a demo output directory; choose another --out")
    for p in out_dir.iterdir():
        if p.name not in own:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    (out_dir / MARKER).touch()


def run_demo(out: str, quick: bool = False) -> int:
    """Synthesise, convert, train (reference + one-shot HyperDPO), evaluate the front, print and plot it; the output
    directory is locked for the whole demo, so two demos never mix their files."""
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise RunDirError(f"{out_dir}: exists and is not a directory")
    with RunLock(out_dir):
        _claim(out_dir)
        return _demo(out_dir, quick)


def _demo(out_dir: Path, quick: bool) -> int:
    t0 = time.perf_counter()
    nq = 80 if quick else 400
    for split, seed, n in (("train", 0, nq), ("test", 1, max(nq // 3, 20))):
        write_letor_text(make_synthetic(n, 120, N_FEATURES, 2, -0.5, seed=seed), out_dir / f"{split}.txt")
    print(dumps_json(convert(out_dir / "train.txt", out_dir / "train.parquet",
                             objectives=synth_objectives(N_FEATURES, 2))))
    print(dumps_json(convert(out_dir / "test.txt", out_dir / "test.parquet",
                             objectives_from=out_dir / "train.parquet")))
    cfg = RunConfig.from_dict({
        "data": {"train": str(out_dir / "train.parquet"), "test": str(out_dir / "test.parquet"),
                 "slate_length": 60, "batch_size": 16},
        "model": {"kind": "mlp", "hidden": [128, 64], "dropout": 0.0},
        "reference": {"epochs": 4 if quick else 12, "lr": 2e-3},
        "hyperdpo": {"epochs": 4 if quick else 12, "lr": 2e-3},
    })
    run_dir = out_dir / "run"
    res = train(cfg, run_dir)
    assert res.front is not None
    front = FrontResult.from_dict(res.front)
    print()
    print(markdown_table(front))
    print()
    print(f"One model, {len(front.weights)} trade-offs chosen after training: each row is a preference weight w over "
          f"the two objectives and the test NDCG it gives on each.")
    print(f"outputs in {out_dir.resolve()}: the plot {run_dir / 'front' / 'front.png'}, the front table "
          f"{run_dir / 'front' / 'front.csv'}; demo finished in {time.perf_counter() - t0:.1f}s "
          f"(training {res.train_seconds:.1f}s)")
    return 0
