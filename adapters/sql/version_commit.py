"""The statements of every commit of a new current version, built once.

PutObject, CopyObject, CompleteMultipartUpload and WebDAV writes all end in the same
transaction: a manifest and its entries, the chunks' reference counts, the object row
locked, the previous current version retired, the new version, a change-feed row (see
``change_feed``) and an audit row. Each statement here is a module-level Core construct with bind
parameters, run on the transaction's connection: a commit then costs the statements'
execution, not the ORM's unit-of-work bookkeeping or building expressions per call.

Every function takes the connection of a write transaction and leaves committing to
the caller.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.models import (
    AuditRow,
    BucketRow,
    ChunkRow,
    ManifestEntryRow,
    ManifestRow,
    ObjectRow,
    VersionRow,
)
from gateway.errors import ChunksCollectedError
from gateway.records import VERSIONING_ENABLED, Actor, ManifestEntry

_AUDIT = cast(Table, AuditRow.__table__)
_BUCKETS = cast(Table, BucketRow.__table__)
_CHUNKS = cast(Table, ChunkRow.__table__)
_ENTRIES = cast(Table, ManifestEntryRow.__table__)
_MANIFESTS = cast(Table, ManifestRow.__table__)
_OBJECTS = cast(Table, ObjectRow.__table__)
_VERSIONS = cast(Table, VersionRow.__table__)


class ManifestRef(NamedTuple):
    """A manifest just written: its id and its size in plain bytes."""

    id: int
    size: int


_INSERT_MANIFEST = (
    insert(_MANIFESTS)
    .values(size=bindparam("m_size"), created_at=bindparam("m_at"))
    .returning(_MANIFESTS.c.id)
)
_INSERT_ENTRIES = insert(_ENTRIES)
_ADD_REFERENCES = (
    update(_CHUNKS)
    .where(_CHUNKS.c.id == bindparam("c_id"))
    .values(refcount=_CHUNKS.c.refcount + bindparam("c_count"))
)
_ENTRIES_PER_CHUNK = (
    select(func.count())
    .where(
        _ENTRIES.c.manifest_id.in_(bindparam("m_ids", expanding=True)),
        _ENTRIES.c.chunk_id == _CHUNKS.c.id,
    )
    .correlate(_CHUNKS)
    .scalar_subquery()
)
_CHUNKS_OF_MANIFESTS = _CHUNKS.c.id.in_(
    select(_ENTRIES.c.chunk_id).where(
        _ENTRIES.c.manifest_id.in_(bindparam("m_ids", expanding=True))
    )
)


def in_id_order(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """The chunk rows matching ``condition``, locked in ascending id order first: an
    ``UPDATE`` of chunks on this condition takes its row locks in the order every
    other writer of chunk rows does, so two of them never wait for each other crosswise.

    The lock is ``FOR NO KEY UPDATE``, the one an ``UPDATE`` of non-key columns takes
    anyway: it leaves alone the key-share locks that inserting manifest entries holds on
    the chunks they name. SQLite has no row locks and compiles it without the clause.
    """
    return _CHUNKS.c.id.in_(
        select(_CHUNKS.c.id)
        .where(condition)
        .order_by(_CHUNKS.c.id)
        .with_for_update(key_share=True)
        .correlate(None)
    )


_ADD_ALL_REFERENCES = (
    update(_CHUNKS)
    .where(in_id_order(_CHUNKS_OF_MANIFESTS))
    .values(refcount=_CHUNKS.c.refcount + _ENTRIES_PER_CHUNK)
)
# A chunk that lost its last reference starts its garbage-collection grace period now.
_RELEASE_REFERENCES = (
    update(_CHUNKS)
    .where(in_id_order(_CHUNKS_OF_MANIFESTS))
    .values(refcount=_CHUNKS.c.refcount - _ENTRIES_PER_CHUNK, touched_at=bindparam("c_at"))
)
_DELETE_ENTRIES = delete(_ENTRIES).where(
    _ENTRIES.c.manifest_id.in_(bindparam("m_ids", expanding=True))
)
_DELETE_MANIFESTS = delete(_MANIFESTS).where(
    _MANIFESTS.c.id.in_(bindparam("m_ids", expanding=True))
)
# Manifests are locked before their chunks, by droppers (exclusively) and by copiers
# (shared), so the two never wait on each other in opposite orders.
_LOCK_MANIFESTS = (
    select(_MANIFESTS.c.id)
    .where(_MANIFESTS.c.id.in_(bindparam("m_ids", expanding=True)))
    .with_for_update()
)
_SHARE_MANIFESTS = (
    select(_MANIFESTS.c.id)
    .where(_MANIFESTS.c.id.in_(bindparam("m_ids", expanding=True)))
    .with_for_update(read=True)
)
# Returns the new row's id, and no row when the key already had one.
_INSERT_OBJECT = {
    name: dialect_insert(_OBJECTS)
    .values(bucket_id=bindparam("o_bucket"), key=bindparam("o_key"))
    .on_conflict_do_nothing()
    .returning(_OBJECTS.c.id)
    for name, dialect_insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}
_LOCK_OBJECT = (
    select(_OBJECTS.c.id)
    .where(_OBJECTS.c.bucket_id == bindparam("o_bucket"), _OBJECTS.c.key == bindparam("o_key"))
    .with_for_update()
)
_BUCKET_VERSIONING = select(_BUCKETS.c.versioning).where(_BUCKETS.c.id == bindparam("b_id"))
_NULL_VERSION = select(
    _VERSIONS.c.id, _VERSIONS.c.manifest_id, _VERSIONS.c.is_current, _VERSIONS.c.is_delete_marker
).where(_VERSIONS.c.object_id == bindparam("o_id"), _VERSIONS.c.null_version)
_DELETE_VERSION = delete(_VERSIONS).where(_VERSIONS.c.id == bindparam("v_id"))
_UNSET_CURRENT = (
    update(_VERSIONS)
    .where(_VERSIONS.c.object_id == bindparam("o_id"), _VERSIONS.c.is_current)
    .values(is_current=False)
    .returning(_VERSIONS.c.is_delete_marker)
)
_INSERT_VERSION = insert(_VERSIONS)
_INSERT_AUDIT = insert(_AUDIT)


def insert_manifest(connection: Connection, size: int, now: datetime) -> int:
    """Insert a manifest row of ``size`` plain bytes, without entries; return its id."""
    return int(connection.execute(_INSERT_MANIFEST, {"m_size": size, "m_at": now}).scalar_one())


def new_manifest(
    connection: Connection, entries: Sequence[ManifestEntry], now: datetime
) -> ManifestRef:
    """Write a manifest of ``entries`` and add one reference per entry to its chunks.

    Raises ChunksCollectedError, having written nothing the caller must keep, when a
    chunk row the entries name no longer exists (garbage collection took it between the
    writer's store or touch and this commit): the caller's transaction must roll back.

    The reference counts are raised first, one ``UPDATE`` per chunk, and their row counts
    must add up to the number of distinct chunks. On PostgreSQL each ``UPDATE`` locks its
    row until the commit, so GC's conditional ``DELETE`` (``refcount = 0``) either ran to
    its commit before (the row is missing here) or waits and then finds the row
    referenced; SQLite runs one write transaction at a time. Only then are the entries
    inserted, so their foreign key never meets a vanished chunk.
    """
    size = sum(e.length for e in entries)
    if entries:
        # Sorted, so that concurrent writers on PostgreSQL lock chunk rows in one order.
        counts = sorted(Counter(e.chunk_id for e in entries).items())
        updated = connection.execute(
            _ADD_REFERENCES, [{"c_id": c, "c_count": n} for c, n in counts]
        ).rowcount
        if updated != len(counts):
            raise ChunksCollectedError(len(counts) - updated)
    manifest_id = insert_manifest(connection, size, now)
    if entries:
        connection.execute(
            _INSERT_ENTRIES,
            [
                {
                    "manifest_id": manifest_id,
                    "seq": seq,
                    "offset": e.offset,
                    "length": e.length,
                    "chunk_id": e.chunk_id,
                }
                for seq, e in enumerate(entries)
            ],
        )
    return ManifestRef(manifest_id, size)


def add_references(connection: Connection, manifest_ids: Sequence[int]) -> None:
    """Add one reference per entry of the manifests to each chunk the entries name."""
    connection.execute(_ADD_ALL_REFERENCES, {"m_ids": list(manifest_ids)})


def drop_manifests(connection: Connection, manifest_ids: Sequence[int], now: datetime) -> None:
    """Delete manifests and their entries, releasing one reference per entry."""
    if manifest_ids:
        ids = {"m_ids": list(manifest_ids)}
        connection.execute(_LOCK_MANIFESTS, ids)
        connection.execute(_RELEASE_REFERENCES, {**ids, "c_at": now})
        connection.execute(_DELETE_ENTRIES, ids)
        connection.execute(_DELETE_MANIFESTS, ids)


def share_manifests(connection: Connection, manifest_ids: Sequence[int]) -> bool:
    """Lock manifests against being dropped until the transaction ends; False when any
    of them is gone (dropped by a transaction that committed first)."""
    wanted = set(manifest_ids)
    found = connection.execute(_SHARE_MANIFESTS, {"m_ids": list(wanted)}).scalars().all()
    return len(found) == len(wanted)


class LockedObject(NamedTuple):
    """An object row locked by this transaction; ``created`` when it made the row (so the
    key has no version yet)."""

    id: int
    created: bool


def lock_object(connection: Connection, bucket_id: int, key: str) -> LockedObject:
    """The object row of ``key``, created if needed and locked until the transaction
    ends (SQLite's write transaction holds the whole database)."""
    names = {"o_bucket": bucket_id, "o_key": key}
    created = connection.execute(_INSERT_OBJECT[connection.dialect.name], names).scalar()
    if created is not None:
        return LockedObject(int(created), True)
    return LockedObject(int(connection.execute(_LOCK_OBJECT, names).scalar_one()), False)


def bucket_versioning(connection: Connection, bucket_id: int) -> str:
    """The bucket's versioning status as of this transaction ("" when never enabled)."""
    return connection.execute(_BUCKET_VERSIONING, {"b_id": bucket_id}).scalar() or ""


def retire_current(connection: Connection, object_id: int, status: str, now: datetime) -> bool:
    """Make room for a new current version of the object under versioning ``status``;
    return whether it had a current version that was not a delete marker.

    Unless versioning is enabled the object's null version goes for good, releasing its
    chunks; any other current version stays, no longer current.
    """
    replaced = False
    if status != VERSIONING_ENABLED:
        null = connection.execute(_NULL_VERSION, {"o_id": object_id}).first()
        if null is not None:
            replaced = null.is_current and not null.is_delete_marker
            connection.execute(_DELETE_VERSION, {"v_id": null.id})
            drop_manifests(connection, [null.manifest_id], now)
    unset = connection.execute(_UNSET_CURRENT, {"o_id": object_id}).scalars().all()
    return replaced or any(not marker for marker in unset)


def insert_version(connection: Connection, values: Mapping[str, Any]) -> None:
    """Insert a ``versions`` row of ``values`` (column name to value)."""
    connection.execute(_INSERT_VERSION, dict(values))


def record_audit(
    connection: Connection,
    actor: Actor,
    action: str,
    bucket: str | None,
    key: str | None = None,
    detail: str | None = None,
    *,
    now: datetime,
) -> None:
    """Append an audit row for ``action`` by ``actor``."""
    connection.execute(
        _INSERT_AUDIT,
        {
            "at": now,
            "user_id": actor.user_id,
            "access_key_id": actor.access_key_id,
            "protocol": actor.protocol,
            "action": action,
            "bucket": bucket,
            "key": key,
            "detail": detail,
            "request_id": actor.request_id,
            "remote_addr": actor.remote_addr,
        },
    )
