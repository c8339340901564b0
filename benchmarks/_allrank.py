"""Importing allRank 1.4.3 (installed with ``pip install --no-deps allrank==1.4.3``) on current Python.

allRank imports ``torchvision.transforms`` (for ``Compose``), ``gcsfs`` and ``pkg_resources`` at module level, none
of which its losses, models or training loop use on local data. Stand-ins are placed in ``sys.modules`` only for
the modules that cannot be imported, for the duration of the import, and removed afterwards.
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any


class _Compose:
    """``torchvision.transforms.Compose``: apply transforms in order."""

    def __init__(self, transforms: list) -> None:
        self.transforms = transforms

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x


def _stubs() -> dict[str, types.ModuleType]:
    tv = types.ModuleType("torchvision")
    tr = types.ModuleType("torchvision.transforms")
    tr.Compose = _Compose  # type: ignore[attr-defined]
    tv.transforms = tr  # type: ignore[attr-defined]
    pk = types.ModuleType("pkg_resources")
    pk.Requirement = object  # type: ignore[attr-defined]
    pk.resource_filename = lambda *a, **k: ""  # type: ignore[attr-defined]
    return {"torchvision": tv, "torchvision.transforms": tr, "gcsfs": types.ModuleType("gcsfs"), "pkg_resources": pk}


@contextlib.contextmanager
def _stubbed() -> Iterator[list[str]]:
    added = []
    for name, mod in _stubs().items():
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = mod
            added.append(name)
    try:
        yield added
    finally:
        for name in added:
            sys.modules.pop(name, None)


def import_allrank(*modules: str) -> list[types.ModuleType]:
    """The given allRank modules (e.g. ``allrank.models.losses``); ImportError when allRank is not installed."""
    with _stubbed():
        return [importlib.import_module(m) for m in modules]
