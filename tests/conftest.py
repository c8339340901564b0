import json
import os
import sys
from pathlib import Path

import pytest

from ltr_hyperdpo.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LTR_HYPERDPO_SHARED", ROOT.parent / "shared"))
LTR = SHARED / "data" / "ltr"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test (with the reason) when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


@pytest.fixture
def mslr_train():
    return shared_path("data", "ltr", "mslr_msn1_fold1_5k", "train.txt")


@pytest.fixture
def mq2008_dir():
    return shared_path("data", "ltr", "mq2008_fold1")


class StopTraining(Exception):
    """Raised by :func:`stop_after` to simulate a kill after some epochs (the epoch's checkpoint is written)."""


def stop_after(n: int):
    """An ``on_epoch`` hook that stops training after ``n`` epochs (over all stages of one call)."""
    seen = {"n": 0}

    def hook(stage: str, record: dict) -> None:
        seen["n"] += 1
        if seen["n"] >= n:
            raise StopTraining(f"stopped after {n} epoch(s) in {stage}")

    return hook


# helpers of the fault tests (tests/test_faults*.py) -------------------------------------------------------------
CLI = [sys.executable, "-m", "ltr_hyperdpo"]
LINE = "1 qid:1 1:0.5 2:1.0\n0 qid:1 1:0.1 2:0.3\n2 qid:2 1:0.9 2:0.2\n0 qid:2 1:0.4 2:0.8\n"


def error_line(capsys, command: str) -> str:
    """The single stderr line of a failed command."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [e for e in err if e.startswith(f"ltr-hyperdpo {command}: error:")]
    assert len(errors) == 1, err
    return errors[0]


def snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    for name, seed, q in (("train", 0, 80), ("test", 1, 24)):
        assert main(["synth", str(d / f"{name}.parquet"), "--queries", str(q), "--docs-per-query", "20",
                     "--features", "12", "--seed", str(seed)]) == 0
    return d


def run_config(d: Path, **over) -> dict:
    c = {"data": {"train": str(d / "train.parquet"), "test": str(d / "test.parquet"), "batch_size": 16},
         "model": {"hidden": [16], "dropout": 0.0}, "reference": {"epochs": 2}, "hyperdpo": {"epochs": 2},
         "eval": {"grid": 5}, "progress": False}
    for k, v in over.items():
        c.setdefault(k, {}).update(v) if isinstance(v, dict) else c.__setitem__(k, v)
    return c




# real and generated LETOR folders: tests that use real data also run on generated data, so that a fresh clone
# without ../shared exercises them ---------------------------------------------------------------------------------
def generated_letor(root: Path) -> tuple[Path, str]:
    """A three-objective LETOR folder (train/vali/test.txt, MQ2008-sized lists) and its objective spec file."""
    from ltr_hyperdpo.data.objectives import objectives_to_json
    from ltr_hyperdpo.data.synth import make_synthetic, synth_objectives, write_letor_text

    n_features = 24
    for name, seed, queries in (("train", 0, 300), ("vali", 1, 80), ("test", 2, 80)):
        write_letor_text(make_synthetic(queries, 20, n_features, 3, correlation=-0.5, seed=seed), root / f"{name}.txt")
    spec = root / "objectives.json"
    spec.write_text(json.dumps(objectives_to_json(synth_objectives(n_features, 3))))
    return root, str(spec)


@pytest.fixture(scope="module", params=["generated", "mq2008"])
def letor_source(request, tmp_path_factory):
    """(folder with train/vali/test.txt, objectives spec) of generated data, then of MQ2008 when ../shared has it."""
    if request.param == "generated":
        return generated_letor(tmp_path_factory.mktemp("generated_letor"))
    return shared_path("data", "ltr", "mq2008_fold1"), "mq2008"
