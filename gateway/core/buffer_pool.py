"""Reusable buffers for reading chunks, so streaming a file does not touch fresh memory.

``gateway.allocator`` makes glibc serve every buffer over 512 KiB from freshly mapped
pages, which keeps memory from creeping up under big uploads. The price is a page fault
per 4 KiB the first time a buffer is written: for a 1 MiB chunk that costs more than
reading, checking and sending it. Reads therefore fill buffers leased from a pool and
give them back once their bytes were sent; the pool keeps a bounded number of them.
"""

from __future__ import annotations

import threading

# Capacities are rounded up to this, so chunks of similar sizes share buffers.
GRANULE = 64 * 1024


def _round_up(size: int) -> int:
    return max(-(-size // GRANULE) * GRANULE, GRANULE)


def _unshared(buffer: bytearray) -> bool:
    """Whether no view of ``buffer`` is alive anywhere: CPython refuses to resize it then."""
    try:
        buffer.append(0)
    except BufferError:
        return False
    del buffer[-1]
    return True


class Lease:
    """One buffer taken from a pool; ``view`` has the size asked for."""

    __slots__ = ("_buffer", "_pool", "view")

    def __init__(self, pool: BufferPool, buffer: bytearray, size: int) -> None:
        self._pool = pool
        self._buffer: bytearray | None = buffer
        self.view = memoryview(buffer)[:size]

    def release(self) -> None:
        """Invalidate ``view`` and give the buffer back; later calls do nothing.

        Using ``view`` afterwards raises ValueError. A buffer still exported elsewhere
        (a view derived from ``view`` that somebody kept) is not reused but left to the
        garbage collector, so nobody sees bytes change under a view they hold.
        """
        buffer, self._buffer = self._buffer, None
        if buffer is None:
            return
        try:
            self.view.release()
        except BufferError:
            return
        if _unshared(buffer):
            self._pool.give_back(buffer)


class BufferPool:
    """Hands out buffers, keeping up to ``idle_bytes`` of returned ones for reuse.

    Thread-safe. Buffers in use are not counted against the limit: their number is
    bounded by the callers (the read-ahead of each stream).
    """

    def __init__(self, idle_bytes: int = 32 << 20) -> None:
        self._idle_limit = idle_bytes
        self._idle: list[bytearray] = []
        self._idle_total = 0
        self._lock = threading.Lock()

    @property
    def idle_bytes(self) -> int:
        """How many bytes the pool holds for reuse right now."""
        with self._lock:
            return self._idle_total

    def lease(self, size: int) -> Lease:
        """A buffer of at least ``size`` bytes (an idle one when one is big enough)."""
        with self._lock:
            fitting = [b for b in self._idle if len(b) >= size]
            buffer = min(fitting, key=len, default=None)
            if buffer is not None:
                self._idle.remove(buffer)
                self._idle_total -= len(buffer)
        if buffer is None:
            buffer = bytearray(_round_up(size))
        return Lease(self, buffer, size)

    def give_back(self, buffer: bytearray) -> None:
        """Keep ``buffer`` for reuse, dropping the smallest idle ones beyond the limit.

        The caller MUST NOT use ``buffer`` (or any view of it) afterwards.
        """
        with self._lock:
            self._idle.append(buffer)
            self._idle_total += len(buffer)
            self._idle.sort(key=len, reverse=True)
            while self._idle_total > self._idle_limit:
                self._idle_total -= len(self._idle.pop())
