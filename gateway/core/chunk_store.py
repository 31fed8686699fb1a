"""Content-addressed chunk storage: dedup, envelope encoding and backend I/O.

A chunk's content id is the BLAKE3 hex digest of its plain bytes. Its blob lives in
the backend under ``chunks/<content id>.<unix time hex>.<random>``: unique per
stored copy, so a copy that garbage collection is deleting is never confused with
a new copy of the same content, and the time lets GC recognise orphaned blobs
(stored, but whose row was never committed) once they are older than the grace period.
"""

from __future__ import annotations

import secrets
import time

import blake3

from gateway.core import envelope
from gateway.errors import ChunkIntegrityError
from gateway.ports import BlobStore, MetadataStore
from gateway.records import Chunk

CHUNK_PREFIX = "chunks/"


def content_id(plain: bytes) -> str:
    """The content id of ``plain``: its BLAKE3 digest in hex."""
    return blake3.blake3(plain).hexdigest()


def new_backend_key(cid: str, now: float | None = None) -> str:
    """A fresh backend key for a copy of chunk ``cid``."""
    stamp = int(time.time() if now is None else now)
    return f"{CHUNK_PREFIX}{cid}.{stamp:x}.{secrets.token_hex(4)}"


def backend_key_time(key: str) -> int | None:
    """The unix time embedded in a chunk backend key, or None if it is not one of ours."""
    name = key.removeprefix(CHUNK_PREFIX)
    parts = name.split(".")
    if not key.startswith(CHUNK_PREFIX) or len(parts) != 3:
        return None
    try:
        return int(parts[1], 16)
    except ValueError:
        return None


class ChunkStore:
    """Stores and loads chunks; safe to use from many threads at once."""

    def __init__(self, blobs: BlobStore, metadata: MetadataStore, level: int = 3) -> None:
        self._blobs = blobs
        self._metadata = metadata
        self._level = level

    def store(self, plain: bytes) -> Chunk:
        """Make sure ``plain`` is stored once and return its chunk (refcount not yet raised).

        The chunk is touched, so garbage collection spares it for its grace period; the
        caller must reference it (commit a manifest) within that period, and ``flush``
        before committing.
        """
        cid = content_id(plain)
        existing = self._metadata.touch_chunk(cid)
        if existing is not None:
            return existing
        blob = envelope.encode(plain, self._level)
        key = new_backend_key(cid)
        self._blobs.put(key, blob)
        chunk, created = self._metadata.add_chunk(cid, len(plain), len(blob), key)
        if not created:
            # Another writer stored the same content first; ours is a spare copy.
            self._blobs.delete(key)
        return chunk

    def flush(self) -> None:
        """Make every chunk stored so far durable in the backend."""
        self._blobs.flush()

    def load(self, cid: str, backend_key: str) -> bytes:
        """Fetch, decode and verify one chunk; raise ChunkIntegrityError if damaged."""
        plain = envelope.decode(self._blobs.get(backend_key), backend_key)
        if content_id(plain) != cid:
            raise ChunkIntegrityError(backend_key, "content does not match its id")
        return plain
