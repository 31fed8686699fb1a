"""SQLAlchemy 2 models of the gateway's metadata.

Every table states its invariants in its docstring. Migrations in
``migrations/versions`` create exactly this schema; ``tests/migrations`` checks
that they agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Object keys compare byte-wise (UTF-8 code point order), as S3 lists them; PostgreSQL's
# default collation would sort by locale rules instead.
ObjectKey = String(1024).with_variant(String(1024, collation="C"), "postgresql")
# A WebDAV URL path; compared byte-wise for the same reason as object keys.
UrlPath = String(4096).with_variant(String(4096, collation="C"), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")
# The canned ACL of a version or upload: "private" (owner only) or "public-read".
CANNED_PRIVATE = "private"


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class UserRow(Base):
    """A user. ``name`` is unique. ``password_hash`` is a salted scrypt hash, never a password.

    A user who owns buckets cannot be removed (``buckets.owner_id`` restricts deletes).
    """

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class AccessKeyRow(Base):
    """An S3 access key of a user. ``access_key_id`` is globally unique.

    ``secret`` is kept verbatim because SigV4 verification needs it. A key with
    ``revoked_at`` set never authenticates again; rows are kept for the audit trail.
    """

    __tablename__ = "access_keys"
    access_key_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class BucketRow(Base):
    """A bucket. ``name`` is unique across all users and follows S3's naming rules.

    A bucket is deleted only when it holds no objects (no version and no delete marker of
    any key). ``versioning`` is S3's versioning status: "" (never enabled), "Enabled" or
    "Suspended"; once enabled it never returns to "". ``anonymous_read`` lets clients
    without credentials read (never write) its objects and list its keys: it IS the
    bucket's canned ACL (set: ``public-read``, clear: ``private``). ``cors`` is the
    bucket's CORS configuration as the S3 front end serialised it (JSON), NULL for none.
    """

    __tablename__ = "buckets"
    __table_args__ = (CheckConstraint("scan_policy IN ('async', 'strict')", name="scan_policy"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime]
    anonymous_read: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    versioning: Mapped[str] = mapped_column(String(16), default="", server_default="")
    cors: Mapped[str | None] = mapped_column(Text)
    # "async": a new version is served at once and blocked once found infected;
    # "strict": a new version is served only after a clean verdict.
    scan_policy: Mapped[str] = mapped_column(
        String(16), default="async", server_default=text("'async'")
    )


class ObjectRow(Base):
    """A key in a bucket. Exists exactly when the key has at least one version (a delete
    marker counts); exactly one of them is then current.

    ``(bucket_id, key)`` is unique; the row is the lock writers of one key serialise on.
    """

    __tablename__ = "objects"
    __table_args__ = (UniqueConstraint("bucket_id", "key", name="uq_objects_bucket_key"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    bucket_id: Mapped[int] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(ObjectKey)


class ManifestRow(Base):
    """An ordered list of chunks making up a byte sequence (an object version or a part).

    Owned by exactly one version or one part; deleted with its owner. ``size`` equals the
    sum of its entries' lengths.
    """

    __tablename__ = "manifests"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class ManifestEntryRow(Base):
    """One chunk of a manifest, covering plain bytes ``[offset, offset + length)``.

    Within a manifest, entries ordered by ``seq`` have contiguous offsets starting at 0,
    and ``length`` equals the chunk's plain size. Each row counts once in its chunk's
    ``refcount``.
    """

    __tablename__ = "manifest_entries"
    __table_args__ = (Index("ix_manifest_entries_manifest_offset", "manifest_id", "offset"),)
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    length: Mapped[int] = mapped_column(Integer)
    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="RESTRICT"), index=True)


class VersionRow(Base):
    """A version of an object. At most one version per object has ``is_current`` set.

    ``etag`` is the S3 ETag without quotes: the MD5 hex of the bytes, or
    ``md5-of-part-md5s-N`` for multipart uploads. ``size`` equals its manifest's size.
    Versions of one object are ordered by ``id``: the highest is the newest.

    ``null_version`` marks a version written while its bucket's versioning was off or
    suspended: clients know it by the version id "null" (``version_id`` stays unique and
    internal), and an object has at most one. ``is_delete_marker`` marks S3's delete
    marker: it has an empty manifest (no chunk), size 0 and etag "", and a key whose
    current version is one is invisible to listings, reads and WebDAV.
    ``canned_acl`` is "private" or "public-read" (anyone may read this version).

    ``scan_status`` is NULL for a version written while scanning was off (and for delete
    markers), else ``pending`` (a ``scan`` job for it was committed with it), ``clean``,
    ``infected`` (``scan_signature`` names the match) or ``unscannable``
    (``scan_signature`` gives the reason). ``quarantined`` is set exactly when the
    version must never be served: infected, or unscannable under the ``quarantine``
    oversize policy. ``scanned_at`` is the time of the verdict.
    """

    __tablename__ = "versions"
    __table_args__ = (
        CheckConstraint(
            "scan_status IN ('pending', 'clean', 'infected', 'unscannable')", name="scan_status"
        ),
        Index(
            "ix_versions_quarantined",
            "id",
            sqlite_where=text("quarantined"),
            postgresql_where=text("quarantined"),
        ),
        # Joins from objects to their versions; the partial unique index below is not used
        # by SQLite for ``is_current = 1`` predicates.
        Index("ix_versions_object_id", "object_id"),
        Index(
            "uq_versions_current_object",
            "object_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        Index(
            "uq_versions_null_object",
            "object_id",
            unique=True,
            sqlite_where=text("null_version"),
            postgresql_where=text("null_version"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    version_id: Mapped[str] = mapped_column(String(64), unique=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="RESTRICT"))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(256))
    user_metadata: Mapped[dict[str, Any]]
    headers: Mapped[dict[str, Any]]
    # The additional checksum (see ``gateway.records.Checksum``): all three set or all None.
    checksum_algorithm: Mapped[str | None] = mapped_column(String(16))
    checksum_type: Mapped[str | None] = mapped_column(String(16))
    checksum: Mapped[str | None] = mapped_column(String(128))
    # A multipart version's parts as ``[[number, size, checksum or null], ...]``; else None.
    parts: Mapped[list[Any] | None] = mapped_column(JSON)
    # The tag set ``{key: value}``; None when the version has no tags.
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The server-side encryption the client asked for ("AES256"), or None.
    server_side_encryption: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    canned_acl: Mapped[str] = mapped_column(
        String(32), default=CANNED_PRIVATE, server_default=text("'private'")
    )
    null_version: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_delete_marker: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    scan_status: Mapped[str | None] = mapped_column(String(16))
    scan_signature: Mapped[str | None] = mapped_column(Text)
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    scanned_at: Mapped[datetime | None]


class ChunkRow(Base):
    """A unique chunk of content, stored once in the backend under ``backend_key``.

    ``content_id`` (BLAKE3 of the plain bytes) and ``backend_key`` are unique.
    ``refcount`` equals the number of ``manifest_entries`` rows naming this chunk. A chunk
    with ``refcount`` 0 whose ``touched_at`` is older than the GC grace period may be
    deleted; writers touch a chunk when they reuse it so an upload in flight keeps it.
    """

    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_refcount_touched", "refcount", "touched_at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    content_id: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    stored_size: Mapped[int] = mapped_column(Integer)
    backend_key: Mapped[str] = mapped_column(String(256), unique=True)
    refcount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    touched_at: Mapped[datetime]


class UploadRow(Base):
    """A multipart upload in progress; deleted on complete or abort (parts cascade).

    ``canned_acl`` is the one the completed object's version will get.
    """

    __tablename__ = "multipart_uploads"
    upload_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket_id: Mapped[int] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(ObjectKey)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content_type: Mapped[str] = mapped_column(String(256))
    user_metadata: Mapped[dict[str, Any]]
    headers: Mapped[dict[str, Any]]
    # The checksum every part must carry and how the parts' checksums combine, or None.
    checksum_algorithm: Mapped[str | None] = mapped_column(String(16))
    checksum_type: Mapped[str | None] = mapped_column(String(16))
    # The tags and server-side encryption the completed version will get.
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    server_side_encryption: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    canned_acl: Mapped[str] = mapped_column(
        String(32), default=CANNED_PRIVATE, server_default=text("'private'")
    )


class PartRow(Base):
    """An uploaded part. ``(upload_id, part_number)`` is unique; re-uploading replaces it.

    The part's manifest keeps its chunks referenced until the upload completes or aborts.
    """

    __tablename__ = "parts"
    upload_id: Mapped[str] = mapped_column(
        ForeignKey("multipart_uploads.upload_id", ondelete="CASCADE"), primary_key=True
    )
    part_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="RESTRICT"))
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    # The verified checksum the part was sent with: both set or both None.
    checksum_algorithm: Mapped[str | None] = mapped_column(String(16))
    checksum: Mapped[str | None] = mapped_column(String(128))


class ChangeRow(Base):
    """The change feed: one row per committed namespace change, in commit order by ``id``.

    Rows are append-only; consumers remember the last ``id`` they processed. A ``move``
    event names the new place in ``bucket``/``key`` and the old one in ``source_*``.
    """

    __tablename__ = "change_feed"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # The bucket's id when the change was made: a later bucket of the same name, perhaps
    # another user's, does not inherit the feed of the old one. NULL in rows older than it.
    bucket_id: Mapped[int | None] = mapped_column(Id, index=True)
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(ObjectKey)
    event: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    etag: Mapped[str | None] = mapped_column(String(80))
    at: Mapped[datetime]
    source_bucket: Mapped[str | None] = mapped_column(String(63))
    source_key: Mapped[str | None] = mapped_column(ObjectKey)


class AuditRow(Base):
    """The audit log: one append-only row per change and per administrative action.

    Written in the same transaction as the change it records. Never holds secrets.
    """

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    access_key_id: Mapped[str | None] = mapped_column(String(128))
    protocol: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    bucket: Mapped[str | None] = mapped_column(String(63))
    key: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class ApiTokenRow(Base):
    """A bearer token for programs, acting as its user. Only the token's SHA-256 is kept.

    ``token_hash`` is unique. A token authenticates while it is neither revoked nor past
    ``expires_at`` (None: no expiry).
    """

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class DavPropertyRow(Base):
    """A WebDAV dead property (PROPPATCH) of a file, a folder or a bucket.

    ``path`` is the object key of a file, the prefix of a folder (ending in ``/``), or
    "" for the bucket itself; ``name`` is the property's Clark notation and ``value``
    its XML. Rows are copied, moved and deleted with their resource, in the same
    transaction.
    """

    __tablename__ = "dav_properties"
    bucket_id: Mapped[int] = mapped_column(
        ForeignKey("buckets.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(ObjectKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DavLockRow(Base):
    """A WebDAV write lock, shared by every gateway process on this database.

    ``root`` is the locked URL path below the WebDAV mount (``/bucket/path``, no trailing
    ``/``). A lock whose ``expires_at`` (epoch seconds) has passed no longer counts and
    is purged when met. Two locks conflict unless both are shared; creating one checks
    for conflicts inside the creating transaction.
    """

    __tablename__ = "dav_locks"
    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    root: Mapped[str] = mapped_column(UrlPath, index=True)
    principal: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(16))
    depth: Mapped[str] = mapped_column(String(16))
    owner: Mapped[bytes] = mapped_column(LargeBinary)
    timeout: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


# Jobs in these states are unfinished: a dedupe key is unique among them.
UNFINISHED_JOB = "state IN ('queued', 'running')"


class JobRow(Base):
    """A pipeline job (the outbox): a unit of work for the handler registered for ``kind``.

    ``state`` moves queued -> running (claimed: ``leased_by`` set, ``lease_until`` in the
    future, ``attempts`` one higher) -> done, or back to queued with a later ``run_after``
    after a failure or an expired lease, or to failed (parked, ``last_error`` kept) once
    ``attempts`` reached ``max_attempts``. Only running jobs have ``lease_until``; done and
    failed jobs have ``finished_at``. A queued job is due once ``run_after`` has passed.
    ``dedupe_key``, when set, is unique among unfinished (queued or running) jobs.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="state"),
        # Claiming: the due queued jobs in order; reaping: the running ones; pruning: done.
        Index("ix_jobs_state_run_after", "state", "run_after"),
        Index(
            "uq_jobs_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=text(UNFINISHED_JOB),
            postgresql_where=text(UNFINISHED_JOB),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class SigningKeyRow(Base):
    """A key that signs the native API's access tokens and pre-signed URLs.

    The newest row without ``retired_at`` signs; every row still present verifies, so a
    rotation invalidates nothing issued before it. ``private_jwk`` holds the private key
    as a JSON Web Key; whoever reads this table can mint tokens, exactly as whoever reads
    ``access_keys`` can sign S3 requests.
    """

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class RefreshTokenRow(Base):
    """A refresh token of the native API, stored as the SHA-256 of its value.

    Using one replaces it (``replaced_by``) with a new one of the same ``family``;
    presenting a replaced or revoked token revokes its whole family, which ends a stolen
    token's use as soon as either holder uses it again.
    """

    __tablename__ = "refresh_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    replaced_by: Mapped[int | None] = mapped_column(Id)


class BucketGrantRow(Base):
    """An explicit grant of one bucket to a user who does not own it.

    ``permission`` is ``read`` (list, download, follow changes) or ``write`` (read plus
    upload, overwrite, delete). The owner needs no grant.
    """

    __tablename__ = "bucket_grants"
    __table_args__ = (CheckConstraint("permission IN ('read', 'write')", name="permission"),)
    bucket_id: Mapped[int] = mapped_column(
        ForeignKey("buckets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[str] = mapped_column(String(16))


class FileRow(Base):
    """A file uploaded through the native API, from its announcement to its ingest.

    ``id`` is also the ``version_id`` of the object version ingest commits, so one id
    names the file before and after it enters the namespace. ``status`` moves
    uploading -> processing (finalized; the raw bytes wait in the backend under
    ``raw_key``) -> ready, quarantined or failed. ``transport`` says where the parts go:
    ``gateway`` (the gateway's signed part endpoint, one backend object per part) or
    ``backend`` (pre-signed URLs of a multipart upload ``backend_upload_id`` on the S3
    backend itself).
    """

    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint(
            "status IN ('uploading', 'processing', 'ready', 'quarantined', 'failed')",
            name="status",
        ),
        CheckConstraint("transport IN ('gateway', 'backend')", name="transport"),
        Index("ix_files_status_updated_at", "status", "updated_at"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    bucket_id: Mapped[int] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(ObjectKey)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(256))
    sha256: Mapped[str | None] = mapped_column(String(64))
    part_size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    transport: Mapped[str] = mapped_column(String(16))
    raw_key: Mapped[str] = mapped_column(String(256))
    backend_upload_id: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    finalized_at: Mapped[datetime | None]


class FilePartRow(Base):
    """One part of a native-API upload received by the gateway's part endpoint: its size
    and SHA-256, as measured while it streamed into the backend."""

    __tablename__ = "file_parts"
    file_id: Mapped[str] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    part_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
