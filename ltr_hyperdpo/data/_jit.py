"""numba compilation deferred to the first compiled call, so that a command that parses only a small file never
imports numba (0.2 s) nor pays its first dispatch (0.3 s): it runs the kernel's own Python (``py_func``) instead."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class jitable:  # noqa: N801 - a decorator
    """A helper of a deferred kernel: a plain Python function until numba compiles a kernel that calls it (it is
    then registered with ``numba.extending.register_jitable(**options)``)."""

    def __init__(self, **options: Any):
        self.options = options

    def __call__(self, fn: Callable) -> Callable:
        fn._jit_options = self.options  # type: ignore[attr-defined]
        return fn


def _undecorated(*args: Any) -> Any:
    raise TypeError("deferred_njit(...) must decorate a function")


class deferred_njit:  # noqa: N801 - a decorator
    """``numba.njit(**options)`` applied on the first call; ``py_func`` is the plain Python function, and
    ``helpers`` (functions marked :class:`jitable`) are registered with numba first."""

    def __init__(self, *helpers: Callable, **options: Any):
        self.helpers, self.options = helpers, options
        self.py_func: Callable = _undecorated
        self._compiled: Callable | None = None

    def __call__(self, fn: Callable) -> deferred_njit:
        self.py_func = fn
        return self

    def compiled(self) -> Callable:
        if self._compiled is None:
            numba = importlib.import_module("numba")
            extending = importlib.import_module("numba.extending")
            for h in self.helpers:
                options = getattr(h, "_jit_options", {})
                if options:
                    extending.register_jitable(**options)(h)
                else:  # register_jitable() without options takes the function itself
                    extending.register_jitable(h)
            self._compiled = numba.njit(**self.options)(self.py_func)
        return self._compiled

    def run(self, *args: Any) -> Any:
        """Call the compiled kernel."""
        return self.compiled()(*args)
