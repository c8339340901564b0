"""The data commands: convert, inspect, synth: their parsers (light: the implementations in
:mod:`ltr_hyperdpo.cli.data_cmds` load when a command runs)."""
from __future__ import annotations

from typing import Any

from ..data.limits import DEFAULT_MAX_FEATURES, PRESET_NAMES
from .common import command, finite_float, lazy_command, positive_int


def add_commands(sub: Any) -> None:
    """Register convert, inspect and synth."""
    c = command(sub, "convert", "LETOR/SVMlight text -> Parquet/Arrow",
                "Parse LETOR/SVMlight text (with qid:, or a .group/.query side file) into Parquet (zstd) or Arrow "
                "IPC. Nothing is written when a line is malformed; the error names the file, line and token.",
                ["ltr-hyperdpo convert train.txt train.parquet --objectives mslr5",
                 "ltr-hyperdpo convert test.txt test.parquet --objectives-from train.parquet",
                 "ltr-hyperdpo convert train.svm train.arrow --group-file train.svm.group"])
    c.add_argument("input", help="LETOR/SVMlight text file")
    c.add_argument("output", help="output file: .parquet or .arrow (or give --format)")
    c.add_argument("--group-file", help="LightGBM/XGBoost query sizes file (found automatically if beside INPUT)")
    c.add_argument("--objectives", help=f"preset ({PRESET_NAMES}) or a spec.json/yaml; fitted on this file")
    c.add_argument("--objectives-from", help="reuse the fitted objectives of a converted training file")
    c.add_argument("--format", choices=["parquet", "arrow"], help="output format (default: from the extension)")
    c.add_argument("--n-features", type=positive_int, help="force the feature width (default: largest index)")
    c.add_argument("--max-features", type=positive_int, default=DEFAULT_MAX_FEATURES,
                   help=f"refuse feature indices above this (default {DEFAULT_MAX_FEATURES}: data are stored dense, so "
                        f"one stray huge index would allocate a matrix that wide)")
    c.add_argument("--lenient", action="store_true", help="skip malformed lines with a warning instead of failing")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.add_argument("--workers", type=positive_int,
                   help="parse byte ranges in N processes (plain text; the output equals --workers 1; default auto: "
                        "one per core, at most 4, for files of 64 MiB or more, else 1)")
    c.set_defaults(fn=lazy_command("ltr_hyperdpo.cli.convert_cmds", "cmd_convert"))

    i = command(sub, "inspect", "summary of a dataset",
                "Queries, documents, features, the grade histogram per objective and the blank queries.",
                ["ltr-hyperdpo inspect train.parquet", "ltr-hyperdpo inspect train.txt --objectives mslr5 --json"])
    i.add_argument("data", help="LETOR text or a converted file")
    i.add_argument("--group-file", help="LightGBM/XGBoost query sizes file")
    i.add_argument("--objectives", help="preset or spec file (default: stored in DATA, else the label)")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_inspect"))

    s = command(sub, "synth", "write a synthetic multi-objective dataset",
                "Seeded MSLR-shaped synthetic data; auxiliary objectives are the last columns (.parquet/.arrow "
                "carry their fitted objective spec; .txt writes LETOR text).",
                ["ltr-hyperdpo synth synth.parquet --queries 300 --correlation -0.5"])
    s.add_argument("output", help=".parquet, .arrow or .txt")
    s.add_argument("--queries", type=positive_int, default=200, help="number of queries (default 200)")
    s.add_argument("--docs-per-query", type=positive_int, default=120, help="mean list length (default 120)")
    s.add_argument("--features", type=positive_int, default=136, help="feature columns (default 136)")
    s.add_argument("--objectives", type=positive_int, default=2, help="number of objectives K (default 2)")
    s.add_argument("--correlation", type=finite_float, default=-0.5,
                   help="between objectives, -1 (conflict) .. 1 (aligned); default -0.5")
    s.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    s.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_synth"))
