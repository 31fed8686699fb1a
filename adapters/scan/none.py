"""The ``none`` scanner: malware scanning disabled.

Every object is judged clean without a byte of it being read. This is the default for
``make run`` and for deployments without a clamd; anything stored is served unscanned.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.ports import Bytes
from gateway.records import Verdict


class NoScanner:
    """Scanning disabled: ``scan`` answers clean at once, ``ping`` always succeeds."""

    @property
    def max_bytes(self) -> int | None:
        """No limit: nothing is read anyway."""
        return None

    def scan(self, stream: Iterable[Bytes]) -> Verdict:
        """Clean, without reading ``stream``."""
        return Verdict.clean()

    def ping(self) -> None:
        """Nothing to reach: always answers."""

    def __repr__(self) -> str:
        return "NoScanner()"
