"""Many small PUTs by parallel workers, timed from the moment every worker is connected.

The S3 and WebDAV small-PUT figures share this: each worker opens its own connection
before the clock starts, waits at a barrier with the others, then sends its share one
request at a time; the time runs until the last worker has finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from bench.model import PutTally

Connection = TypeVar("Connection")
Item = TypeVar("Item")

Connect = Callable[[], AbstractContextManager[Connection]]
"""Opens a worker's connection (ready to send: connected, or its first request made)."""
Put = Callable[[Connection, Item], str | None]
"""Sends one item; returns None when it was stored, else what went wrong."""


class _Worker(threading.Thread, Generic[Connection, Item]):
    """PUTs its share over its own connection, after the start barrier."""

    def __init__(
        self,
        connect: Connect[Connection],
        put: Put[Connection, Item],
        items: Sequence[Item],
        barrier: threading.Barrier,
        stop: threading.Event,
        tally: PutTally,
        lock: threading.Lock,
    ) -> None:
        super().__init__(daemon=True)
        self._connect = connect
        self._put = put
        self._items = items
        self._barrier = barrier
        self._stop_event = stop
        self._tally = tally
        self._lock = lock

    def run(self) -> None:
        with self._connect() as connection:
            try:
                self._barrier.wait()
            except threading.BrokenBarrierError:
                return  # the batch was called off before it started
            for item in self._items:
                if self._stop_event.is_set():
                    return
                error = self._put(connection, item)
                with self._lock:
                    self._tally.add(error)


def timed_puts(
    shares: Sequence[Sequence[Item]],
    connect: Connect[Connection],
    put: Put[Connection, Item],
) -> PutTally:
    """Run one worker per share, each ``put``-ting its items over its own ``connect()``.

    The clock starts once every worker has connected and stops when the last one has
    finished. A KeyboardInterrupt stops the workers before their next request.
    """
    barrier = threading.Barrier(len(shares) + 1)
    stop = threading.Event()
    tally, lock = PutTally(), threading.Lock()
    threads = [_Worker(connect, put, share, barrier, stop, tally, lock) for share in shares]
    try:
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        tally.seconds = time.perf_counter() - started
    finally:
        stop.set()
        barrier.abort()
    return tally
