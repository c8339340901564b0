"""Returning freed heap memory to the operating system between passes over large data.

Tensors whose shapes change from batch to batch (lists of different lengths) fragment glibc's heap: freed blocks
stay mapped, and a process that streams a large split through a model keeps growing although it holds little. At
the end of each streamed batch, ``malloc_trim(0)`` gives the free pages back (measured on a 1.2M-document MSLR-shaped
file: validation of 21 weights grew resident memory by +290 MB without it, +~20 MB with it).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys


def _load_trim():  # -> Callable[[int], int] | None
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # musl or another libc without malloc_trim
        return None


_TRIM = _load_trim()


def release_freed_memory() -> bool:
    """Give freed heap pages back to the OS (glibc ``malloc_trim``); ``False`` where it is not available."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
