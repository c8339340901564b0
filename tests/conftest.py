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
