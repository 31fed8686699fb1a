"""When a failed job is tried again: exponential back-off with jitter."""

from __future__ import annotations

import random

DEFAULT_BASE_SECONDS = 2.0
DEFAULT_CAP_SECONDS = 600.0


def retry_delay(
    attempts: int,
    base_seconds: float = DEFAULT_BASE_SECONDS,
    cap_seconds: float = DEFAULT_CAP_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the next attempt of a job that has failed ``attempts`` times.

    The ceiling doubles with each failure, ``base * 2 ** (attempts - 1)`` capped at
    ``cap``; the delay is drawn uniformly from the upper half of it (between half the
    ceiling and the ceiling), so jobs that failed together do not all come back at once,
    yet every retry waits at least half the ceiling.
    """
    ceiling = min(cap_seconds, base_seconds * 2.0 ** max(0, min(attempts - 1, 62)))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
