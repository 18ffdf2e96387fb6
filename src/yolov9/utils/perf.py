"""Process-level performance settings for CPU inference (opt-in, never at import)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_tuned = False


def tune_cpu_allocator() -> bool:
    """Keep freed activation memory in the heap instead of returning it to the OS.

    glibc serves blocks above its mmap threshold with fresh pages and unmaps them on free,
    so every forward pass page-faults its activations in again. Raising the mmap threshold to
    its maximum (32 MiB) and the trim threshold to 1 GiB lets the allocator reuse them: about
    5% faster CNN inference on the CPU here (see docs/benchmarks.md). Linux/glibc only;
    returns whether the settings were applied. Affects the whole process.
    """
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
        )
    except (OSError, AttributeError):
        return False
    _tuned = ok
    log.debug("glibc allocator tuned for inference: %s", ok)
    return ok
