"""Content-addressed chunk storage: dedup, envelope encoding and backend I/O.

A chunk's content id is the BLAKE3 hex digest of its plain bytes. Its blob lives in
the backend under ``chunks/<content id>.<unix time hex>.<random>``: unique per
stored copy, so a copy that garbage collection is deleting is never confused with
a new copy of the same content, and the time lets GC recognise orphaned blobs
(stored, but whose row was never committed) once they are older than the grace period.

With a keyring (a master key is configured) every chunk a store bound to an owner
(``for_owner``) writes is sealed (``sealed_envelope``) and its content id is the keyed
BLAKE3 under that owner's content-id key, so dedup stays within one owner. Chunks
stored before the key was configured stay readable as they are.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import blake3

from gateway.core import envelope, sealed_envelope
from gateway.core.keyring import Keyring, OwnerKeys
from gateway.errors import ChunkIntegrityError, ChunksCollectedError
from gateway.ports import Allocate, BlobStore, Bytes, MetadataStore
from gateway.records import Chunk, NewChunk

CHUNK_PREFIX = "chunks/"
# Seconds within which a stored blob's row is recorded (or the blob given up): garbage
# collection never takes a blob younger than this for an orphan.
ORPHAN_MIN_AGE = 600


def content_id(plain: Bytes) -> str:
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
    """Stores and loads chunks; safe to use from many threads at once.

    With a ``keyring``, storing needs a store bound to the chunks' owner (``for_owner``):
    an unbound one refuses to store rather than write plaintext.
    """

    def __init__(
        self,
        blobs: BlobStore,
        metadata: MetadataStore,
        level: int = 3,
        keyring: Keyring | None = None,
        *,
        owner_id: int | None = None,
    ) -> None:
        self._blobs = blobs
        self._metadata = metadata
        self._level = level
        self._keyring = keyring
        self._owner_id = owner_id
        self._keys: OwnerKeys | None = (
            keyring.owner(owner_id) if keyring is not None and owner_id is not None else None
        )

    @property
    def encrypted(self) -> bool:
        """Whether chunks are sealed and their ids keyed per owner (a master key is set)."""
        return self._keyring is not None

    def for_owner(self, owner_id: int) -> ChunkStore:
        """This store, storing the chunks of the bucket owner ``owner_id``."""
        return ChunkStore(
            self._blobs, self._metadata, self._level, self._keyring, owner_id=owner_id
        )

    def _content_id(self, plain: Bytes) -> str:
        if self._keys is not None:
            return self._keys.content_id(plain)
        if self._keyring is not None:
            raise ValueError("an encrypting chunk store must be bound to an owner to store")
        return content_id(plain)

    def store_many(self, plains: Sequence[Bytes]) -> list[Chunk]:
        """Make sure each of ``plains`` is stored once; return their chunks, in order
        (refcounts not yet raised).

        The chunks are touched, so garbage collection spares them for its grace period;
        the caller must reference them (commit a manifest) within that period, and
        ``flush`` before committing. A chunk the commit finds collected all the same makes
        it fail with ChunksCollectedError. If recording the new chunks' rows would come
        later than ``ORPHAN_MIN_AGE`` after their blobs' key time (a stalled writer), their
        blobs are deleted and ChunksCollectedError raised instead: GC may already take them
        for orphans. However many chunks there are, one read looks them
        up, one write transaction touches those found and one records those that were new
        (content that is all new or all known takes one write transaction).
        """
        ids = [self._content_id(plain) for plain in plains]
        known = self._metadata.known_chunks(list(dict.fromkeys(ids)))
        found = self._metadata.touch_chunks(sorted(known)) if known else {}
        written: dict[str, NewChunk] = {}
        started = time.time()
        for cid, plain in zip(ids, plains, strict=True):
            if cid not in found and cid not in written:
                written[cid] = self._write(cid, plain)
        if written and time.time() - started >= ORPHAN_MIN_AGE // 2:
            for new in written.values():
                self._blobs.delete(new.backend_key)
            raise ChunksCollectedError(len(written))
        if written:
            recorded = self._metadata.add_chunks(list(written.values()))
            for cid, new in written.items():
                if recorded[cid].backend_key != new.backend_key:
                    # Another writer stored the same content first; ours is a spare copy.
                    self._blobs.delete(new.backend_key)
            found |= recorded
        return [found[cid] for cid in ids]

    def _write(self, cid: str, plain: Bytes) -> NewChunk:
        """Encode ``plain`` and put it under a fresh backend key."""
        header, payload = (
            sealed_envelope.seal(plain, self._keys, self._level)
            if self._keys is not None
            else envelope.encode(plain, self._level)
        )
        key = new_backend_key(cid)
        self._blobs.put(key, header, payload)
        return NewChunk(cid, len(plain), len(header) + len(payload), key)

    def flush(self) -> None:
        """Make every chunk stored so far durable in the backend."""
        self._blobs.flush()

    def load(
        self, cid: str, backend_key: str, allocate: Allocate = envelope.fresh_buffer
    ) -> memoryview:
        """Fetch, decode and verify one chunk; raise ChunkIntegrityError if damaged.

        The blob is read into ``allocate(its size)`` and, if compressed, decoded into
        ``allocate(plain size)``: the result is a view into the last buffer allocated.
        The BLAKE3 digest of the plain bytes must equal ``cid``. That catches any damage
        the envelope's CRC-32 would (a damaged payload fails in zstd or in the digest), so
        the CRC is not computed on this path. What goes unnoticed (a damaged CRC field, or
        framing zstd can do without) leaves the bytes returned exactly the stored ones.
        A sealed chunk is decrypted with the keys of the owner its header names, and its id
        is that owner's keyed BLAKE3 (see ``sealed_envelope.unseal`` for its failures).
        """
        blob = self._blobs.get_into(backend_key, allocate)
        if sealed_envelope.is_sealed(blob):
            plain, keys = sealed_envelope.unseal(
                blob, self._keyring, backend_key, allocate=allocate
            )
            expected = keys.content_id(plain)
        else:
            plain = envelope.decode(blob, backend_key, allocate=allocate, check_crc=False)
            expected = content_id(plain)
        if expected != cid:
            raise ChunkIntegrityError(backend_key, "content does not match its id")
        return plain
