"""Scanning whole objects: which objects are offered to the scanner, and what a verdict means.

The scan stage offers every stored object to the configured ``Scanner`` port and acts on
its verdict. An object over the scanner's size limit is never streamed to it: it is
``unscannable`` at once, and the oversize policy decides whether it may be served.
Nothing is ever served on the strength of a verdict that is not ``clean``, except an
unscannable object under the ``flag`` policy, which is served marked as unscanned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum

from gateway.errors import QuarantinedError, ScanPendingError
from gateway.ports import Bytes, Scanner
from gateway.records import StoredObject, Verdict, VerdictKind

# The job kind of the scan stage; its payload is ``{"version_id": <internal id>}``.
SCAN_JOB = "scan"
# A version's scan status (``StoredObject.scan_status``); None: written with scanning off.
SCAN_PENDING = "pending"
SCAN_CLEAN = "clean"
SCAN_INFECTED = "infected"
SCAN_UNSCANNABLE = "unscannable"
# A bucket's scan policy.
SCAN_ASYNC = "async"
SCAN_STRICT = "strict"
SCAN_POLICIES = (SCAN_ASYNC, SCAN_STRICT)


class OversizePolicy(StrEnum):
    """What happens to an object the scanner cannot scan whole."""

    # Treat it like an infected object: blocked, never served.
    QUARANTINE = "quarantine"
    # Serve it, marked as not scanned.
    FLAG = "flag"


class ScanAction(StrEnum):
    """What the scan stage does with an object after its verdict."""

    # Scanned and clean: serve it.
    SERVE = "serve"
    # Not scanned (too large) and the policy is ``flag``: serve it, marked unscanned.
    SERVE_UNSCANNED = "serve-unscanned"
    # Infected, or not scanned under the ``quarantine`` policy: never serve it again.
    QUARANTINE = "quarantine"
    # The scanner gave no answer: scan again later.
    RETRY = "retry"


def scan_object(scanner: Scanner, size: int, open_stream: Callable[[], Iterable[Bytes]]) -> Verdict:
    """Scan an object of ``size`` bytes whose bytes ``open_stream()`` yields.

    An object larger than ``scanner.max_bytes`` is not read at all (``open_stream`` is
    not called): its verdict is ``unscannable``.
    """
    limit = scanner.max_bytes
    if limit is not None and size > limit:
        return Verdict.unscannable(
            f"the object's {size} bytes are over the scan limit of {limit} bytes"
        )
    return scanner.scan(open_stream())


def scan_action(verdict: Verdict, policy: OversizePolicy) -> ScanAction:
    """What to do with an object given its ``verdict`` and the oversize ``policy``."""
    if verdict.kind is VerdictKind.CLEAN:
        return ScanAction.SERVE
    if verdict.kind is VerdictKind.INFECTED:
        return ScanAction.QUARANTINE
    if verdict.kind is VerdictKind.UNSCANNABLE:
        return (
            ScanAction.SERVE_UNSCANNED if policy is OversizePolicy.FLAG else ScanAction.QUARANTINE
        )
    return ScanAction.RETRY


def check_servable(obj: StoredObject) -> None:
    """Raise unless ``obj``'s bytes (and headers) may be served.

    QuarantinedError for a quarantined version; ScanPendingError for a version of a
    strict bucket that has no verdict yet. A version written while scanning was off
    (status None) is served whatever the policy: it was never offered to a scanner.
    """
    if obj.quarantined:
        if obj.scan_status == SCAN_INFECTED:
            why = f"malware detected ({obj.scan_signature})"
        else:
            why = f"it could not be scanned ({obj.scan_signature})"
        raise QuarantinedError(obj.key, f"object is quarantined: {why}", "quarantined")
    if obj.scan_strict and obj.scan_status == SCAN_PENDING:
        raise ScanPendingError(
            obj.key,
            "object is not available yet: its malware scan is pending (strict scan policy)",
            SCAN_PENDING,
        )
