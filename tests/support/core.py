"""Pytest plugin: the storage core in-process on SQLite and a (fault-injecting) local store.

Fixtures:

``core`` (function)
    A ``CoreFixture`` with a ``Storage`` whose backend is a ``FaultyBlobStore`` over a
    ``LocalBlobStore`` (no faults until a test asks), a user and an actor, and a bucket.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.blob.faulty import FaultyBlobStore
from adapters.blob.local import LocalBlobStore
from adapters.sql.engine import make_engine, migrate
from adapters.sql.metadata import SqlMetadata
from gateway.core.identity import hash_password
from gateway.core.storage import Storage
from gateway.records import Actor, ObjectAttributes, StoredObject, User

SMALL_CHUNKS = 64 * 1024


@dataclass
class CoreFixture:
    """A storage core with one user and one bucket."""

    storage: Storage
    blobs: FaultyBlobStore
    metadata: SqlMetadata
    user: User
    actor: Actor
    bucket: str
    blob_root: Path

    def put(self, key: str, data: bytes) -> StoredObject:
        """Store ``data`` under ``key`` in the fixture's bucket."""
        return self.storage.put_object(
            self.user, self.bucket, key, io.BytesIO(data), ObjectAttributes(), self.actor
        )

    def read(self, obj: StoredObject, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``[start, end)`` of ``obj``."""
        views = self.storage.read_range(obj, start, obj.size if end is None else end)
        return b"".join(map(bytes, views))

    def backend_bytes(self) -> int:
        """Total size of the files in the local backend directory."""
        return sum(p.stat().st_size for p in self.blob_root.rglob("*") if p.is_file())


def build_core(
    root: Path, chunk_avg_size: int = SMALL_CHUNKS, *, database_url: str | None = None
) -> CoreFixture:
    """A fresh core under ``root`` with small chunks so tests exercise many of them; its
    metadata in ``database_url`` (an empty database) or else SQLite under ``root``."""
    url = database_url or f"sqlite:///{root / 'meta.db'}"
    migrate(url)
    metadata = SqlMetadata(make_engine(url))
    blobs = FaultyBlobStore(LocalBlobStore(root / "blobs"))
    storage = Storage(metadata, blobs, chunk_avg_size=chunk_avg_size)
    user = metadata.create_user("alice", hash_password("pw"))
    actor = Actor(user.id, protocol="test")
    storage.create_bucket(user, "bucket", actor)
    return CoreFixture(storage, blobs, metadata, user, actor, "bucket", root / "blobs")


@pytest.fixture
def core(tmp_path: Path) -> Iterator[CoreFixture]:
    """A fresh core per test."""
    fixture = build_core(tmp_path)
    yield fixture
    fixture.storage.close()
