"""`ltr-hyperdpo <command>`: the command-line interface. Every command has --help with an example."""
from __future__ import annotations

import argparse
import json
import sys


def _fmt(formatter_epilog: str) -> dict:
    return dict(formatter_class=argparse.RawDescriptionHelpFormatter, epilog=formatter_epilog)


def cmd_convert(a) -> int:
    from .data.convert import convert

    summary = convert(a.input, a.output, group_file=a.group_file, objectives=a.objectives,
                      objectives_from=a.objectives_from, fmt=a.format, n_features=a.n_features,
                      on_error="warn" if a.lenient else "raise", progress=not a.quiet)
    print(json.dumps(summary))
    return 0


def cmd_inspect(a) -> int:
    from .data.dataset import RankingDataset

    ds = RankingDataset.load(a.data, group_file=a.group_file, objectives=a.objectives, fit=True, normalize=False)
    s = ds.summary()
    if a.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"{s['name']}: {s['queries']} queries, {s['documents']} documents, {s['features']} input features")
    ls = s["list_size"]
    print(f"documents per query: min {ls['min']}, median {ls['median']:g}, max {ls['max']}")
    for name, o in s["objectives"].items():
        hist = ", ".join(f"{g:g}: {c}" for g, c in o["histogram"].items())
        print(f"objective {name}: grades {{{hist}}}; queries with no relevant document: {o['blank_queries']}")
    return 0


def cmd_synth(a) -> int:
    from .data.store import write_table
    from .data.synth import make_synthetic, synth_objectives, write_letor_text
    from .data.objectives import fit_objectives, objectives_to_json
    from .data.dataset import table_arrays

    table = make_synthetic(a.queries, a.docs_per_query, a.features, a.objectives, a.correlation, seed=a.seed)
    if a.output.endswith(".txt"):
        write_letor_text(table, a.output)
    else:
        q, y, x = table_arrays(table)
        objs = fit_objectives(synth_objectives(a.features, a.objectives), y, x)
        write_table(a.output, table, meta={"version": 1, "source": "synthetic", "n_features": a.features,
                                           "objectives": objectives_to_json(objs), "seed": a.seed,
                                           "correlation": a.correlation})
    print(json.dumps({"output": a.output, "rows": table.num_rows, "queries": a.queries}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltr-hyperdpo", description="Multi-objective listwise LTR with HyperDPO.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="LETOR/SVMlight text -> Parquet/Arrow",
                       description="Parse LETOR/SVMlight text (with qid:, or a .group/.query side file) into Parquet "
                                   "(zstd) or Arrow IPC, streaming. Nothing is written on a malformed line.",
                       **_fmt("example:\n  ltr-hyperdpo convert train.txt train.parquet --objectives mslr5\n"
                              "  ltr-hyperdpo convert test.txt test.parquet --objectives-from train.parquet\n"
                              "  ltr-hyperdpo convert train.svm train.arrow --group-file train.svm.group"))
    c.add_argument("input")
    c.add_argument("output", help=".parquet or .arrow (or --format)")
    c.add_argument("--group-file", help="LightGBM/XGBoost query sizes file (found automatically if beside INPUT)")
    c.add_argument("--objectives", help="preset (label, mslr5, mslr6, mq2008, mslr_quality) or spec.json/yaml; "
                                        "fitted on this file")
    c.add_argument("--objectives-from", help="reuse the fitted objectives of a converted training file")
    c.add_argument("--format", choices=["parquet", "arrow"])
    c.add_argument("--n-features", type=int, help="force the feature width (default: largest index)")
    c.add_argument("--lenient", action="store_true", help="skip malformed lines with a warning instead of failing")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(fn=cmd_convert)

    i = sub.add_parser("inspect", help="summary of a dataset",
                       description="Queries, documents, features, label histogram per objective, blank queries.",
                       **_fmt("example:\n  ltr-hyperdpo inspect train.parquet\n"
                              "  ltr-hyperdpo inspect train.txt --objectives mslr5 --json"))
    i.add_argument("data")
    i.add_argument("--group-file")
    i.add_argument("--objectives", help="preset or spec file (default: stored in DATA, else the label)")
    i.add_argument("--json", action="store_true")
    i.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("synth", help="write a synthetic multi-objective dataset",
                       description="Seeded MSLR-shaped synthetic data; aux objectives are the last columns "
                                   "(.parquet/.arrow carry their fitted objective spec; .txt writes LETOR text).",
                       **_fmt("example:\n  ltr-hyperdpo synth synth.parquet --queries 300 --correlation -0.5"))
    s.add_argument("output")
    s.add_argument("--queries", type=int, default=200)
    s.add_argument("--docs-per-query", type=int, default=120)
    s.add_argument("--features", type=int, default=136)
    s.add_argument("--objectives", type=int, default=2)
    s.add_argument("--correlation", type=float, default=-0.5, help="between objectives, -1 (conflict) .. 1")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=cmd_synth)

    from . import cli_train

    cli_train.add_commands(sub, _fmt)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    from .data.letor import LetorFormatError

    try:
        return int(args.fn(args) or 0)
    except (LetorFormatError, FileNotFoundError, ValueError) as e:
        print(f"ltr-hyperdpo {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
