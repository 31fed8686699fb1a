"""Waiting for the change feed to grow, for every long-polling reader of one process.

Two things wake a waiter: a commit of this process that appended changes (the metadata
store calls ``notify`` right after it) and one poller thread, shared by every waiter,
that reads the feed's highest id every ``poll_interval`` seconds while anybody waits,
and so sees the commits of other processes. Waiting holds no database connection. At
most ``max_waiters`` wait at once: a reader above that is told to answer at once, so
long polls never take every server thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class ChangeSignal:
    """A generation counter bumped by each change this process learns of. Thread-safe."""

    def __init__(
        self, last_id: Callable[[], int], *, poll_interval: float, max_waiters: int
    ) -> None:
        self._last_id = last_id
        self._poll_interval = poll_interval
        self._max_waiters = max_waiters
        self._condition = threading.Condition()
        self._generation = 0
        # The highest feed id the poller saw; 0 until it polled.
        self._top = 0
        self._waiters = 0
        self._closed = False
        self._stopped = threading.Event()
        self._poller: threading.Thread | None = None

    def notify(self) -> None:
        """A commit of this process appended changes: wake every waiter."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def generation(self) -> int:
        """The current generation: take it before reading the feed, wait with it after."""
        with self._condition:
            return self._generation

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Whether the caller may wait (False when ``max_waiters`` already do); held for
        the block."""
        with self._condition:
            admitted = self._waiters < self._max_waiters and not self._closed
            if admitted:
                self._waiters += 1
                self._start_poller()
                self._condition.notify_all()
        try:
            yield admitted
        finally:
            if admitted:
                with self._condition:
                    self._waiters -= 1

    def wait(self, generation: int, known_top: int, timeout: float) -> bool:
        """Wait (inside ``slot``) until the generation differs from ``generation`` or the
        poller saw an id above ``known_top``; False when ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._generation == generation and self._top <= known_top:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._condition.wait(remaining)
            return True

    def close(self) -> None:
        """Stop the poller and release every waiter."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._stopped.set()
        if self._poller is not None:
            self._poller.join()

    def _start_poller(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="change-poll", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        """While anybody waits, read the feed's highest id every ``poll_interval``."""
        while True:
            with self._condition:
                while not self._waiters and not self._closed:
                    self._condition.wait()
                if self._closed:
                    return
            try:
                top = self._last_id()
            except Exception:
                log.exception("reading the change feed's last id failed")
                top = 0
            with self._condition:
                if top > self._top:
                    self._top = top
                    self._condition.notify_all()
            # Not on the condition: commits notify it, and must not make the poller poll.
            self._stopped.wait(self._poll_interval)
