"""gateway.core.scanning and the Verdict record: which objects are scanned, what verdicts mean."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from gateway.core.scanning import OversizePolicy, ScanAction, scan_action, scan_object
from gateway.ports import Bytes, Scanner
from gateway.records import Verdict, VerdictKind

CLEAN = Verdict.clean()


class RecordingScanner:
    """Answers ``verdict`` and remembers how many bytes it was given."""

    def __init__(self, max_bytes: int | None, verdict: Verdict = CLEAN) -> None:
        self._max_bytes = max_bytes
        self.verdict = verdict
        self.scanned: list[int] = []

    @property
    def max_bytes(self) -> int | None:
        return self._max_bytes

    def scan(self, stream: Iterable[Bytes]) -> Verdict:
        self.scanned.append(sum(len(piece) for piece in stream))
        return self.verdict

    def ping(self) -> None:
        return None


def never_opened() -> Iterator[bytes]:
    raise AssertionError("the object was read")


def test_a_recording_scanner_is_a_scanner() -> None:
    assert isinstance(RecordingScanner(None), Scanner)


def test_an_object_over_the_limit_is_never_read() -> None:
    scanner = RecordingScanner(max_bytes=100)
    verdict = scan_object(scanner, 101, never_opened)
    assert verdict.kind is VerdictKind.UNSCANNABLE
    assert "101 bytes" in (verdict.reason or "")
    assert scanner.scanned == []


@pytest.mark.parametrize(("limit", "size"), [(100, 100), (100, 0), (None, 10**12)])
def test_an_object_within_the_limit_is_scanned(limit: int | None, size: int) -> None:
    scanner = RecordingScanner(max_bytes=limit, verdict=Verdict.infected("Sig"))
    assert scan_object(scanner, size, lambda: [b"a" * min(size, 100)]) == Verdict.infected("Sig")
    assert scanner.scanned == [min(size, 100)]


@pytest.mark.parametrize(
    ("verdict", "policy", "action"),
    [
        (Verdict.clean(), OversizePolicy.QUARANTINE, ScanAction.SERVE),
        (Verdict.clean(), OversizePolicy.FLAG, ScanAction.SERVE),
        (Verdict.infected("Sig"), OversizePolicy.QUARANTINE, ScanAction.QUARANTINE),
        (Verdict.infected("Sig"), OversizePolicy.FLAG, ScanAction.QUARANTINE),
        (Verdict.unscannable("big"), OversizePolicy.QUARANTINE, ScanAction.QUARANTINE),
        (Verdict.unscannable("big"), OversizePolicy.FLAG, ScanAction.SERVE_UNSCANNED),
        (Verdict.error("down"), OversizePolicy.QUARANTINE, ScanAction.RETRY),
        (Verdict.error("down"), OversizePolicy.FLAG, ScanAction.RETRY),
    ],
)
def test_scan_actions(verdict: Verdict, policy: OversizePolicy, action: ScanAction) -> None:
    assert scan_action(verdict, policy) is action


def test_only_a_clean_verdict_is_clean() -> None:
    assert Verdict.clean().is_clean
    for verdict in (Verdict.infected("S"), Verdict.unscannable("r"), Verdict.error("r")):
        assert not verdict.is_clean


@pytest.mark.parametrize(
    ("kind", "signature", "reason"),
    [
        (VerdictKind.CLEAN, "Sig", None),
        (VerdictKind.CLEAN, None, "why"),
        (VerdictKind.INFECTED, None, None),
        (VerdictKind.INFECTED, "", None),
        (VerdictKind.UNSCANNABLE, None, None),
        (VerdictKind.ERROR, "Sig", "why"),
    ],
)
def test_inconsistent_verdicts_cannot_be_made(
    kind: VerdictKind, signature: str | None, reason: str | None
) -> None:
    with pytest.raises(ValueError, match="inconsistent verdict"):
        Verdict(kind, signature=signature, reason=reason)
