"""The registry of stage-2 methods: the CLI choices, the config check, the benchmark and the plot labels read it."""
from __future__ import annotations

from .base import Method

_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` under its name (a later registration of the same name replaces it)."""
    if not method.name:
        raise ValueError("a method needs a name")
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a registered method (tests register toy methods)."""
    _REGISTRY.pop(name, None)


def get_method(name: str) -> Method:
    """The method registered under ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def method_names() -> tuple[str, ...]:
    """Registered method names, in registration order."""
    return tuple(_REGISTRY)


def labels() -> dict[str, str]:
    """Plot and report labels by method name."""
    return {n: m.label or n for n, m in _REGISTRY.items()}
