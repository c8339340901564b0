"""The tune command: an Optuna study over the main hyperparameters: the implementations (loaded only when one of these
commands runs; the parser is in :mod:`ltr_hyperdpo.cli.tune`)."""
from __future__ import annotations

import argparse

from ..config import apply_overrides
from ..training import upgrade
from ..training.config import load_run_config_dict
from ..tune import parse_targets, run_study
from ..utils.io import dumps_json


def cmd_tune(a: argparse.Namespace) -> int:
    base = apply_overrides(upgrade(load_run_config_dict(a.config)) if a.config else {}, a.set)
    res = run_study(base, a.work, a.trials, a.storage, a.study_name, a.seed, a.heartbeat,
                    targets=parse_targets(a.target))
    print(dumps_json(res))
    return 0
