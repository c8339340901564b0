"""Dataclass configuration: loaded from JSON/YAML, overridden with ``key.sub=value``, validated when built.

Every config dataclass derives from :class:`Validated`: on construction each field is checked against its type hint
(``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``X | None``, ``list[T]``, ``dict``, nested dataclasses) and
the range in its metadata (:func:`opt`), then the class's own :meth:`Validated.check` runs. A bad value raises
:class:`~ltr_hyperdpo.errors.ConfigError` naming the dotted key, the value and what is allowed, before any data is read.
"""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from .errors import ConfigError, RunDirError

T = TypeVar("T")


class FieldError(ConfigError):
    """A bad value for one key; ``key`` grows a prefix as the error leaves nested sections."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"config key '{key}': {message}")

    def under(self, prefix: str) -> FieldError:
        """The same error with ``prefix.`` in front of the key."""
        return FieldError(f"{prefix}.{self.key}" if prefix else self.key, self.message)


def opt(default: Any = dataclasses.MISSING, *, factory: Any = None, ge: float | None = None,
        gt: float | None = None, le: float | None = None, lt: float | None = None,
        items_ge: float | None = None, items_gt: float | None = None, length: int | None = None,
        doc: str = "") -> Any:
    """A dataclass field with a validated range (``ge``/``gt``/``le``/``lt``; ``items_*`` for list elements)."""
    meta = {k: v for k, v in {"ge": ge, "gt": gt, "le": le, "lt": lt, "items_ge": items_ge, "items_gt": items_gt,
                                  "length": length, "doc": doc}.items() if v is not None and v != ""}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def describe(tp: Any) -> str:
    """A type hint in words, for error messages."""
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(tp))
    if origin is list:
        args = typing.get_args(tp)
        return f"a list of {describe(args[0]) if args else 'values'}"
    if origin is dict or tp is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping (section)"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against the hint ``tp`` (with safe coercions); raises :class:`FieldError`."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise FieldError(key, f"expected {describe(tp)}, got null")
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except FieldError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise FieldError(key, f"expected {describe(tp)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp) or isinstance(value, bool) != any(isinstance(a, bool)
                                                                               for a in typing.get_args(tp)):
            raise FieldError(key, f"expected {describe(tp)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise FieldError(key, f"expected {describe(tp)}, got {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise FieldError(key, f"expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise FieldError(key, f"expected a mapping (section), got {value!r}")
        return from_dict(tp, value, where=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise FieldError(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise FieldError(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(key, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise FieldError(key, f"must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool):
            raise FieldError(key, f"expected a string, got {value!r}")
        if isinstance(value, (int, float)):  # e.g. --set data.train=2024 parses as a number
            return str(value)
        if not isinstance(value, str):
            raise FieldError(key, f"expected a string, got {value!r}")
        return value
    return value


def _check_range(value: Any, meta: Any, key: str) -> None:
    def one(v: Any, k: str, ge: Any, gt: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return
        if ge is not None and v < ge:
            raise FieldError(k, f"must be >= {ge}, got {v!r}")
        if gt is not None and v <= gt:
            raise FieldError(k, f"must be > {gt}, got {v!r}")

    one(value, key, meta.get("ge"), meta.get("gt"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if meta.get("le") is not None and value > meta["le"]:
            raise FieldError(key, f"must be <= {meta['le']}, got {value!r}")
        if meta.get("lt") is not None and value >= meta["lt"]:
            raise FieldError(key, f"must be < {meta['lt']}, got {value!r}")
    if isinstance(value, list):
        if meta.get("length") is not None and len(value) != meta["length"]:
            raise FieldError(key, f"must have {meta['length']} values, got {value!r}")
        for i, v in enumerate(value):
            one(v, f"{key}[{i}]", meta.get("items_ge"), meta.get("items_gt"))


class Validated:
    """Mixin for config dataclasses: fields are type- and range-checked on construction, then :meth:`check` runs."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = _coerce(getattr(self, f.name), hints[f.name], f.name)
            _check_range(v, f.metadata, f.name)
            object.__setattr__(self, f.name, v)
        self.check()

    def check(self) -> None:
        """Cross-field checks of a section; raise :class:`FieldError` naming the key."""


def from_dict(cls: type[T], data: dict | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys and bad values raise :class:`FieldError` (a
    :class:`ConfigError`) naming the dotted key (``where`` is the section's own key, for messages)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FieldError(where or cls.__name__, f"expected a mapping (section), got {data!r}")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names), key=str)
    try:
        if unknown:
            more = f" (and {', '.join(map(str, unknown[1:]))})" if len(unknown) > 1 else ""
            raise FieldError(str(unknown[0]), f"unknown key{more}; allowed: {', '.join(names)}")
        return cls(**data)
    except FieldError as e:
        raise (e.under(where) if where else e) from None


def to_dict(obj: Any) -> dict:
    """A dataclass as a plain dict."""
    return dataclasses.asdict(obj)


def read_structured_file(path: str | Path) -> Any:
    """Parse a JSON or YAML file (by extension; JSON otherwise); syntax errors name the file and line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a JSON/YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.MarkedYAMLError as e:
            line = e.problem_mark.line + 1 if e.problem_mark is not None else "?"
            raise ConfigError(f"{p}:{line}: invalid YAML: {e.problem}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML: {e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p}:{e.lineno}: invalid JSON: {e.msg}") from None


def load_config_file(path: str | Path) -> dict:
    """Read a JSON or YAML config: a mapping of sections."""
    d = read_structured_file(path)
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections")
    return d


def apply_overrides(d: dict, sets: list[str] | None) -> dict:
    """``key.sub=value`` overrides, in place (the value is parsed as JSON when it can be, else kept as a string)."""
    for s in sets or []:
        if "=" not in s:
            raise ConfigError(f"--set expects KEY=VALUE, got {s!r}")
        key, raw = s.split("=", 1)
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"--set: bad key {key!r}")
        try:
            val = json.loads(raw)
        except json.JSONDecodeError:
            val = raw
        node = d
        parts = key.split(".")
        for i, p in enumerate(parts[:-1]):
            nxt = node.setdefault(p, {})
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {key}: '{'.'.join(parts[:i + 1])}' is not a section")
            node = nxt
        node[parts[-1]] = val
    return d


def diff_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            out += diff_keys(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [prefix or "(root)"]


__all__ = ["Validated", "FieldError", "opt", "from_dict", "to_dict", "load_config_file", "apply_overrides",
           "diff_keys", "describe", "read_structured_file"]


def check_resume_config(run_dir: Path, cfg_dict: dict, harmless: tuple[str, ...], saved: dict | None = None) -> None:
    """Refuse a ``--resume`` whose config changes the result: every key that differs from ``RUN/config.json``
    (or ``saved``, that file read in today's layout) except those in ``harmless`` (and their sub-keys) is named in
    one line."""
    if saved is None:
        saved = load_config_file(run_dir / "config.json")
    changed = [k for k in diff_keys(saved, cfg_dict) if k not in harmless and k.split(".")[0] not in harmless]
    if changed:
        raise RunDirError(f"{run_dir}: --resume with a config that changes the result ({', '.join(changed)} differ "
                          f"from the saved config.json); resume with the same config, or start a new run")
