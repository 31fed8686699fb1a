"""Plain data records exchanged between the core and its ports (metadata, scanner).

They are immutable snapshots: changing one never changes the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# An empty folder is stored as an empty object named ``folder/``, as S3 consoles do.
FOLDER_CONTENT_TYPE = "application/x-directory"
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
# S3 bucket versioning states; a bucket that never had versioning has status "".
VERSIONING_ENABLED = "Enabled"
VERSIONING_SUSPENDED = "Suspended"


@dataclass(frozen=True)
class User:
    """A person or service that owns buckets and access keys."""

    id: int
    name: str
    is_admin: bool
    created_at: datetime
    password_hash: str = field(default="", repr=False)


@dataclass(frozen=True)
class AccessKey:
    """An S3 access key pair; ``secret`` is needed verbatim to check SigV4 signatures."""

    access_key_id: str
    user_name: str
    created_at: datetime
    revoked_at: datetime | None = None
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class ApiToken:
    """A bearer token of a user, as listed (the token itself is shown only at creation)."""

    id: int
    user_name: str
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Bucket:
    """A namespace of keys owned by one user."""

    id: int
    name: str
    owner_id: int
    owner_name: str
    created_at: datetime
    anonymous_read: bool = False
    # S3 versioning status: "" (never enabled), "Enabled" or "Suspended".
    versioning: str = ""
    # The bucket's CORS configuration as the S3 front end stored it, None when it has none.
    cors: str | None = None
    # The malware scan policy: "async" (served until found infected) or "strict" (served
    # only after a clean verdict).
    scan_policy: str = "async"
    # The permission ("read" or "write") an explicit grant gives the user the bucket was
    # looked up for; None without a grant, or when the lookup named no user.
    granted: str | None = None


GRANT_READ = "read"
GRANT_WRITE = "write"
GRANT_PERMISSIONS = (GRANT_READ, GRANT_WRITE)


@dataclass(frozen=True)
class BucketGrant:
    """An explicit grant of a bucket to a user who does not own it."""

    bucket: str
    user_id: int
    user_name: str
    permission: str


@dataclass(frozen=True)
class Change:
    """One change-feed row. ``event`` is as stored (see ``gateway.core.change_feed``);
    ``bucket_id`` is None in rows written before the feed recorded it; a move names its
    old place in ``source_bucket``/``source_key``."""

    id: int
    bucket_id: int | None
    bucket: str
    key: str
    event: str
    version_id: str | None
    size: int | None
    etag: str | None
    at: datetime
    source_bucket: str | None = None
    source_key: str | None = None


@dataclass(frozen=True)
class ChangePage:
    """Change-feed rows a reader may see, in id order, and where the next read resumes.

    ``last_id`` is the highest id examined (rows the reader may not see are skipped, not
    returned); every change with an id at or below it has committed or never will.
    """

    changes: tuple[Change, ...]
    last_id: int
    has_more: bool


@dataclass(frozen=True)
class ObjectAttributes:
    """What a client said about an object besides its bytes."""

    content_type: str = "binary/octet-stream"
    user_metadata: dict[str, str] = field(default_factory=dict)
    # Standard headers stored and returned verbatim (cache-control, content-disposition, ...).
    headers: dict[str, str] = field(default_factory=dict)
    # The object's tag set (S3 object tagging), at most 10 unique keys.
    tags: dict[str, str] = field(default_factory=dict)
    # The server-side encryption the client asked for ("AES256"), None when it asked none.
    encryption: str | None = None
    # The canned ACL: "private" (owner only) or "public-read" (anyone may read it).
    canned_acl: str = "private"


@dataclass(frozen=True)
class Checksum:
    """An S3 additional checksum of an object or a part.

    ``algorithm`` is lower-case (``crc32``, ``crc32c``, ``crc64nvme``, ``sha1``, ``sha256``);
    ``value`` the base64 of the big-endian digest, followed by ``-N`` for a COMPOSITE
    checksum of an N-part object; ``type`` is ``FULL_OBJECT`` or ``COMPOSITE``.
    """

    algorithm: str
    value: str
    type: str = "FULL_OBJECT"


@dataclass(frozen=True)
class ObjectPart:
    """A part a multipart object was completed from: its number, size and checksum value."""

    number: int
    size: int
    checksum: str | None = None


@dataclass(frozen=True)
class WriteCondition:
    """A conditional write (If-None-Match / If-Match on PUT and Complete).

    ``absent`` requires that the key has no current version; ``etag`` (unquoted)
    requires that its current version has this ETag. Checked in the commit transaction.
    """

    absent: bool = False
    etag: str | None = None


@dataclass(frozen=True)
class ManifestEntry:
    """One chunk of an object: the plain bytes ``[offset, offset + length)`` of the object."""

    offset: int
    length: int
    chunk_id: int


@dataclass(frozen=True)
class ChunkLocation:
    """Where to fetch a chunk that backs ``[offset, offset + length)`` of an object."""

    offset: int
    length: int
    content_id: str
    backend_key: str


@dataclass(frozen=True)
class StoredObject:
    """A version of an object: the current one unless ``is_latest`` says otherwise.

    ``version_id`` is unique and internal; clients know a ``null_version`` (written while
    versioning was off or suspended) as "null". ``versioned`` tells whether the bucket
    has ever had versioning enabled, when the record was read along with its bucket; only
    then does S3 name versions in its answers. A delete marker has no bytes (size 0).
    """

    bucket_id: int
    key: str
    version_id: str
    manifest_id: int
    size: int
    etag: str
    last_modified: datetime
    attributes: ObjectAttributes
    owner_name: str = ""
    null_version: bool = True
    is_latest: bool = True
    is_delete_marker: bool = False
    versioned: bool = False
    checksum: Checksum | None = None
    # The parts of a multipart object, by number; empty for any other object.
    parts: tuple[ObjectPart, ...] = ()
    # The malware scan (see ``gateway.core.scanning``): None when written while scanning
    # was off, else "pending", "clean", "infected" or "unscannable"; the signature found
    # (or why it could not be scanned); whether it is quarantined (never served); and
    # whether its bucket's scan policy was "strict" when the record was read.
    scan_status: str | None = None
    scan_signature: str | None = None
    quarantined: bool = False
    scan_strict: bool = False

    @property
    def public_version_id(self) -> str:
        """The version id clients see: "null" for a null version."""
        return "null" if self.null_version else self.version_id


@dataclass(frozen=True)
class SubFolder:
    """A folder inside a listed folder: its prefix (ending in ``/``) and when it changed.

    ``last_modified`` is its marker object's time, or else the newest time of the keys
    under it.
    """

    prefix: str
    last_modified: datetime


@dataclass(frozen=True)
class FolderListing:
    """The direct children of a folder: its files and its sub-folders."""

    files: tuple[StoredObject, ...]
    folders: tuple[SubFolder, ...]


@dataclass(frozen=True)
class Chunk:
    """A unique piece of content stored once in the backend."""

    id: int
    content_id: str
    size: int
    stored_size: int
    backend_key: str
    refcount: int


@dataclass(frozen=True)
class NewChunk:
    """A chunk just written to the backend, to be recorded (``MetadataStore.add_chunks``)."""

    content_id: str
    size: int
    stored_size: int
    backend_key: str


@dataclass(frozen=True)
class Upload:
    """A multipart upload in progress."""

    upload_id: str
    bucket_id: int
    key: str
    owner_id: int
    created_at: datetime
    attributes: ObjectAttributes
    # The additional checksum every part must carry (CreateMultipartUpload), or None.
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class UploadCursor:
    """Where a listing of uploads (ordered by key, start time, upload id) resumes.

    Without ``upload``: at the first key after ``key`` (at ``key`` itself when
    ``inclusive``). With ``upload`` (start time, upload id): at the next upload after
    that one of ``key``, then at the keys after ``key``.
    """

    key: str
    inclusive: bool = False
    upload: tuple[datetime, str] | None = None


@dataclass(frozen=True)
class Part:
    """One uploaded part of a multipart upload."""

    part_number: int
    manifest_id: int
    size: int
    etag: str
    last_modified: datetime
    # The part's checksum value (base64) in the algorithm the client sent it with.
    checksum: Checksum | None = None


@dataclass(frozen=True)
class Actor:
    """Who asked for a change; recorded in the audit log with the change."""

    user_id: int | None
    access_key_id: str | None = None
    request_id: str | None = None
    remote_addr: str | None = None
    protocol: str = "s3"


@dataclass(frozen=True)
class StorageStats:
    """Totals across the whole gateway."""

    objects: int
    logical_bytes: int
    unique_bytes: int
    stored_bytes: int
    chunks: int

    @property
    def dedup_ratio(self) -> float:
        """Logical bytes per unique plain byte (1.0 = no duplication)."""
        return self.logical_bytes / self.unique_bytes if self.unique_bytes else 1.0

    @property
    def compression_ratio(self) -> float:
        """Unique plain bytes per stored byte (1.0 = incompressible)."""
        return self.unique_bytes / self.stored_bytes if self.stored_bytes else 1.0


# The states of a pipeline job (``jobs.state``); see ``gateway.ports.JobQueue``.
JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_DONE = "done"
JOB_FAILED = "failed"
JOB_STATES = (JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED)


@dataclass(frozen=True)
class Job:
    """A pipeline job as it stood when read.

    ``attempts`` counts the times the job was claimed (a lease that expired counts);
    ``leased_by`` names the last worker that claimed it, ``lease_until`` is set only while
    it is running. ``last_error`` is the message of the last failure, kept after a retry.
    """

    id: int
    kind: str
    payload: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    run_after: datetime
    created_at: datetime
    updated_at: datetime
    lease_until: datetime | None = None
    leased_by: str | None = None
    last_error: str | None = None
    finished_at: datetime | None = None
    dedupe_key: str | None = None


@dataclass(frozen=True)
class JobStats:
    """The queue at a glance.

    ``depth`` maps ``(kind, state)`` to the number of jobs; ``oldest_queued_seconds`` is
    the age of the oldest queued job (None when none is queued); ``failed`` counts the
    parked jobs.
    """

    depth: dict[tuple[str, str], int]
    oldest_queued_seconds: float | None
    failed: int


class VerdictKind(StrEnum):
    """What a malware scan of one whole object concluded."""

    # The scanner read every byte and matched no signature.
    CLEAN = "clean"
    # A signature matched; the object must never be served again.
    INFECTED = "infected"
    # The object cannot be scanned whole: it is over the scanner's size limit, or the
    # scanner stopped at one of its own limits (size, recursion, time). Trying again
    # gives the same answer; the oversize policy decides what happens to the object.
    UNSCANNABLE = "unscannable"
    # The scanner could not give an answer this time (unreachable, timed out, refused
    # the stream, failed): nothing is known about the object and the scan is retried.
    ERROR = "error"


@dataclass(frozen=True)
class Verdict:
    """The outcome of scanning one object; build it with the class methods."""

    kind: VerdictKind
    # The name of the signature that matched, for INFECTED only.
    signature: str | None = None
    # Why the object was not scanned, for UNSCANNABLE and ERROR only.
    reason: str | None = None

    def __post_init__(self) -> None:
        infected = self.kind is VerdictKind.INFECTED
        explained = self.kind in (VerdictKind.UNSCANNABLE, VerdictKind.ERROR)
        if infected != bool(self.signature) or explained != bool(self.reason):
            raise ValueError(f"inconsistent verdict: {self!r}")

    @classmethod
    def clean(cls) -> Verdict:
        """No signature matched any byte of the object."""
        return cls(VerdictKind.CLEAN)

    @classmethod
    def infected(cls, signature: str) -> Verdict:
        """The signature ``signature`` matched."""
        return cls(VerdictKind.INFECTED, signature=signature)

    @classmethod
    def unscannable(cls, reason: str) -> Verdict:
        """The object cannot be scanned whole, for ``reason``."""
        return cls(VerdictKind.UNSCANNABLE, reason=reason)

    @classmethod
    def error(cls, reason: str) -> Verdict:
        """No answer this time, for ``reason``; scanning again may succeed."""
        return cls(VerdictKind.ERROR, reason=reason)

    @property
    def is_clean(self) -> bool:
        """True only when the object was scanned whole and nothing matched."""
        return self.kind is VerdictKind.CLEAN


FILE_UPLOADING = "uploading"
FILE_PROCESSING = "processing"
FILE_READY = "ready"
FILE_QUARANTINED = "quarantined"
FILE_FAILED = "failed"


@dataclass(frozen=True)
class NativeFile:
    """A file announced through the native API (``files`` row; see ``FileRow``).

    ``id`` becomes the ``version_id`` of the object version ingest commits. Its bytes
    wait as raw backend objects under ``raw_key`` (one per part, ``raw_key/NNNNN``)
    until ingest has stored them as chunks.
    """

    id: str
    owner_id: int
    bucket_id: int
    key: str
    size: int
    content_type: str
    sha256: str | None
    part_size: int
    status: str
    transport: str
    raw_key: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    finalized_at: datetime | None = None
    backend_upload_id: str | None = None
    error: str | None = None
    # The bucket's name, as read along with the file ("" in a record about to be stored).
    bucket_name: str = ""

    @property
    def part_count(self) -> int:
        """How many parts the file is cut into (at least one, even when empty)."""
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number: int) -> int:
        """The size part ``number`` (1-based) must have."""
        return max(0, min(self.part_size, self.size - (number - 1) * self.part_size))


@dataclass(frozen=True)
class BackendPart:
    """A part of a multipart upload held by the backend itself: number, size and ETag."""

    number: int
    size: int
    etag: str


@dataclass(frozen=True)
class FilePart:
    """A part of a native-API upload received so far: its number, size and SHA-256."""

    number: int
    size: int
    sha256: str


@dataclass(frozen=True)
class SigningKey:
    """A key that signs access tokens and pre-signed URLs; see ``SigningKeyStore``."""

    kid: str
    # The JWS algorithm the key signs with: "Ed25519" or "RS256".
    algorithm: str
    # The private key as a JSON Web Key (JSON text).
    private_jwk: str = field(repr=False)
    created_at: datetime
    retired_at: datetime | None = None
