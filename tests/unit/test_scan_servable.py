"""Which versions the malware scan lets the gateway serve (``check_servable``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.core.scanning import check_servable
from gateway.errors import AccessDeniedError, QuarantinedError, ScanPendingError
from gateway.records import ObjectAttributes, StoredObject

OBJ = StoredObject(1, "k", "v", 1, 10, "e", datetime.now(UTC), ObjectAttributes())


@pytest.mark.parametrize(
    ("status", "strict"),
    [(None, False), (None, True), ("pending", False), ("clean", True), ("unscannable", True)],
)
def test_served(status: str | None, strict: bool) -> None:
    check_servable(replace(OBJ, scan_status=status, scan_strict=strict))


def test_quarantined_names_the_signature() -> None:
    infected = replace(OBJ, scan_status="infected", scan_signature="Eicar-Test", quarantined=True)
    with pytest.raises(QuarantinedError, match=r"malware detected \(Eicar-Test\)") as raised:
        check_servable(infected)
    assert isinstance(raised.value, AccessDeniedError)
    assert raised.value.status == "quarantined"


def test_unscannable_under_quarantine_policy_is_blocked() -> None:
    blocked = replace(OBJ, scan_status="unscannable", scan_signature="too big", quarantined=True)
    with pytest.raises(QuarantinedError, match="could not be scanned"):
        check_servable(blocked)


def test_strict_pending_is_refused_async_pending_served() -> None:
    with pytest.raises(ScanPendingError, match="pending"):
        check_servable(replace(OBJ, scan_status="pending", scan_strict=True))
    check_servable(replace(OBJ, scan_status="pending", scan_strict=False))
