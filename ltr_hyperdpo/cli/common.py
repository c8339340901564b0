"""Helpers shared by the command modules: parser construction with examples, validated option types."""
from __future__ import annotations

import argparse
import importlib
import math
from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``ltr-hyperdpo CMD: error: ...``), exit 2, no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def command(sub: Any, name: str, help: str, description: str, examples: list[str]) -> argparse.ArgumentParser:
    """A sub-command parser whose ``--help`` ends with its examples."""
    epilog = "example" + ("s" if len(examples) > 1 else "") + ":\n" + "\n".join(f"  {e}" for e in examples)
    return sub.add_parser(name, help=help, description=description, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _number(text: str, kind: type) -> Any:
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if isinstance(v, float) and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    v = _number(text, float)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return v


def finite_float(text: str) -> float:
    """An argparse type: a finite number."""
    return _number(text, float)


def nonnegative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    v = _number(text, float)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    v = _number(text, int)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return v


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    v = _number(text, int)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return v


class lazy_command:  # noqa: N801 - used like a function in set_defaults(fn=...)
    """A command's implementation named by module and function, imported when the command runs: building the parser
    (``--help``, ``--version``) loads no heavy module, and each command loads only what it uses."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, args: argparse.Namespace) -> Any:
        return getattr(importlib.import_module(self.module), self.name)(args)


def require(*modules: str) -> None:
    """Import the optional packages a command needs before it does anything, so that a missing one is reported
    first (``main`` names the extra that installs it)."""
    for m in modules:
        importlib.import_module(m)
