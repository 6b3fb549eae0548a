"""Memory a phase freed, given back to the system.

glibc's allocator keeps what a process frees (large strings and buffers live outside Python's own arenas) for
its next allocations, so the resident size of a long build only grows: each aggregate, and each large file a pool
worker renders, peaks at its own time, but the process keeps the leftovers of all of them. `malloc_trim` returns
the free pages. Measured on a warm-cache build of the torch tree into a fresh folder: the main process ~354 ->
~320 MB RSS after its aggregates, and the page workers' spikes given back. Not after every small job: the pages
come back as page faults (trimming a worker after each chunk cost ~5% more CPU). A no-op without glibc.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

GROWTH = 16 << 20
"""`release_if_grown` gives memory back once the process grew by this many bytes since it last did."""

_floor: int | None = None  # the resident size after the last release (or at the first call)


def release_free_memory() -> None:
    """Give the allocator's free pages back to the system (glibc), or do nothing."""
    if (trim := _malloc_trim()) is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes  # here: a build with nothing to do never needs it

    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # no malloc_trim (macOS, musl); no CDLL(None) (Windows)
        return None
    return trim


def release_if_grown(growth: int = GROWTH) -> None:
    """`release_free_memory` when the process grew by more than `growth` bytes since the last release (or since
    the first call)."""
    global _floor
    size = resident_bytes()
    if _floor is None:
        _floor = size
    elif size > _floor + growth:
        release_free_memory()
        _floor = resident_bytes()


def resident_bytes() -> int:
    """This process's resident size (Linux), else 0."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
