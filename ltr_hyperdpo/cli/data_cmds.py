"""The data commands: convert, inspect, synth: the implementations (loaded only when one of these commands runs; the
parser is in :mod:`ltr_hyperdpo.cli.data`)."""
from __future__ import annotations

import argparse

from ..data.dataset import RankingDataset
from ..data.leakage import near_copies
from ..data.objectives import PRESETS, fit_objectives, objectives_to_json
from ..data.store import write_table
from ..data.synth import make_synthetic, synth_objectives, write_letor_text
from ..data.tables import table_arrays
from ..utils.io import dumps_json

PRESET_NAMES = ", ".join(PRESETS)


def cmd_inspect(a: argparse.Namespace) -> int:
    ds = RankingDataset.load(a.data, group_file=a.group_file, objectives=a.objectives, fit=True, normalize=False)
    s = ds.summary()
    copies = near_copies(ds)
    s["near_copies"] = [{"feature": c.feature, "objective": c.objective, "spearman": c.spearman} for c in copies]
    if a.json:
        print(dumps_json(s, indent=2))
        return 0
    print(f"{s['name']}: {s['queries']} queries, {s['documents']} documents, {s['features']} input features")
    ls = s["list_size"]
    print(f"documents per query: min {ls['min']}, median {ls['median']:g}, max {ls['max']}")
    for name, o in s["objectives"].items():
        hist = ", ".join(f"{g:g}: {c}" for g, c in o["histogram"].items())
        print(f"objective {name}: grades {{{hist}}}; queries with no relevant document: {o['blank_queries']}")
    for c in copies:
        print(f"warning: {c.message()}")
    return 0


def cmd_synth(a: argparse.Namespace) -> int:
    table = make_synthetic(a.queries, a.docs_per_query, a.features, a.objectives, a.correlation, seed=a.seed)
    if a.output.endswith(".txt"):
        write_letor_text(table, a.output)
    else:
        q, y, x = table_arrays(table)
        objs = fit_objectives(synth_objectives(a.features, a.objectives), y, x)
        write_table(a.output, table, meta={"version": 1, "source": "synthetic", "n_features": a.features,
                                           "objectives": objectives_to_json(objs), "seed": a.seed,
                                           "correlation": a.correlation})
    print(dumps_json({"output": a.output, "rows": table.num_rows, "queries": a.queries}))
    return 0
