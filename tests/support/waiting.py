"""Waiting for something another thread or process does."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool],
    timeout: float = 10.0,
    *,
    what: str = "the condition",
    interval: float = 0.02,
) -> None:
    """Call ``condition`` every ``interval`` seconds until it is true; fail the test when
    it is still false after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"after {timeout} s still not: {what}"
        time.sleep(interval)
