"""The compare command: the implementation (loaded only when it runs: it imports ranx; the parser is in
:mod:`ltr_hyperdpo.cli.serve`)."""
from __future__ import annotations

import argparse
import tempfile

import numpy as np

from ..core.grids import weight_grid
from ..data.cache import cached_input
from ..data.dataset import RankingDataset
from ..errors import ConfigError
from ..serving import load_run
from ..serving.compare import compare_runs, markdown
from ..utils.io import atomic_path, dumps_json


def cmd_compare(a: argparse.Namespace) -> int:
    if len(a.run_dirs) < 2:
        raise ConfigError("compare needs two or more run directories")
    runs = {str(d): load_run(d) for d in a.run_dirs}
    first = next(iter(runs.values()))
    for name, r in runs.items():
        if r.objective_names != first.objective_names:
            raise ConfigError(f"{name}: objectives {r.objective_names} differ from {a.run_dirs[0]}'s "
                              f"{first.objective_names}; compare runs of the same objectives")
    k = len(first.objective_names)
    weights = np.asarray([first.preference(w) for w in a.w]) if a.w else np.eye(k)
    with tempfile.TemporaryDirectory(prefix="ltr-hyperdpo-compare-") as tmp:
        ds = RankingDataset.load(cached_input(a.data, tmp), state=first.state)
        ds.name = str(a.data)
        grid = weight_grid(k, a.grid, method="lattice") if a.grid else None
        res = compare_runs(runs, ds, weights, k=a.k, stat_test=a.test, max_p=a.max_p, grid=grid)
        del ds
    print(markdown(res))
    if a.out:
        with atomic_path(a.out) as out:
            out.write_text(dumps_json(res, indent=2) + "\n")
    return 0
