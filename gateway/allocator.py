"""Keeping the process's memory from growing with upload sizes (glibc malloc tuning).

Uploads pass multi-MiB buffers between threads. glibc's allocator gives each thread an
arena and raises its mmap threshold after large frees, so memory freed by one upload is
kept by the arena instead of returning to the system: RSS climbs by hundreds of MiB under
concurrent multipart uploads and stays there. A fixed trim threshold (which also pins the
mmap threshold) makes freed memory go back promptly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 128 * 1024
MMAP_THRESHOLD = 512 * 1024


def tune_allocator() -> bool:
    """Apply the thresholds when the C library is glibc; return whether it was applied."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.debug("mallopt unavailable; allocator left as it is")
        return False
    return bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    )
