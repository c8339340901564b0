"""The tune command: an Optuna study over the main hyperparameters: the implementations (loaded only when one of these
commands runs; the parser is in :mod:`ltr_hyperdpo.cli.tune`)."""
from __future__ import annotations

import argparse

from ..config import apply_overrides, load_config_file
from ..runs.io import dumps_json
from ..tune import run_study


def cmd_tune(a: argparse.Namespace) -> int:
    base = apply_overrides(load_config_file(a.config) if a.config else {}, a.set)
    res = run_study(base, a.work, a.trials, a.storage, a.study_name, a.seed, a.heartbeat)
    print(dumps_json(res))
    return 0
