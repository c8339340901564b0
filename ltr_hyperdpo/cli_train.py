"""CLI commands for training, the front and the demo (kept apart from the data commands)."""
from __future__ import annotations


def cmd_demo(a) -> int:
    from .demo import run_demo

    return run_demo(a.out, quick=a.quick)


def add_commands(sub, fmt) -> None:
    d = sub.add_parser("demo", help="run the main job on the embedded synthetic dataset",
                       description="Generate the synthetic two-objective dataset, convert it, and run the pipeline.",
                       **fmt("example:\n  ltr-hyperdpo demo --out demo_output"))
    d.add_argument("--out", default="demo_output")
    d.add_argument("--quick", action="store_true", help="a smaller run (for tests)")
    d.set_defaults(fn=cmd_demo)
