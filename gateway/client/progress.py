"""A byte-counting progress bar on stderr that worker threads may advance."""

from __future__ import annotations

import sys
import threading

from tqdm import tqdm


class Progress:
    """One bar of ``total`` bytes labelled ``label``; draws nothing when ``quiet``."""

    def __init__(self, label: str, total: int, *, quiet: bool) -> None:
        self._lock = threading.Lock()
        self._bar = tqdm(
            total=total,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            disable=quiet,
            leave=False,
        )

    def advance(self, count: int) -> None:
        """Count ``count`` more bytes done."""
        with self._lock:
            self._bar.update(count)

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
