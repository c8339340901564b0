"""The qrels command's implementation: no torch (the run's fitted state is read from its data_state.json)."""
from __future__ import annotations

import argparse

from ..data.dataset import RankingDataset
from ..serving.blocks import iter_blocks
from ..serving.outputs import write_qrels
from ..serving.state import load_run_state
from ..utils.io import dumps_json


def cmd_qrels(a: argparse.Namespace) -> int:
    if a.run:
        state = load_run_state(a.run)
    else:  # the data's own objectives: stored in a converted file, else the --objectives spec fitted on DATA
        state = RankingDataset.load(a.data, group_file=a.group_file, objectives=a.objectives, fit=True,
                                    normalize=False).state
    res = write_qrels(a.out_dir, iter_blocks(a.data, state.n_raw_features, group_file=a.group_file, labeled=True),
                      state)
    print(dumps_json(res))
    return 0
