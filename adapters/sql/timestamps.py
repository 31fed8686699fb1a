"""Times written to and read back from the database: always UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, as an aware UTC datetime: what every stored time is."""
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime: SQLite returns it naive, PostgreSQL in the
    session's zone; every stored time is UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def aware_or_none(moment: datetime | None) -> datetime | None:
    """``aware`` of a nullable column: None stays None."""
    return None if moment is None else aware(moment)
