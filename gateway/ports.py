"""Ports: the interfaces the core needs from the outside world.

The core depends only on these Protocols; implementations live in ``adapters/``
and are chosen by configuration. Each method's docstring states the contract an
implementation owes (MUST / SHOULD / MAY in the RFC 2119 sense).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gateway.records import (
    AccessKey,
    Actor,
    ApiToken,
    Bucket,
    Chunk,
    ChunkLocation,
    FolderListing,
    ManifestEntry,
    ObjectAttributes,
    Part,
    StorageStats,
    StoredObject,
    Upload,
    User,
)


class BlobStoreError(Exception):
    """Base class of every error a blob store raises."""


class BlobNotFound(BlobStoreError):
    """The key does not exist in the store."""

    def __init__(self, key: str) -> None:
        super().__init__(f"blob not found: {key}")
        self.key = key


class BlobStoreUnavailable(BlobStoreError):
    """The store failed in a way that retries did not cure (network, throttling, 5xx, disk)."""


@runtime_checkable
class BlobStore(Protocol):
    """A flat namespace of immutable byte objects addressed by string keys.

    Backends only move bytes: compression, integrity envelopes and naming are
    the core's business. Keys are ASCII strings made of ``[A-Za-z0-9/._-]``;
    ``/`` separates path segments and a key never starts or ends with ``/``.
    Objects are small enough (a few MiB) to be handled as ``bytes``.
    """

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``.

        MUST be atomic: a concurrent or later ``get`` sees either nothing or all
        of ``data``, never a prefix. MAY return before the data is durable; it
        MUST be durable once a later ``flush`` returns. MAY overwrite an existing
        object of the same key. Temporary failures MUST
        be retried internally; raise ``BlobStoreUnavailable`` once retries are
        exhausted.
        """
        ...

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``.

        MUST raise ``BlobNotFound`` when the key does not exist and
        ``BlobStoreUnavailable`` for failures retries did not cure.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``. Deleting a missing key MUST succeed silently."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` exists, without reading its bytes."""
        ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every key that starts with ``prefix``, in no particular order.

        MUST NOT yield keys of objects whose ``put`` has not completed.
        """
        ...

    def flush(self) -> None:
        """Make every ``put`` that returned before this call durable.

        Callers flush before committing metadata that names the blobs, so a crash
        never leaves a committed reference to bytes that were lost.
        """
        ...

    def close(self) -> None:
        """Release connections and file handles. The store is unusable afterwards."""
        ...


class MetadataStore(Protocol):
    """Durable metadata: users, keys, buckets, objects, manifests, chunks, uploads, feeds.

    Every method is one atomic transaction. Implementations MUST keep each chunk's
    ``refcount`` equal to the number of manifest entries naming it, MUST never expose a
    version before its manifest is complete, and MUST serialise writers of one key so
    the last commit wins cleanly. Errors are the domain errors of ``gateway.errors``.
    """

    def close(self) -> None:
        """Release pooled connections."""
        ...

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        ...

    def create_user(self, name: str, password_hash: str, *, is_admin: bool = False) -> User:
        """Create a user; raise ConflictError when the name is taken."""
        ...

    def update_user(
        self, name: str, *, password_hash: str | None = None, is_admin: bool | None = None
    ) -> User:
        """Change a user's password hash and/or admin flag; raise NotFoundError if unknown."""
        ...

    def get_user(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        ...

    def list_users(self) -> list[User]:
        """All users, by name."""
        ...

    def remove_user(self, name: str) -> None:
        """Remove a user and their keys.

        Raises NotFoundError, or ConflictError when the user still owns buckets.
        """
        ...

    def create_access_key(self, user_name: str, access_key_id: str, secret: str) -> AccessKey:
        """Give ``user_name`` a new key pair; raise NotFoundError or ConflictError (id taken)."""
        ...

    def set_access_key_secret(self, access_key_id: str, secret: str) -> None:
        """Replace the secret of a key and un-revoke it; raise NotFoundError if unknown."""
        ...

    def list_access_keys(self, user_name: str | None = None) -> list[AccessKey]:
        """Keys of one user (or of everyone), revoked ones included, without secrets."""
        ...

    def revoke_access_key(self, access_key_id: str) -> None:
        """Revoke a key for good; raise NotFoundError if it does not exist."""
        ...

    def lookup_access_key(self, access_key_id: str) -> tuple[AccessKey, User] | None:
        """The active (not revoked) key with this id and its user, secret included."""
        ...

    def create_api_token(
        self, user_name: str, name: str, token_hash: str, expires_at: datetime | None
    ) -> ApiToken:
        """Record a bearer token by its hash; raise NotFoundError when the user is unknown."""
        ...

    def list_api_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        """Tokens of one user (or of everyone), revoked and expired ones included."""
        ...

    def revoke_api_token(self, token_id: int) -> None:
        """Revoke a token for good; raise NotFoundError if it does not exist."""
        ...

    def lookup_api_token(self, token_hash: str) -> User | None:
        """The user of the valid (neither revoked nor expired) token with this hash."""
        ...

    def create_bucket(self, name: str, owner_id: int, actor: Actor) -> Bucket:
        """Create a bucket; raise BucketAlreadyExistsError (with the current owner) if taken."""
        ...

    def get_bucket(self, name: str) -> Bucket | None:
        """The bucket called ``name``, or None."""
        ...

    def list_buckets(self, owner_id: int | None = None) -> list[Bucket]:
        """Buckets of one owner (or all), by name."""
        ...

    def delete_bucket(self, bucket: Bucket, actor: Actor) -> None:
        """Delete an empty bucket, aborting its unfinished uploads; else BucketNotEmptyError."""
        ...

    def set_bucket_anonymous_read(self, bucket: Bucket, allowed: bool, actor: Actor) -> Bucket:
        """Let clients without credentials read the bucket, or stop them; the new record."""
        ...

    def update_user_metadata(
        self, bucket: Bucket, key: str, changes: dict[str, str], actor: Actor
    ) -> StoredObject | None:
        """Merge ``changes`` into the current version's user metadata (bytes and ETag stay)."""
        ...

    def bytes_used(self, owner_id: int) -> int:
        """The total size of the current versions in the buckets of ``owner_id``."""
        ...

    def list_children(self, bucket_id: int, prefix: str) -> FolderListing:
        """The files right under folder ``prefix`` ("" or ending in ``/``) and its sub-folders.

        MUST take one query whatever the number of children.
        """
        ...

    def delete_path(self, bucket: Bucket, path: str, actor: Actor) -> int:
        """Delete the file ``path``, or the folder ``path`` (ending in ``/``) and all in it.

        Dead properties go too. The folder that held ``path`` MUST stay visible (a marker
        object is added when nothing else lies under it). Returns the objects deleted.
        """
        ...

    def move_path(
        self,
        source: Bucket,
        path: str,
        target: Bucket,
        new_path: str,
        actor: Actor,
        *,
        replace: bool,
    ) -> int:
        """Rename a file or a whole folder in one transaction, moving no byte.

        What lies at the destination is removed first when ``replace``; otherwise
        DestinationExistsError. Raises ConflictError for a folder moved into itself.
        """
        ...

    def copy_path(
        self,
        source: Bucket,
        path: str,
        target: Bucket,
        new_path: str,
        actor: Actor,
        *,
        replace: bool,
        recursive: bool = True,
    ) -> int:
        """Copy a file or a folder (its contents too when ``recursive``) in one transaction,
        sharing the source's chunks. Destination rules are ``move_path``'s."""
        ...

    def touch_chunk(self, content_id: str) -> Chunk | None:
        """Mark a chunk as in use now (so GC spares it) and return it; None if absent."""
        ...

    def add_chunk(
        self, content_id: str, size: int, stored_size: int, backend_key: str
    ) -> tuple[Chunk, bool]:
        """Record a stored chunk with refcount 0.

        Returns ``(chunk, created)``. When another writer recorded the same content
        first, returns that chunk (touched) and ``created`` False; the caller's blob under
        ``backend_key`` is then unreferenced and the caller should delete it.
        """
        ...

    def collectable_chunks(self, older_than: datetime, limit: int) -> list[Chunk]:
        """Chunks with no references whose last touch is before ``older_than``."""
        ...

    def forget_chunk(self, chunk_id: int, older_than: datetime) -> bool:
        """Delete a chunk row if it is still unreferenced and untouched since ``older_than``.

        True means the row is gone and its blob may be deleted: no manifest names it, and
        a writer that wants the same content will store a new blob under a new key.
        """
        ...

    def iter_chunks(self, batch: int = 1000) -> Iterator[Chunk]:
        """Every chunk, in id order, read in batches of ``batch``."""
        ...

    def count_chunks(self) -> int:
        """Number of chunk rows."""
        ...

    def refcount_mismatches(self) -> list[tuple[str, int, int]]:
        """Chunks whose refcount differs from their manifest entries: (content id, stored, real)."""
        ...

    def stats(self) -> StorageStats:
        """Totals of objects and chunks."""
        ...

    def chunk_locations(self, manifest_id: int, start: int, end: int) -> list[ChunkLocation]:
        """Entries of a manifest overlapping plain bytes ``[start, end)``, in order."""
        ...

    def get_object(self, bucket_id: int, key: str) -> StoredObject | None:
        """The current version of ``key``, or None."""
        ...

    def commit_object(
        self,
        bucket: Bucket,
        key: str,
        entries: Sequence[ManifestEntry],
        etag: str,
        attributes: ObjectAttributes,
        actor: Actor,
    ) -> StoredObject:
        """Make ``entries`` the current version of ``key``, replacing any previous one."""
        ...

    def copy_object(
        self,
        source: StoredObject,
        bucket: Bucket,
        key: str,
        attributes: ObjectAttributes,
        actor: Actor,
    ) -> StoredObject:
        """Make a copy of ``source``'s current manifest the current version of ``key``.

        Raises NotFoundError when the source version was replaced or deleted meanwhile.
        """
        ...

    def delete_object(self, bucket: Bucket, key: str, actor: Actor) -> bool:
        """Delete the current version of ``key``; False when there was none."""
        ...

    def list_objects(
        self, bucket_id: int, prefix: str, after: str | None, limit: int, *, inclusive: bool = False
    ) -> list[StoredObject]:
        """Up to ``limit`` current objects whose key starts with ``prefix`` and sorts
        after ``after`` (or at it, when ``inclusive``), in UTF-8 byte order of keys."""
        ...

    def create_upload(
        self, bucket: Bucket, key: str, owner_id: int, attributes: ObjectAttributes, actor: Actor
    ) -> Upload:
        """Start a multipart upload of ``key``."""
        ...

    def get_upload(self, upload_id: str) -> Upload | None:
        """The upload with this id, or None when unknown, completed or aborted."""
        ...

    def list_uploads(self, bucket_id: int) -> list[Upload]:
        """Uploads in progress in a bucket, by key then start time."""
        ...

    def put_part(
        self, upload_id: str, part_number: int, entries: Sequence[ManifestEntry], etag: str
    ) -> Part:
        """Store a part, replacing an earlier one with the same number.

        Raises NotFoundError when the upload was completed or aborted meanwhile.
        """
        ...

    def list_parts(self, upload_id: str) -> list[Part]:
        """The parts uploaded so far, by part number."""
        ...

    def complete_upload(
        self,
        upload: Upload,
        bucket: Bucket,
        part_numbers: Sequence[int],
        etag: str,
        actor: Actor,
    ) -> StoredObject:
        """Concatenate the named parts' manifests into the new current version of the key.

        The caller has validated the part list. Parts not named are discarded. Raises
        NotFoundError when the upload was completed or aborted meanwhile.
        """
        ...

    def abort_upload(self, upload: Upload, bucket: Bucket, actor: Actor) -> bool:
        """Discard an upload and its parts; False when it no longer exists."""
        ...

    def changes(self, after_id: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Change-feed rows after ``after_id``, oldest first."""
        ...

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit rows, newest first."""
        ...

    def record_audit(self, actor: Actor, action: str, detail: str | None = None) -> None:
        """Record an administrative action that changes no namespace row."""
        ...
