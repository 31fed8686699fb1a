"""Ports: the interfaces the core needs from the outside world.

The core depends only on these Protocols; implementations live in ``adapters/``
and are chosen by configuration. Each method's docstring states the contract an
implementation owes (MUST / SHOULD / MAY in the RFC 2119 sense).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gateway.records import (
    AccessKey,
    Actor,
    ApiToken,
    BackendPart,
    Bucket,
    BucketGrant,
    ChangePage,
    Checksum,
    Chunk,
    ChunkLocation,
    FilePart,
    FolderListing,
    Job,
    JobStats,
    ManifestEntry,
    NativeFile,
    NewChunk,
    ObjectAttributes,
    ObjectPart,
    Part,
    SigningKey,
    StorageStats,
    StoredObject,
    Upload,
    UploadCursor,
    User,
    Verdict,
    WriteCondition,
)

Bytes = bytes | bytearray | memoryview
"""Any contiguous buffer of bytes."""

Allocate = Callable[[int], memoryview]
"""Gives a writable buffer of exactly the size asked for (see ``BlobStore.get_into``)."""


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
    Chunks are small enough (a few MiB) to be handled as ``bytes``; the raw parts of
    native-API uploads, which may be large, move through ``put_stream`` and
    ``read_stream`` with bounded memory.
    """

    def put(self, key: str, *parts: Bytes) -> None:
        """Store the concatenation of ``parts`` under ``key``.

        The parts (a header and a payload, say) are given apart so that they need
        not be copied into one buffer first; they MUST NOT be read after ``put``
        returns. MUST be atomic: a concurrent or later ``get`` sees either nothing
        or all of the parts, never a prefix. MAY return before the data is durable; it
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

    def get_into(self, key: str, allocate: Allocate) -> memoryview:
        """Read the bytes stored under ``key`` into ``allocate(size)`` and return that view.

        The read path passes buffers it reuses, which spares it fresh memory per object.
        MUST call ``allocate`` with the object's size (again for each retried read) and
        return the view it gave last, filled with the whole object. Errors as for ``get``.
        """
        ...

    def put_stream(self, key: str, stream: Iterable[Bytes]) -> None:
        """Store the concatenation of the pieces of ``stream`` under ``key``.

        ``stream`` is iterated once, to its end, and its pieces MUST NOT be kept after
        the next is asked for, so memory does not grow with the object's size. MUST be
        atomic as ``put`` is: an exception raised by ``stream`` propagates unchanged and
        leaves ``key`` as it was (absent, or its previous object). Durability as ``put``.
        """
        ...

    def read_stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes ``[start, end)`` of the object under ``key`` (to its end when
        ``end`` is None) in pieces of bounded size.

        MUST raise ``BlobNotFound`` before yielding anything when the key does not exist,
        and ``BlobStoreUnavailable`` for failures retries did not cure; ``start`` and
        ``end`` past the object's size are clipped to it.
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

    def ping(self) -> None:
        """Raise ``BlobStoreUnavailable`` unless the store answers a cheap request now.

        The health check's probe of the backend. MUST reach the real store (the
        directory, the S3 bucket) rather than report a remembered state, and MUST fail
        when the store is gone or refuses access (a missing root or bucket, denied
        credentials). MUST NOT create, change or delete any object. SHOULD NOT retry and
        SHOULD answer within a few seconds, so a health check learns of a failure
        quickly; the caller bounds the time it waits in any case. The exception's message
        MAY carry addresses and error text: callers show operators its type only.
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


class ScannerUnavailable(Exception):
    """The malware scanner did not answer (not running, unreachable, timed out, garbled)."""


@runtime_checkable
class Scanner(Protocol):
    """A malware scanner that judges whole objects, one stream of bytes at a time.

    Scanning is a verdict, never an exception: whatever goes wrong on the scanner's side
    comes back as ``Verdict.error`` (or ``Verdict.unscannable``), so a caller cannot take
    a failure for a clean object by forgetting an ``except``. Implementations MUST be
    safe to use from several threads at once.
    """

    @property
    def max_bytes(self) -> int | None:
        """The largest object this scanner scans whole, in bytes; None when unlimited.

        Callers SHOULD NOT offer a larger object to ``scan`` (the core's ``scan_object``
        does not): its verdict would be ``unscannable`` after bytes were sent for nothing.
        """
        ...

    def scan(self, stream: Iterable[Bytes]) -> Verdict:
        """Scan the object whose bytes are the concatenation of the pieces of ``stream``.

        ``stream`` yields the plain (decompressed, decrypted) object in pieces of any
        size, empty ones included; it MUST be iterated at most once and its pieces MUST
        NOT be kept after the next one is asked for, so memory does not grow with the
        object's size. An exception raised by ``stream`` MUST propagate unchanged, and
        the scanner MUST NOT then judge the part it received.

        MUST return ``clean`` only when every byte was scanned and nothing matched, and
        ``infected`` with the signature's name when something did. MUST return
        ``unscannable`` when the object is larger than ``max_bytes`` (reading no more of
        ``stream`` than ``max_bytes`` and the piece that crossed it) or the scanner
        stopped at a limit of its own, and ``error`` when the scanner could not answer:
        unreachable, timed out, refused the stream, or failed. MUST NOT raise for any of
        these.
        """
        ...

    def ping(self) -> None:
        """Return when the scanner answers; raise ``ScannerUnavailable`` otherwise.

        For health checks: SHOULD be quick (a round trip, no scan).
        """
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

    def get_bucket(self, name: str, for_user: int | None = None) -> Bucket | None:
        """The bucket called ``name``, or None. With ``for_user`` the record's ``granted``
        MUST be that user's grant on the bucket (None without one), read in the same
        statement as the bucket: every request of every front end asks."""
        ...

    def grant_bucket(self, bucket: Bucket, user_id: int, permission: str, actor: Actor) -> None:
        """Give ``user_id`` ``permission`` ("read" or "write") on ``bucket``, replacing any
        grant they had, audited; ConflictError when ``user_id`` owns the bucket."""
        ...

    def revoke_bucket(self, bucket: Bucket, user_id: int, actor: Actor) -> bool:
        """Take back ``user_id``'s grant on ``bucket`` (audited); whether there was one."""
        ...

    def bucket_grants(self, bucket: Bucket) -> list[BucketGrant]:
        """The grants on ``bucket``, by user name."""
        ...

    def granted_buckets(self, user_id: int) -> list[Bucket]:
        """The buckets granted to ``user_id``, by name, each with ``granted`` set."""
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

    def set_bucket_cors(self, bucket: Bucket, cors: str | None, actor: Actor) -> Bucket:
        """Store the bucket's CORS document (opaque text; None removes it); the new record."""
        ...

    def set_version_acl(
        self, bucket: Bucket, obj: StoredObject, canned_acl: str, actor: Actor
    ) -> bool:
        """Set the canned ACL of exactly the version ``obj``; False when it no longer exists."""
        ...

    def set_object_tags(
        self, bucket: Bucket, obj: StoredObject, tags: dict[str, str], actor: Actor
    ) -> bool:
        """Replace the tag set of exactly the version ``obj`` ({} removes every tag).

        MUST leave bytes, ETag and version id alone; False when the version is gone.
        """
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

    def known_chunks(self, content_ids: Sequence[str]) -> set[str]:
        """Which of these content ids have a chunk now (a read: the answer may be stale by
        the time it is used, so a caller goes on to ``touch_chunks`` the ones it reuses)."""
        ...

    def touch_chunks(self, content_ids: Sequence[str]) -> dict[str, Chunk]:
        """Mark the chunks of these content ids as in use now (so GC spares them).

        Returns them by content id; an id without a chunk is absent from the result. One
        transaction: every chunk returned was touched, none collected before the touch.
        """
        ...

    def add_chunks(self, chunks: Sequence[NewChunk]) -> dict[str, Chunk]:
        """Record stored chunks (distinct content ids) with refcount 0, in one transaction.

        Returns the chunk of every content id given. Where another writer recorded the
        same content first, its chunk is returned, touched: its backend key differs from
        the one given, whose blob is then unreferenced and the caller should delete it.
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

    def manifest_problems(self) -> list[str]:
        """One line per broken reference above the chunks, empty when there is none.

        MUST report: a version or part whose manifest row is missing, a manifest entry
        naming a chunk row that is missing, and a manifest whose entries do not tile it
        (their lengths do not add up to its size, or an entry does not start where the
        one before it ended). The schema's foreign keys SHOULD make the first two
        impossible; this check does not rely on them.
        """
        ...

    def stats(self) -> StorageStats:
        """Totals of objects and chunks."""
        ...

    def chunk_locations(self, manifest_id: int, start: int, end: int) -> list[ChunkLocation]:
        """Entries of a manifest overlapping plain bytes ``[start, end)``, in order."""
        ...

    def get_object(self, bucket_id: int, key: str) -> StoredObject | None:
        """The current version of ``key``, or None (also when that is a delete marker)."""
        ...

    def commit_object(
        self,
        bucket: Bucket,
        key: str,
        entries: Sequence[ManifestEntry],
        etag: str,
        attributes: ObjectAttributes,
        actor: Actor,
        *,
        checksum: Checksum | None = None,
        condition: WriteCondition | None = None,
        version_id: str | None = None,
    ) -> StoredObject:
        """Make ``entries`` the current version of ``key``, replacing any previous one.

        ``version_id``, when given, MUST become the new version's id, and the native-API
        file of that id MUST be marked ingested (``ready``) in the same transaction; a
        version of that id existing already raises ConflictError and commits nothing.
        ``checksum`` is stored with the version. ``condition`` MUST be checked against the
        current version in the committing transaction, after the key is locked, and fail
        the commit (PreconditionFailedError, or ObjectNotFoundError when an ETag is
        required of a missing key) so that concurrent conditional writers cannot both win.
        """
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

        The copy keeps ``source``'s checksum and parts. Raises NotFoundError when the
        source version was replaced or deleted meanwhile.
        """
        ...

    def delete_object(self, bucket: Bucket, key: str, actor: Actor) -> StoredObject | None:
        """Delete ``key`` as S3 does when no version is named.

        In a bucket that never had versioning the current version MUST go for good (and
        is returned; None when there was none). Otherwise a new delete marker MUST become
        the current version and is returned; with versioning suspended it replaces the
        key's null version, whose chunks are released.
        """
        ...

    def set_bucket_versioning(self, bucket: Bucket, status: str, actor: Actor) -> Bucket:
        """Set the bucket's versioning status ("Enabled" or "Suspended"); the new record.

        While enabled every write adds a version; otherwise a write replaces the key's
        null version only.
        """
        ...

    def get_version(self, bucket: Bucket, key: str, version_id: str | None) -> StoredObject | None:
        """The version of ``key`` a client names ("null" included), or the current version
        (delete markers included) when ``version_id`` is None; None when there is none."""
        ...

    def set_bucket_scan_policy(self, bucket: Bucket, policy: str, actor: Actor) -> Bucket:
        """Set the bucket's malware scan policy ("async" or "strict"); the new record."""
        ...

    def scan_target(self, version_id: str) -> tuple[str, StoredObject] | None:
        """The bucket name and the version with internal id ``version_id``; None once it
        is gone. MUST find non-current versions too."""
        ...

    def record_verdict(
        self,
        version_id: str,
        status: str,
        signature: str | None,
        *,
        quarantined: bool,
        actor: Actor,
    ) -> bool:
        """Record a scan verdict on a version still ``pending``, atomically; False when it
        is gone or was judged already (the scan job MAY run more than once). A quarantine
        MUST add a change-feed row (event ``quarantined``) and an audit row with it."""
        ...

    def quarantined_versions(self, limit: int = 1000) -> list[tuple[str, StoredObject]]:
        """Quarantined versions with their bucket names, by bucket, key and version."""
        ...

    def delete_version(
        self, bucket: Bucket, key: str, version_id: str, actor: Actor
    ) -> StoredObject | None:
        """Remove one version or delete marker for good, releasing its chunks.

        When it was current the newest remaining version MUST become current; when none
        remains the key is gone. Returns what was removed, None when it did not exist.
        """
        ...

    def list_versions(
        self,
        bucket: Bucket,
        prefix: str,
        key_marker: str | None,
        version_marker: str | None,
        limit: int,
        *,
        inclusive: bool = False,
    ) -> list[StoredObject]:
        """Up to ``limit`` versions and delete markers under ``prefix``, by key (UTF-8 byte
        order) then newest first, after ``key_marker`` (at it too when ``inclusive``) or,
        with ``version_marker``, after that version of ``key_marker``.

        MUST raise NotFoundError when ``version_marker`` names no version of the key.
        """
        ...

    def list_objects(
        self, bucket_id: int, prefix: str, after: str | None, limit: int, *, inclusive: bool = False
    ) -> list[StoredObject]:
        """Up to ``limit`` current objects whose key starts with ``prefix`` and sorts
        after ``after`` (or at it, when ``inclusive``), in UTF-8 byte order of keys."""
        ...

    def create_upload(
        self,
        bucket: Bucket,
        key: str,
        owner_id: int,
        attributes: ObjectAttributes,
        actor: Actor,
        *,
        checksum_algorithm: str | None = None,
        checksum_type: str | None = None,
    ) -> Upload:
        """Start a multipart upload of ``key``, remembering the checksum its parts owe."""
        ...

    def get_upload(self, upload_id: str) -> Upload | None:
        """The upload with this id, or None when unknown, completed or aborted."""
        ...

    def list_uploads(
        self,
        bucket_id: int,
        prefix: str = "",
        *,
        after: UploadCursor | None = None,
        limit: int | None = None,
    ) -> list[Upload]:
        """Up to ``limit`` (None: all) uploads in progress in a bucket whose key starts
        with ``prefix``, after ``after``, by key (UTF-8 byte order), then start time,
        then upload id."""
        ...

    def expired_uploads(self, older_than: datetime, limit: int) -> list[Upload]:
        """Up to ``limit`` uploads in progress started before ``older_than``, oldest first."""
        ...

    def expire_upload(self, upload_id: str, older_than: datetime, actor: Actor) -> bool:
        """Abort the upload (releasing its parts' chunk references) if it still exists and
        started before ``older_than``; whether it did."""
        ...

    def put_part(
        self,
        upload_id: str,
        part_number: int,
        entries: Sequence[ManifestEntry],
        etag: str,
        *,
        checksum: Checksum | None = None,
        source_manifest_id: int | None = None,
    ) -> Part:
        """Store a part (and the checksum it was sent with), replacing an earlier one with
        the same number.

        Raises NotFoundError when the upload was completed or aborted meanwhile, or when
        ``source_manifest_id`` (the manifest of a copied part's source, whose chunks
        ``entries`` share) no longer exists: its chunks may be unreferenced.
        """
        ...

    def list_parts(self, upload_id: str, *, after: int = 0, limit: int | None = None) -> list[Part]:
        """Up to ``limit`` (None: all) parts uploaded so far numbered above ``after``, by
        part number."""
        ...

    def manifest_entries(self, manifest_id: int, start: int, end: int) -> list[ManifestEntry]:
        """The entries of a manifest overlapping plain bytes ``[start, end)``, in order."""
        ...

    def complete_upload(
        self,
        upload: Upload,
        bucket: Bucket,
        part_numbers: Sequence[int],
        etag: str,
        actor: Actor,
        *,
        checksum: Checksum | None = None,
        parts: Sequence[ObjectPart] = (),
        condition: WriteCondition | None = None,
    ) -> StoredObject:
        """Concatenate the named parts' manifests into the new current version of the key.

        The caller has validated the part list. Parts not named are discarded. Raises
        NotFoundError when the upload was completed or aborted meanwhile. ``checksum``
        and ``parts`` are stored with the version; ``condition`` as in ``commit_object``.
        """
        ...

    def abort_upload(self, upload: Upload, bucket: Bucket, actor: Actor) -> bool:
        """Discard an upload and its parts; False when it no longer exists."""
        ...

    def changes(
        self,
        after_id: int,
        limit: int,
        *,
        reader_id: int | None = None,
        bucket: Bucket | None = None,
    ) -> ChangePage:
        """Up to ``limit`` change-feed rows after ``after_id``, in id order.

        With ``reader_id`` only rows of buckets that user owns or holds a grant on now;
        with ``bucket`` only that bucket's rows (a row without ``bucket_id`` belongs to the
        bucket of its name). Implementations MUST never let a reader that resumes from
        ``last_id`` miss a row: every id at or below ``last_id`` is committed (or rolled
        back for good) when the page is returned, however writers' commits interleave.
        """
        ...

    def last_change_id(self) -> int:
        """The highest change-feed id committed (0 for an empty feed): one indexed read."""
        ...

    def add_change_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (quick, never raising) after each commit of this process
        that added change-feed rows."""
        ...

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit rows, newest first."""
        ...

    def record_audit(self, actor: Actor, action: str, detail: str | None = None) -> None:
        """Record an administrative action that changes no namespace row."""
        ...


@runtime_checkable
class ApiCredentialStore(Protocol):
    """Persistence of the native API's credentials: the signing keys of access tokens and
    pre-signed URLs, and refresh tokens (stored only as hashes).

    Every gateway process reads the same keys, so a token or URL signed by one process
    verifies in all of them.
    """

    def signing_keys(self) -> list[SigningKey]:
        """Every stored key, newest first (retired ones included: they still verify)."""
        ...

    def add_signing_key(self, key: SigningKey) -> None:
        """Store a new key; from now on it is the newest one."""
        ...

    def retire_signing_key(self, kid: str, at: datetime) -> bool:
        """Stop signing with ``kid`` (it still verifies); False when there is no such key."""
        ...

    def remove_signing_key(self, kid: str) -> bool:
        """Delete ``kid``: what it signed no longer verifies. False when there is none."""
        ...

    def create_refresh_token(
        self, user_id: int, token_hash: str, family: str, expires_at: datetime
    ) -> None:
        """Store a new refresh token of ``family`` for ``user_id``."""
        ...

    def rotate_refresh_token(
        self, token_hash: str, new_hash: str, new_expires_at: datetime, now: datetime
    ) -> User | None:
        """Replace the live token ``token_hash`` by ``new_hash`` in one transaction and
        return its user.

        None when the token is unknown, expired or revoked. A token that was already
        replaced is being replayed: its whole family MUST be revoked, and None returned.
        """
        ...

    def revoke_refresh_token(self, token_hash: str, now: datetime) -> bool:
        """Revoke the token's whole family; False when the token is unknown."""
        ...


class JobQueue(Protocol):
    """The durable pipeline queue: jobs claimed under a lease, run at least once.

    A job is a ``kind`` (naming the handler that runs it) and a JSON ``payload``. It is
    queued, claimed by one worker at a time (``running``, under a lease that worker renews
    while it works), and ends ``done`` or, after ``max_attempts`` claims, ``failed``
    (parked until an operator retries it). A job whose lease expires (its worker died or
    hung) is claimable again: handlers MUST be idempotent, since a job may run more than
    once. Worker ids are opaque strings unique per worker thread.
    """

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
        delay_seconds: float = 0.0,
    ) -> int:
        """Queue a job in a transaction of its own; return its id.

        It becomes claimable after ``delay_seconds``. With a ``dedupe_key`` that an
        unfinished (queued or running) job already has, MUST NOT add a second job and
        returns the existing one's id. ``payload`` MUST be JSON-serialisable and SHOULD
        hold identifiers, never secrets (the queue is listed by operators).
        """
        ...

    def enqueue_many(self, kind: str, payloads: Sequence[dict[str, Any]]) -> list[int]:
        """Queue one job per payload, all in one transaction; return their ids in order."""
        ...

    def claim(
        self, worker_id: str, kinds: Sequence[str], limit: int, lease_seconds: float
    ) -> list[Job]:
        """Lease up to ``limit`` due queued jobs of ``kinds`` to ``worker_id``; return them.

        Due jobs are handed out oldest ``run_after`` first. Claiming MUST be exclusive
        across processes: no job is returned to two claimers unless its lease expired in
        between. Each claimed job is ``running``, with ``attempts`` one higher and its
        lease ending ``lease_seconds`` from now. Before claiming, running jobs whose lease
        has expired MUST be returned to the queue (counting their attempt), or parked as
        failed when that was their last attempt.
        """
        ...

    def complete(self, job_id: int, worker_id: str) -> bool:
        """Mark the job done if ``worker_id`` still holds it; False when it does not.

        A worker that lost its lease (it expired and the job was re-queued or claimed
        again) cannot complete the job: the job runs again elsewhere.
        """
        ...

    def fail(self, job_id: int, worker_id: str, error: str) -> str | None:
        """Record a failed attempt by ``worker_id``; return the job's new state.

        With attempts left the job is queued again after an exponential back-off with
        jitter (``"queued"``); otherwise it is parked (``"failed"``). Either way ``error``
        is kept as ``last_error``, so it MUST NOT hold secrets. None when ``worker_id``
        no longer holds the job (nothing changes).
        """
        ...

    def renew(self, job_id: int, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease to ``lease_seconds`` from now; False when no longer held."""
        ...

    def retry(self, job_id: int) -> bool:
        """Queue a parked (failed) job again, due now, with a fresh attempt budget.

        False when there is no failed job ``job_id``. Raises ConflictError when an
        unfinished job has the same dedupe key (that job does the work already).
        """
        ...

    def get(self, job_id: int) -> Job | None:
        """The job ``job_id`` as it stands now, or None when there is none."""
        ...

    def stats(self) -> JobStats:
        """Job counts per kind and state, the oldest queued job's age, the parked count."""
        ...

    def list_jobs(self, state: str | None = None, limit: int = 100) -> list[Job]:
        """The newest ``limit`` jobs (highest id first), of ``state`` only when given."""
        ...

    def prune(self, older_than_seconds: float) -> int:
        """Delete done jobs finished more than ``older_than_seconds`` ago; return how many.

        Failed jobs are kept until retried; they are the record of what went wrong.
        """
        ...

    def wait_for_jobs(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds, returning early once a job was enqueued.

        Only enqueues committed in this process are noticed (MAY return early for other
        reasons); workers call it when a claim found nothing, and poll again afterwards.
        """
        ...

    def wake(self) -> None:
        """Make every ``wait_for_jobs`` in progress in this process return now."""
        ...


class PipelineMetrics(Protocol):
    """Where pipeline stages report what they did, for the gateway's metrics.

    ``gateway.metrics.Metrics`` implements it; ``NoPipelineMetrics`` discards every
    report. Label values (verdicts, job kinds, outcomes) MUST come from small fixed sets
    named in code (``"clean"``, ``"infected"``, ``"scan"``, ``"succeeded"``, ...), never
    from data such as keys, file names or virus signature names: every distinct value
    is a time series kept for the life of the process. Calls MUST be cheap and MUST
    NOT raise.
    """

    def scan_verdict(self, verdict: str) -> None:
        """Count one whole-file scan that ended with ``verdict``.

        Verdicts: ``clean``, ``infected``, ``error`` (the scanner could not decide).
        """
        ...

    def job_finished(
        self, kind: str, outcome: str, run_seconds: float, wait_seconds: float | None = None
    ) -> None:
        """Count one attempt of a job of ``kind`` that ended with ``outcome``.

        Outcomes: ``succeeded``, ``retried`` (failed, will run again), ``failed`` (gave
        up). ``run_seconds`` is the handler's time; ``wait_seconds``, when known, the
        time from the job becoming due to its claim by a worker.
        """
        ...


class NoPipelineMetrics:
    """A ``PipelineMetrics`` that records nothing (for tools and tests without metrics)."""

    def scan_verdict(self, verdict: str) -> None:
        """Discard the report."""

    def job_finished(
        self, kind: str, outcome: str, run_seconds: float, wait_seconds: float | None = None
    ) -> None:
        """Discard the report."""


class FileStore(Protocol):
    """Durable state of native-API uploads: the ``files`` and ``file_parts`` rows.

    Every method is one atomic transaction.
    """

    def create_files(self, files: Sequence[NativeFile]) -> None:
        """Record freshly announced files (status ``uploading``), all or none."""
        ...

    def get_file(self, file_id: str) -> NativeFile | None:
        """The file ``file_id``, or None."""
        ...

    def get_files(self, file_ids: Sequence[str]) -> dict[str, NativeFile]:
        """The files among ``file_ids`` that exist, by id."""
        ...

    def record_part(self, file_id: str, number: int, size: int, sha256: str) -> bool:
        """Record (or replace) part ``number`` of a file still ``uploading``; False (and
        nothing recorded) once the file is finalized or gone."""
        ...

    def set_backend_upload(self, file_id: str, upload_id: str) -> bool:
        """Give a file still ``uploading`` a new backend multipart upload (its parts start
        over); False once it is finalized or gone."""
        ...

    def file_parts(self, file_id: str) -> list[FilePart]:
        """The parts received so far, by number."""
        ...

    def finalize_file(self, file_id: str, sha256: str, job_kind: str) -> NativeFile | None:
        """Move an ``uploading`` file to ``processing`` with its verified ``sha256`` and
        queue a ``job_kind`` job (payload ``{"file_id"}``, deduplicated per file) in the
        same transaction. A file already past ``uploading`` is returned unchanged, with
        no second job; None when the file is gone."""
        ...

    def fail_file(self, file_id: str, error: str) -> None:
        """Mark a file ``failed`` with ``error`` (unless it is ``ready`` already)."""
        ...

    def bytes_pending(self, owner_id: int) -> int:
        """The announced size of ``owner_id``'s files not yet ingested (uploading or
        processing): space the quota holds for them."""
        ...

    def expired_files(self, now: datetime, limit: int) -> list[NativeFile]:
        """Up to ``limit`` files still ``uploading`` whose ``expires_at`` is before ``now``."""
        ...

    def delete_file(self, file_id: str, *, only_uploading_before: datetime | None = None) -> bool:
        """Delete the file's rows (its parts too); with ``only_uploading_before`` only a
        file still ``uploading`` that expired before it. True when a row went."""
        ...


@runtime_checkable
class DirectUploads(Protocol):
    """Multipart uploads straight into the backend, by clients holding pre-signed URLs:
    what an S3 backend offers so that native-API uploads bypass the gateway.

    Keys are blob keys, as for ``BlobStore`` (the store's own prefix applies). Failures
    raise ``BlobStoreUnavailable``; an unknown upload raises ``BlobNotFound``.
    """

    def start_upload(self, key: str) -> str:
        """Start a multipart upload of ``key``; its upload id."""
        ...

    def part_url(self, key: str, upload_id: str, number: int, expires_in: int) -> str:
        """A URL a client may ``PUT`` part ``number`` to for ``expires_in`` seconds,
        reachable from outside (the configured public endpoint)."""
        ...

    def uploaded_parts(self, key: str, upload_id: str) -> list[BackendPart]:
        """The parts the backend holds for the upload, by number."""
        ...

    def complete_upload(self, key: str, upload_id: str, parts: Sequence[BackendPart]) -> None:
        """Join ``parts`` into the object ``key``; the upload ends."""
        ...

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Discard the upload and its parts; an upload already gone is not an error."""
        ...
