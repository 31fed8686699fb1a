"""Waiting for SIGINT or SIGTERM: how ``gateway serve`` and ``gateway worker`` end."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger("gateway")


def wait_for_stop_signal(what: str) -> None:
    """Install handlers for SIGINT and SIGTERM and block until one arrives; ``what`` names
    what the process does next in the log line ("stopping the worker"). Main thread only."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d, %s", signum, what)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stopping.wait()
