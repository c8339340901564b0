"""Dataclass configuration loaded from / saved to JSON or YAML, with errors that name the bad key."""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def from_dict(cls: type[T], data: dict | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a dict, recursing into nested dataclasses; unknown keys are errors."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)} in {where or cls.__name__}; "
                         f"allowed: {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        v = data[f.name]
        t = hints[f.name]
        if dataclasses.is_dataclass(t) and isinstance(v, dict):
            v = from_dict(t, v, f"{where}.{f.name}" if where else f.name)
        kwargs[f.name] = v
    return cls(**kwargs)


def to_dict(obj: Any) -> dict:
    """A dataclass as a plain dict."""
    return dataclasses.asdict(obj)


def load_config_file(path: str | Path) -> dict:
    """Read a JSON or YAML file into a dict."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such config file")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        d = yaml.safe_load(text)
    else:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}:{e.lineno}: invalid JSON: {e.msg}") from None
    if not isinstance(d, dict):
        raise ValueError(f"{p}: the config must be a mapping")
    return d
