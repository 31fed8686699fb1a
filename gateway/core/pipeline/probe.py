"""The ``probe`` job kind: operators enqueue probes to check that workers are alive.

A probe does nothing but complete, so the job row itself (``done``, who ran it, when)
is the record. ``{"seconds": S}`` in its payload makes it hold its lease that long
first (at most a minute), to see leases renewed or a stopped worker's jobs redone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

PROBE = "probe"
MAX_HOLD_SECONDS = 60.0


def run_probe(payload: Mapping[str, Any]) -> None:
    """Complete at once, or after ``payload["seconds"]`` (capped at one minute)."""
    seconds = float(payload.get("seconds") or 0)
    if seconds > 0:
        time.sleep(min(seconds, MAX_HOLD_SECONDS))
