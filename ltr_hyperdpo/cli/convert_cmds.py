"""The convert command's implementation: the streaming conversion alone (no dataset, normaliser or numba kernel of
theirs is loaded; a small input is parsed without numba at all)."""
from __future__ import annotations

import argparse

from ..data.conversion import convert
from ..utils.io import dumps_json


def cmd_convert(a: argparse.Namespace) -> int:
    summary = convert(a.input, a.output, group_file=a.group_file, objectives=a.objectives,
                      objectives_from=a.objectives_from, fmt=a.format, n_features=a.n_features,
                      max_features=a.max_features,
                      on_error="warn" if a.lenient else "raise", progress=not a.quiet, workers=a.workers)
    print(dumps_json(summary))
    return 0
