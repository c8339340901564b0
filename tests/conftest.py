import os
from pathlib import Path

import pytest

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
