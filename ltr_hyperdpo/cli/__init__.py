"""`ltr-hyperdpo <command>`: assembles the parser from the command modules and turns errors into one line."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path

from .._version import __version__
from ..errors import RAISED_ON_RANK0
from ..runs.rundir import check_not_run_file
from . import data, llm, run, serve, tune
from .common import Parser

EXAMPLES = """examples:
  ltr-hyperdpo demo                                             # the main job on embedded synthetic data
  ltr-hyperdpo convert train.txt train.parquet --objectives mslr5
  ltr-hyperdpo train --config run.yaml --out runs/mslr5
  ltr-hyperdpo front runs/mslr5 --data test.txt --out runs/mslr5/front_test
  ltr-hyperdpo predict runs/mslr5 --data new.txt --w 0.6 0.1 0.1 0.1 0.1 --out scores.tsv
  ltr-hyperdpo <command> --help                                 # every command's options and examples"""


#: each command's output option (attribute, as shown): checked never to replace a run's own files
OUTPUT_OPTIONS = {"convert": ("output", "OUTPUT"), "synth": ("output", "OUTPUT"), "predict": ("out", "--out"),
                  "export": ("out", "--out"), "qrels": ("out_dir", "--out-dir"), "front": ("out", "--out"),
                  "import-allrank": ("out", "--out"), "llm-convert": ("output", "OUTPUT"),
                  "llm-front": ("out", "--out")}


#: optional dependencies (top-level module) -> the extra that installs them
EXTRAS = {"optuna": "tune", "sklearn": "sklearn", "onnx": "export", "onnxruntime": "export", "onnxscript": "export",
          "pyterrier": "pyterrier", "transformers": "llm", "peft": "llm", "sentencepiece": "llm", "ray": "ray",
          "lightgbm": "bench"}

#: commands whose output option names a folder
FOLDER_OUTPUTS = {"front", "qrels", "llm-front"}


def build_parser() -> argparse.ArgumentParser:
    """The full parser: data commands, run commands, tune, LLM commands."""
    p = Parser(prog="ltr-hyperdpo", description="Multi-objective listwise LTR with HyperDPO: train one model on "
               "several objectives, pick the trade-off after training.",
               epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"ltr-hyperdpo {__version__}")
    p.add_argument("--debug", action="store_true",
                   help="show the full traceback of an error (also LTR_HYPERDPO_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    data.add_commands(sub)
    run.add_commands(sub)
    serve.add_commands(sub)
    tune.add_commands(sub)
    llm.add_commands(sub)
    return p


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) < 2000 else text[:2000] + " ..."


def _format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    line: str | None = None) -> str:
    return f"ltr-hyperdpo: warning: {message}\n"


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: temporary files are removed, the run lock is released


def install_signal_handlers() -> None:
    """Ctrl-C stops the command even when the shell started it with SIGINT ignored (a background job of a script);
    SIGTERM exits cleanly (exit 143) instead of dying mid-write."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)


def _leave_process_group() -> None:
    """Leave torchrun's process group at the end of a command (only a command that trained can have joined one, and
    then the module that joins it is loaded: nothing is imported here for the others)."""
    distributed = sys.modules.get("ltr_hyperdpo.runs.distributed")
    if distributed is not None:
        distributed.shutdown()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: exit 0 on success, 2 with one line on stderr for any error."""
    args = build_parser().parse_args(argv)
    if argv is None:  # the console script, not a call from Python (tests, notebooks keep their handlers)
        install_signal_handlers()
    debug = args.debug or os.environ.get("LTR_HYPERDPO_DEBUG", "") not in ("", "0")
    if not debug:
        warnings.formatwarning = _format_warning  # warnings as one line, no source-code lines
    try:
        if args.command in OUTPUT_OPTIONS:
            attr, shown = OUTPUT_OPTIONS[args.command]
            check_not_run_file(getattr(args, attr), shown)
            if args.command in FOLDER_OUTPUTS and Path(getattr(args, attr)).exists() \
                    and not Path(getattr(args, attr)).is_dir():  # refused before the work, not after it
                raise NotADirectoryError(f"{shown} {getattr(args, attr)}: exists and is not a directory (this "
                                         f"command writes a folder of files)")
        return int(args.fn(args) or 0)
    except BrokenPipeError:  # `--out - | head`: the reader has what it wanted; stop quietly, as cat does
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"ltr-hyperdpo {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if getattr(e, RAISED_ON_RANK0, False):  # rank 0 has printed this error (torchrun); say it once
            return 2
        missing = (e.name or "").split(".")[0] if isinstance(e, ModuleNotFoundError) else ""
        if missing in EXTRAS:  # an optional integration: name the extra that installs it
            print(f"ltr-hyperdpo {args.command}: error: {missing} is not installed and this command needs it: "
                  f"pip install 'ltr_hyperdpo[{EXTRAS[missing]}]'", file=sys.stderr)
            return 2
        if debug:
            traceback.print_exc()
        known = isinstance(e, (ValueError, OSError, LookupError))
        kind = "" if known or type(e).__module__.startswith("ltr_hyperdpo") else f"{type(e).__name__}: "
        hint = "" if debug else " (run with --debug for the traceback)" if kind else ""
        print(f"ltr-hyperdpo {args.command}: error: {kind}{_one_line(e)}{hint}", file=sys.stderr)
        return 2
    finally:
        _leave_process_group()


if __name__ == "__main__":
    sys.exit(main())
