"""The change feed's rows: one function appends them all, and readers see them in id order
without ever skipping one.

Readers follow the feed by id: they remember the last id they saw and ask for larger
ones. That is only safe if no row with a smaller id can still commit after a reader saw
a larger one. SQLite runs one write transaction at a time, so ids are commit order
there. On PostgreSQL ids come from a sequence when the row is inserted, while the
transactions commit in any order; so every transaction that appends changes first takes
the feed's advisory lock in shared mode (writers never wait for each other), and a reader
that found new rows up to id ``top`` takes the same lock exclusively once, in a
transaction of its own, before reading them: that waits exactly for the writers still in
flight, and every id at or below ``top`` was drawn by one of them (a writer locks before
drawing its id, and ``top`` was drawn after). The shared lock is taken just before the
insert, after every row lock of the transaction, so a writer holding it never waits for
another lock and a waiting reader cannot close a deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
)

from adapters.sql.models import BucketGrantRow, BucketRow, ChangeRow
from adapters.sql.timestamps import aware
from gateway.records import Bucket, Change

_CHANGES = cast(Table, ChangeRow.__table__)
_INSERT_CHANGE = insert(_CHANGES)
# The advisory lock key of the feed (any constant the application uses for nothing else).
FEED_LOCK_KEY = 0x6761_7465_6665_6564  # "gatefeed"
_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)").bindparams(key=FEED_LOCK_KEY)
_LOCK_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=FEED_LOCK_KEY)
_LAST_ID = select(func.coalesce(func.max(_CHANGES.c.id), 0))
_PAGE = (
    select(_CHANGES)
    .where(_CHANGES.c.id > bindparam("after"), _CHANGES.c.id <= bindparam("top"))
    .order_by(_CHANGES.c.id)
)

# Whether this thread's current write transaction appended changes (see ``take_appended``).
_appended = threading.local()


def change(
    bucket: tuple[int, str],
    key: str,
    event: str,
    at: datetime,
    *,
    version_id: str | None = None,
    size: int | None = None,
    etag: str | None = None,
    source: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The column values of one change-feed row of ``bucket`` (its id and name);
    ``source`` is a move's old (bucket name, key)."""
    return {
        "bucket_id": bucket[0],
        "bucket": bucket[1],
        "key": key,
        "event": event,
        "version_id": version_id,
        "size": size,
        "etag": etag,
        "at": at,
        "source_bucket": source[0] if source else None,
        "source_key": source[1] if source else None,
    }


def record_changes(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append ``rows`` (from ``change``) in the caller's write transaction.

    Call it last before the commit (only audit rows may follow): on PostgreSQL it takes
    the feed's shared lock, which the transaction must not hold while it waits for rows.
    """
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_SHARED)
    connection.execute(_INSERT_CHANGE, [dict(row) for row in rows])
    _appended.value = True


def take_appended() -> bool:
    """Whether this thread appended changes since the last call (and forget it)."""
    appended = bool(getattr(_appended, "value", False))
    _appended.value = False
    return appended


def last_id(connection: Connection) -> int:
    """The highest id of the feed (0 when it is empty)."""
    return int(connection.execute(_LAST_ID).scalar_one())


def wait_for_writers(connection: Connection) -> None:
    """Wait until every transaction appending changes now has ended (PostgreSQL; SQLite
    has nothing to wait for). The caller commits at once, releasing the lock."""
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_EXCLUSIVE)


def visible_to(reader_id: int) -> ColumnElement[bool]:
    """Rows of the buckets ``reader_id`` owns or holds a grant on now."""
    bucket_ids = (
        select(BucketRow.id)
        .where(BucketRow.owner_id == reader_id)
        .union(select(BucketGrantRow.bucket_id).where(BucketGrantRow.user_id == reader_id))
        .scalar_subquery()
    )
    names = select(BucketRow.name).where(BucketRow.id.in_(bucket_ids)).scalar_subquery()
    return or_(
        _CHANGES.c.bucket_id.in_(bucket_ids),
        and_(_CHANGES.c.bucket_id.is_(None), _CHANGES.c.bucket.in_(names)),
    )


def of_bucket(bucket: Bucket) -> ColumnElement[bool]:
    """Rows of ``bucket`` (by id; rows older than ``bucket_id`` by name)."""
    return or_(
        _CHANGES.c.bucket_id == bucket.id,
        and_(_CHANGES.c.bucket_id.is_(None), _CHANGES.c.bucket == bucket.name),
    )


def read_page(
    connection: Connection,
    after: int,
    top: int,
    limit: int,
    conditions: Sequence[ColumnElement[bool]],
) -> list[Change]:
    """Up to ``limit`` rows with ``after < id <= top`` that meet ``conditions``, by id."""
    query = _PAGE.where(*conditions).limit(limit)
    rows = connection.execute(query, {"after": after, "top": top})
    return [
        Change(
            id=row.id,
            bucket_id=row.bucket_id,
            bucket=row.bucket,
            key=row.key,
            event=row.event,
            version_id=row.version_id,
            size=row.size,
            etag=row.etag,
            at=aware(row.at),
            source_bucket=row.source_bucket,
            source_key=row.source_key,
        )
        for row in rows
    ]
