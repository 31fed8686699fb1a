"""The metadata repository: every query the gateway makes, on SQLite or PostgreSQL.

Each public method is one transaction: it commits when it returns and rolls back
when it raises. Chunk reference counts are maintained here and nowhere else, so
the invariant ``chunks.refcount == number of manifest_entries naming the chunk``
holds after every method.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.sql import change_feed, version_commit
from adapters.sql.jobs import enqueue
from adapters.sql.models import (
    AccessKeyRow,
    ApiTokenRow,
    AuditRow,
    BucketGrantRow,
    BucketRow,
    ChunkRow,
    DavPropertyRow,
    FileRow,
    ManifestEntryRow,
    ManifestRow,
    ObjectKey,
    ObjectRow,
    PartRow,
    UploadRow,
    UserRow,
    VersionRow,
)
from adapters.sql.object_features import (
    check_condition,
    checksum_of,
    part_of,
    parts_of,
    upload_columns,
    upload_of,
    version_columns,
)
from adapters.sql.repository import SqlRepository, retry_conflicts, starts_with
from adapters.sql.timestamps import aware as _aware
from adapters.sql.timestamps import utc_now
from adapters.sql.upload_listing import upload_cursor_condition
from adapters.sql.version_commit import ManifestRef
from gateway.core.change_events import (
    CREATED,
    DELETED,
    MOVED,
    QUARANTINED,
    UPDATED,
    VERSION_DELETED,
)
from gateway.core.scanning import (
    SCAN_CLEAN,
    SCAN_JOB,
    SCAN_PENDING,
    SCAN_STRICT,
    check_servable,
)
from gateway.errors import (
    BucketAlreadyExistsError,
    BucketNotEmptyError,
    ConflictError,
    DestinationExistsError,
    NotFoundError,
)
from gateway.records import (
    EMPTY_MD5,
    FOLDER_CONTENT_TYPE,
    VERSIONING_ENABLED,
    AccessKey,
    Actor,
    ApiToken,
    Bucket,
    BucketGrant,
    ChangePage,
    Checksum,
    Chunk,
    ChunkLocation,
    FolderListing,
    ManifestEntry,
    NewChunk,
    ObjectAttributes,
    ObjectPart,
    Part,
    StorageStats,
    StoredObject,
    SubFolder,
    Upload,
    UploadCursor,
    User,
    WriteCondition,
)

# The chunks table itself: its upload hot path runs Core statements (declarative typing
# only promises a FromClause).
_CHUNKS = cast(Table, ChunkRow.__table__)


_INSERT_CHUNKS = {
    name: dialect_insert(_CHUNKS).on_conflict_do_nothing(index_elements=["content_id"])
    for name, dialect_insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}
_TOUCH_CHUNKS = (
    update(_CHUNKS)
    .where(
        version_commit.in_id_order(
            _CHUNKS.c.content_id.in_(bindparam("content_ids", expanding=True))
        )
    )
    .values(touched_at=bindparam("touched"))
    .returning(
        _CHUNKS.c.id,
        _CHUNKS.c.content_id,
        _CHUNKS.c.size,
        _CHUNKS.c.stored_size,
        _CHUNKS.c.backend_key,
        _CHUNKS.c.refcount,
    )
)
_KNOWN_CHUNKS = select(_CHUNKS.c.content_id).where(
    _CHUNKS.c.content_id.in_(bindparam("content_ids", expanding=True))
)
_ACTIVE_KEY = (
    select(
        AccessKeyRow.access_key_id,
        AccessKeyRow.created_at,
        AccessKeyRow.secret,
        UserRow.id,
        UserRow.name,
        UserRow.is_admin,
        UserRow.created_at,
        UserRow.password_hash,
    )
    .join(UserRow, AccessKeyRow.user_id == UserRow.id)
    .where(AccessKeyRow.access_key_id == bindparam("key_id"), AccessKeyRow.revoked_at.is_(None))
)
_BUCKET_BY_NAME = (
    select(
        BucketRow.id,
        BucketRow.name,
        BucketRow.owner_id,
        UserRow.name,
        BucketRow.created_at,
        BucketRow.anonymous_read,
        BucketRow.versioning,
        BucketRow.cors,
        BucketRow.scan_policy,
        BucketGrantRow.permission,
    )
    .join(UserRow, BucketRow.owner_id == UserRow.id)
    .outerjoin(
        BucketGrantRow,
        (BucketGrantRow.bucket_id == BucketRow.id)
        & (BucketGrantRow.user_id == bindparam("grantee_id")),
    )
    .where(BucketRow.name == bindparam("bucket_name"))
)
# No user has this id: a lookup for nobody finds no grant.
_NOBODY = -1


def _user(row: UserRow) -> User:
    return User(row.id, row.name, row.is_admin, _aware(row.created_at), row.password_hash)


def _chunk(row: ChunkRow) -> Chunk:
    return Chunk(row.id, row.content_id, row.size, row.stored_size, row.backend_key, row.refcount)


def _attributes(row: VersionRow | UploadRow) -> ObjectAttributes:
    return ObjectAttributes(
        row.content_type,
        dict(row.user_metadata),
        dict(row.headers),
        tags=dict(row.tags or {}),
        encryption=row.server_side_encryption,
        canned_acl=row.canned_acl,
    )


def _live() -> Any:
    """Join condition from an object to its current version, unless that is a delete marker."""
    return and_(
        VersionRow.object_id == ObjectRow.id,
        VersionRow.is_current,
        VersionRow.is_delete_marker.is_(False),
    )


def _stored(
    obj: ObjectRow, version: VersionRow, *, versioned: bool = False, strict: bool = False
) -> StoredObject:
    return StoredObject(
        bucket_id=obj.bucket_id,
        key=obj.key,
        version_id=version.version_id,
        manifest_id=version.manifest_id,
        size=version.size,
        etag=version.etag,
        last_modified=_aware(version.created_at),
        attributes=_attributes(version),
        null_version=version.null_version,
        is_latest=version.is_current,
        is_delete_marker=version.is_delete_marker,
        versioned=versioned,
        checksum=checksum_of(version),
        parts=parts_of(version),
        scan_status=version.scan_status,
        scan_signature=version.scan_signature,
        quarantined=version.quarantined,
        scan_strict=strict,
    )


class SqlMetadata(SqlRepository):
    """Metadata repository over one SQLAlchemy engine (implements ``ports.MetadataStore``)."""

    def __init__(self, engine: Engine, *, scanning: bool = False) -> None:
        super().__init__(engine)
        self._dialect = engine.dialect.name
        # With scanning on, every new non-empty version commits with a ``scan`` job
        # (the outbox) and starts "pending"; with it off no job row is written at all.
        self._scanning = scanning

    @property
    def scanning(self) -> bool:
        """Whether new versions are queued for the malware scan."""
        return self._scanning

    @property
    def engine(self) -> Engine:
        """The engine this repository runs on."""
        return self._engine

    def close(self) -> None:
        """Release pooled connections."""
        self._engine.dispose()

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self._read() as session:
            session.execute(select(literal(1)))

    def _insert(self, table: Any) -> Any:
        """A dialect-specific INSERT that supports ``on_conflict_do_nothing``."""
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    # --- users and access keys -------------------------------------------------------

    def create_user(self, name: str, password_hash: str, *, is_admin: bool = False) -> User:
        """Create a user; raise ConflictError when the name is taken."""
        try:
            with self._write() as session:
                row = UserRow(
                    name=name, password_hash=password_hash, is_admin=is_admin, created_at=utc_now()
                )
                session.add(row)
                session.flush()
                return _user(row)
        except IntegrityError as exc:
            raise ConflictError(f"user {name!r} already exists") from exc

    def update_user(
        self, name: str, *, password_hash: str | None = None, is_admin: bool | None = None
    ) -> User:
        """Change a user's password hash and/or admin flag; raise NotFoundError if unknown."""
        with self._write() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFoundError(f"no user {name!r}")
            if password_hash is not None:
                row.password_hash = password_hash
            if is_admin is not None:
                row.is_admin = is_admin
            return _user(row)

    def get_user(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        with self._read() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            return _user(row) if row else None

    def list_users(self) -> list[User]:
        """All users, by name."""
        with self._read() as session:
            return [_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]

    def remove_user(self, name: str) -> None:
        """Remove a user and their keys.

        Raises NotFoundError, or ConflictError when the user still owns buckets.
        """
        with self._write() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFoundError(f"no user {name!r}")
            if session.scalar(select(exists().where(BucketRow.owner_id == row.id))):
                raise ConflictError(f"user {name!r} still owns buckets")
            session.execute(delete(AccessKeyRow).where(AccessKeyRow.user_id == row.id))
            session.delete(row)

    def create_access_key(self, user_name: str, access_key_id: str, secret: str) -> AccessKey:
        """Give ``user_name`` a new key pair; raise NotFoundError or ConflictError (id taken)."""
        try:
            with self._write() as session:
                user = session.scalar(select(UserRow).where(UserRow.name == user_name))
                if user is None:
                    raise NotFoundError(f"no user {user_name!r}")
                row = AccessKeyRow(
                    access_key_id=access_key_id,
                    user_id=user.id,
                    secret=secret,
                    created_at=utc_now(),
                )
                session.add(row)
                session.flush()
                return AccessKey(access_key_id, user_name, row.created_at, None, secret)
        except IntegrityError as exc:
            raise ConflictError(f"access key {access_key_id!r} already exists") from exc

    def set_access_key_secret(self, access_key_id: str, secret: str) -> None:
        """Replace the secret of a key and un-revoke it; raise NotFoundError if unknown."""
        with self._write() as session:
            result = session.execute(
                update(AccessKeyRow)
                .where(AccessKeyRow.access_key_id == access_key_id)
                .values(secret=secret, revoked_at=None)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no access key {access_key_id!r}")

    def list_access_keys(self, user_name: str | None = None) -> list[AccessKey]:
        """Keys of one user (or of everyone), revoked ones included, without secrets."""
        query = select(AccessKeyRow, UserRow.name).join(UserRow)
        if user_name is not None:
            query = query.where(UserRow.name == user_name)
        with self._read() as session:
            return [
                AccessKey(
                    key.access_key_id,
                    name,
                    _aware(key.created_at),
                    _aware(key.revoked_at) if key.revoked_at else None,
                )
                for key, name in session.execute(query.order_by(AccessKeyRow.created_at))
            ]

    def revoke_access_key(self, access_key_id: str) -> None:
        """Revoke a key for good; raise NotFoundError if it does not exist."""
        with self._write() as session:
            result = session.execute(
                update(AccessKeyRow)
                .where(AccessKeyRow.access_key_id == access_key_id)
                .values(revoked_at=utc_now())
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no access key {access_key_id!r}")

    def lookup_access_key(self, access_key_id: str) -> tuple[AccessKey, User] | None:
        """The active (not revoked) key with this id and its user, secret included.

        Every signed request asks this: one pre-built statement, no ORM.
        """
        with self._connection() as connection:
            found = connection.execute(_ACTIVE_KEY, {"key_id": access_key_id}).first()
        if found is None:
            return None
        key_id, key_created, secret, user_id, name, is_admin, created, password_hash = found
        return (
            AccessKey(key_id, name, _aware(key_created), None, secret),
            User(user_id, name, is_admin, _aware(created), password_hash),
        )

    # --- bearer tokens ---------------------------------------------------------------

    def create_api_token(
        self, user_name: str, name: str, token_hash: str, expires_at: datetime | None
    ) -> ApiToken:
        """Record a token (by its hash) for ``user_name``; raise NotFoundError if unknown."""
        with self._write() as session:
            user = session.scalar(select(UserRow).where(UserRow.name == user_name))
            if user is None:
                raise NotFoundError(f"no user {user_name!r}")
            row = ApiTokenRow(
                user_id=user.id,
                name=name,
                token_hash=token_hash,
                created_at=utc_now(),
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            return ApiToken(row.id, user.name, name, row.created_at, expires_at)

    def list_api_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        """Tokens of one user (or of everyone), revoked and expired ones included."""
        query = select(ApiTokenRow, UserRow.name).join(UserRow).order_by(ApiTokenRow.id)
        if user_name is not None:
            query = query.where(UserRow.name == user_name)
        with self._read() as session:
            return [
                ApiToken(
                    row.id,
                    owner,
                    row.name,
                    _aware(row.created_at),
                    _aware(row.expires_at) if row.expires_at else None,
                    _aware(row.revoked_at) if row.revoked_at else None,
                )
                for row, owner in session.execute(query)
            ]

    def revoke_api_token(self, token_id: int) -> None:
        """Revoke a token for good; raise NotFoundError if it does not exist."""
        with self._write() as session:
            done = session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
            if not done.rowcount and session.get(ApiTokenRow, token_id) is None:  # type: ignore[attr-defined]
                raise NotFoundError(f"no token {token_id}")

    def lookup_api_token(self, token_hash: str) -> User | None:
        """The user of the valid (not revoked, not expired) token with this hash."""
        query = (
            select(UserRow)
            .join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
            .where(
                ApiTokenRow.token_hash == token_hash,
                ApiTokenRow.revoked_at.is_(None),
                or_(ApiTokenRow.expires_at.is_(None), ApiTokenRow.expires_at > utc_now()),
            )
        )
        with self._read() as session:
            user = session.scalar(query)
            return _user(user) if user else None

    # --- buckets ---------------------------------------------------------------------

    def _bucket_query(self) -> Any:
        return select(BucketRow, UserRow.name).join(UserRow, BucketRow.owner_id == UserRow.id)

    @staticmethod
    def _bucket(row: BucketRow, owner: str) -> Bucket:
        return Bucket(
            row.id,
            row.name,
            row.owner_id,
            owner,
            _aware(row.created_at),
            row.anonymous_read,
            row.versioning,
            cors=row.cors,
            scan_policy=row.scan_policy,
        )

    def set_bucket_anonymous_read(self, bucket: Bucket, allowed: bool, actor: Actor) -> Bucket:
        """Let clients without credentials read the bucket (``allowed``) or stop them."""
        with self._write() as session:
            session.execute(
                update(BucketRow).where(BucketRow.id == bucket.id).values(anonymous_read=allowed)
            )
            self._audit(session, actor, "SetAnonymousRead", bucket.name, None, str(allowed))
        return replace(bucket, anonymous_read=allowed)

    def set_bucket_cors(self, bucket: Bucket, cors: str | None, actor: Actor) -> Bucket:
        """Store the bucket's CORS configuration document (None removes it)."""
        with self._write() as session:
            session.execute(update(BucketRow).where(BucketRow.id == bucket.id).values(cors=cors))
            action = "PutBucketCors" if cors is not None else "DeleteBucketCors"
            self._audit(session, actor, action, bucket.name)
        return replace(bucket, cors=cors)

    def set_version_acl(
        self, bucket: Bucket, obj: StoredObject, canned_acl: str, actor: Actor
    ) -> bool:
        """Give the version ``obj`` the canned ACL; False when that version is gone."""
        with self._write() as session:
            result = session.execute(
                update(VersionRow)
                .where(VersionRow.version_id == obj.version_id)
                .values(canned_acl=canned_acl)
            )
            changed = result.rowcount  # type: ignore[attr-defined]
            if changed:
                self._audit(session, actor, "PutObjectAcl", bucket.name, obj.key, canned_acl)
        return bool(changed)

    def create_bucket(self, name: str, owner_id: int, actor: Actor) -> Bucket:
        """Create a bucket; raise BucketAlreadyExistsError (with the current owner) if taken."""
        try:
            with self._write() as session:
                row = BucketRow(name=name, owner_id=owner_id, created_at=utc_now())
                session.add(row)
                session.flush()
                self._audit(session, actor, "CreateBucket", name)
                owner = session.scalar(select(UserRow.name).where(UserRow.id == owner_id))
                return self._bucket(row, owner or "")
        except IntegrityError as exc:
            existing = self.get_bucket(name)
            if existing is None:
                raise
            raise BucketAlreadyExistsError(existing.owner_id) from exc

    def get_bucket(self, name: str, for_user: int | None = None) -> Bucket | None:
        """The bucket called ``name``, or None; with ``for_user``, ``granted`` is that
        user's grant on it (one pre-built statement: most requests ask)."""
        with self._connection() as connection:
            found = connection.execute(
                _BUCKET_BY_NAME,
                {"bucket_name": name, "grantee_id": _NOBODY if for_user is None else for_user},
            ).first()
        if found is None:
            return None
        (bucket_id, bucket_name, owner_id, owner, created, anonymous_read, versioning, cors) = (
            found[:8]
        )
        return Bucket(
            bucket_id,
            bucket_name,
            owner_id,
            owner,
            _aware(created),
            anonymous_read,
            versioning,
            cors=cors,
            scan_policy=found[8],
            granted=found[9],
        )

    def list_buckets(self, owner_id: int | None = None) -> list[Bucket]:
        """Buckets of one owner (or all), by name."""
        query = self._bucket_query().order_by(BucketRow.name)
        if owner_id is not None:
            query = query.where(BucketRow.owner_id == owner_id)
        with self._read() as session:
            return [self._bucket(*found) for found in session.execute(query)]

    @retry_conflicts
    def delete_bucket(self, bucket: Bucket, actor: Actor) -> None:
        """Delete an empty bucket, aborting its unfinished uploads; else BucketNotEmptyError."""
        with self._write() as session:
            if session.scalar(select(exists().where(ObjectRow.bucket_id == bucket.id))):
                raise BucketNotEmptyError(bucket.name)
            for upload_id in session.scalars(
                select(UploadRow.upload_id).where(UploadRow.bucket_id == bucket.id)
            ):
                self._drop_upload(session, upload_id)
            session.execute(delete(BucketRow).where(BucketRow.id == bucket.id))
            self._audit(session, actor, "DeleteBucket", bucket.name)

    # --- grants ----------------------------------------------------------------------

    def grant_bucket(self, bucket: Bucket, user_id: int, permission: str, actor: Actor) -> None:
        """Give ``user_id`` ``permission`` (read or write) on ``bucket``, replacing any
        grant they had; ConflictError for the bucket's owner."""
        if user_id == bucket.owner_id:
            raise ConflictError(f"the owner of {bucket.name} needs no grant")
        with self._write() as session:
            session.execute(
                delete(BucketGrantRow).where(
                    BucketGrantRow.bucket_id == bucket.id, BucketGrantRow.user_id == user_id
                )
            )
            session.add(BucketGrantRow(bucket_id=bucket.id, user_id=user_id, permission=permission))
            self._audit(
                session, actor, "GrantBucket", bucket.name, None, f"user {user_id}: {permission}"
            )

    def revoke_bucket(self, bucket: Bucket, user_id: int, actor: Actor) -> bool:
        """Take back ``user_id``'s grant on ``bucket``; whether there was one."""
        with self._write() as session:
            gone = session.execute(
                delete(BucketGrantRow).where(
                    BucketGrantRow.bucket_id == bucket.id, BucketGrantRow.user_id == user_id
                )
            ).rowcount  # type: ignore[attr-defined]
            if gone:
                self._audit(session, actor, "RevokeBucket", bucket.name, None, f"user {user_id}")
        return bool(gone)

    def bucket_grants(self, bucket: Bucket) -> list[BucketGrant]:
        """The grants on ``bucket``, by user name."""
        with self._read() as session:
            rows = session.execute(
                select(UserRow.id, UserRow.name, BucketGrantRow.permission)
                .join(UserRow, UserRow.id == BucketGrantRow.user_id)
                .where(BucketGrantRow.bucket_id == bucket.id)
                .order_by(UserRow.name)
            ).all()
        return [BucketGrant(bucket.name, uid, name, permission) for uid, name, permission in rows]

    def granted_buckets(self, user_id: int) -> list[Bucket]:
        """The buckets granted to ``user_id`` (``granted`` set), by name."""
        query = (
            self._bucket_query()
            .add_columns(BucketGrantRow.permission)
            .join(BucketGrantRow, BucketGrantRow.bucket_id == BucketRow.id)
            .where(BucketGrantRow.user_id == user_id)
            .order_by(BucketRow.name)
        )
        with self._read() as session:
            return [
                replace(self._bucket(row, owner), granted=permission)
                for row, owner, permission in session.execute(query)
            ]

    # --- chunks ----------------------------------------------------------------------

    def known_chunks(self, content_ids: Sequence[str]) -> set[str]:
        """Which of these content ids have a chunk now (no lock taken, nothing written)."""
        if not content_ids:
            return set()
        with self._connection() as connection:
            return set(connection.scalars(_KNOWN_CHUNKS, {"content_ids": list(content_ids)}))

    @retry_conflicts
    def touch_chunks(self, content_ids: Sequence[str]) -> dict[str, Chunk]:
        """Mark the chunks of these content ids as in use now and return them by content id.

        One ``UPDATE ... RETURNING``: exactly the rows it touched are returned, so a row
        that GC deleted first is reported absent rather than handed out untouched.
        """
        if not content_ids:
            return {}
        with self._write_connection() as connection:
            return self._touch(connection, sorted(content_ids), utc_now())

    @retry_conflicts
    def add_chunks(self, chunks: Sequence[NewChunk]) -> dict[str, Chunk]:
        """Record stored chunks with refcount 0; a content id already recorded keeps its
        row (touched), and that row is returned for it.

        Upload hot path: pre-built Core statements on a plain connection, which cost a
        fraction of the ORM's bookkeeping.
        """
        now = utc_now()
        # Sorted, so that concurrent writers on PostgreSQL lock rows in one order.
        pending = {c.content_id: c for c in sorted(chunks, key=lambda c: c.content_id)}
        found: dict[str, Chunk] = {}
        insert_new = _INSERT_CHUNKS[self._dialect]
        with self._write_connection() as connection:
            # A row that blocked our insert may be collected before we touch it (only on
            # PostgreSQL, where GC does not wait for us): the next round inserts ours.
            while pending:
                connection.execute(
                    insert_new, [self._new_chunk_values(c, now) for c in pending.values()]
                )
                found |= self._touch(connection, list(pending), now)
                pending = {cid: c for cid, c in pending.items() if cid not in found}
        return found

    @staticmethod
    def _new_chunk_values(chunk: NewChunk, now: datetime) -> dict[str, Any]:
        return {
            "content_id": chunk.content_id,
            "size": chunk.size,
            "stored_size": chunk.stored_size,
            "backend_key": chunk.backend_key,
            "refcount": 0,
            "created_at": now,
            "touched_at": now,
        }

    @staticmethod
    def _touch(
        connection: Connection, content_ids: Sequence[str], now: datetime
    ) -> dict[str, Chunk]:
        """Set ``touched_at`` of the chunks of ``content_ids``; the rows touched, by content id."""
        rows = connection.execute(_TOUCH_CHUNKS, {"content_ids": list(content_ids), "touched": now})
        return {row.content_id: Chunk(*row) for row in rows}

    def collectable_chunks(self, older_than: datetime, limit: int) -> list[Chunk]:
        """Chunks with no references whose last touch is before ``older_than``."""
        query = (
            select(ChunkRow)
            .where(ChunkRow.refcount == 0, ChunkRow.touched_at < older_than)
            .order_by(ChunkRow.id)
            .limit(limit)
        )
        with self._read() as session:
            return [_chunk(r) for r in session.scalars(query)]

    def forget_chunk(self, chunk_id: int, older_than: datetime) -> bool:
        """Delete a chunk row if it is still unreferenced and untouched since ``older_than``.

        True means the row is gone and its blob may be deleted: no manifest names it, and
        a writer that wants the same content will store a new blob under a new key.
        """
        with self._write() as session:
            result = session.execute(
                delete(ChunkRow).where(
                    ChunkRow.id == chunk_id,
                    ChunkRow.refcount == 0,
                    ChunkRow.touched_at < older_than,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def iter_chunks(self, batch: int = 1000) -> Iterator[Chunk]:
        """Every chunk, in id order, read in batches of ``batch``."""
        last = 0
        while True:
            with self._read() as session:
                rows = list(
                    session.scalars(
                        select(ChunkRow)
                        .where(ChunkRow.id > last)
                        .order_by(ChunkRow.id)
                        .limit(batch)
                    )
                )
            if not rows:
                return
            yield from (_chunk(r) for r in rows)
            last = rows[-1].id

    def count_chunks(self) -> int:
        """Number of chunk rows."""
        with self._read() as session:
            return session.scalar(select(func.count()).select_from(ChunkRow)) or 0

    def refcount_mismatches(self) -> list[tuple[str, int, int]]:
        """Chunks whose refcount differs from their manifest entries: (content id, stored, real)."""
        real = (
            select(func.count())
            .where(ManifestEntryRow.chunk_id == ChunkRow.id)
            .correlate(ChunkRow)
            .scalar_subquery()
        )
        query = select(ChunkRow.content_id, ChunkRow.refcount, real).where(
            ChunkRow.refcount != real
        )
        with self._read() as session:
            return [(c, s, r) for c, s, r in session.execute(query)]

    def manifest_problems(self) -> list[str]:
        """One line per broken reference above the chunks (see the port's contract)."""
        manifests = cast(Table, ManifestRow.__table__)
        entries = cast(Table, ManifestEntryRow.__table__)
        problems: list[str] = []
        with self._connection() as connection:
            for table, label, key in (
                (cast(Table, VersionRow.__table__), "version", "version_id"),
                (cast(Table, PartRow.__table__), "part of upload", "upload_id"),
            ):
                orphaned = select(table.c[key], table.c.manifest_id).where(
                    ~exists().where(manifests.c.id == table.c.manifest_id)
                )
                problems += [
                    f"{label} {name}: manifest {manifest_id} is missing"
                    for name, manifest_id in connection.execute(orphaned)
                ]
            dangling = select(entries.c.manifest_id, entries.c.seq, entries.c.chunk_id).where(
                ~exists().where(_CHUNKS.c.id == entries.c.chunk_id)
            )
            problems += [
                f"manifest {manifest_id} entry {seq}: chunk row {chunk_id} is missing"
                for manifest_id, seq, chunk_id in connection.execute(dangling)
            ]
            previous = (
                func.lag(entries.c.offset + entries.c.length, 1, 0)
                .over(partition_by=entries.c.manifest_id, order_by=entries.c.seq)
                .label("expected")
            )
            tiled = select(entries.c.manifest_id, entries.c.offset, previous).subquery()
            gaps = select(tiled.c.manifest_id).where(tiled.c.offset != tiled.c.expected).distinct()
            totals = (
                select(
                    manifests.c.id,
                    manifests.c.size,
                    func.coalesce(func.sum(entries.c.length), 0).label("covered"),
                )
                .outerjoin(entries, entries.c.manifest_id == manifests.c.id)
                .group_by(manifests.c.id, manifests.c.size)
                .subquery()
            )
            short = select(totals.c.id, totals.c.size, totals.c.covered).where(
                totals.c.size != totals.c.covered
            )
            problems += [
                f"manifest {manifest_id}: entries do not follow one another"
                for (manifest_id,) in connection.execute(gaps)
            ]
            problems += [
                f"manifest {manifest_id}: size {size} but entries cover {covered}"
                for manifest_id, size, covered in connection.execute(short)
            ]
        return problems

    def stats(self) -> StorageStats:
        """Totals of objects and chunks."""
        with self._read() as session:
            objects, logical = session.execute(
                select(func.count(), func.coalesce(func.sum(VersionRow.size), 0)).where(
                    VersionRow.is_current, VersionRow.is_delete_marker.is_(False)
                )
            ).one()
            chunks, unique, stored = session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(ChunkRow.size), 0),
                    func.coalesce(func.sum(ChunkRow.stored_size), 0),
                )
            ).one()
            return StorageStats(int(objects), int(logical), int(unique), int(stored), int(chunks))

    # --- manifests -------------------------------------------------------------------

    @staticmethod
    def _new_manifest(session: Session, entries: Sequence[ManifestEntry]) -> ManifestRef:
        session.flush()
        return version_commit.new_manifest(session.connection(), entries, utc_now())

    @staticmethod
    def _copy_manifest(session: Session, source_ids: Sequence[int]) -> ManifestRef:
        """A new manifest holding the entries of ``source_ids`` one after the other.

        NotFoundError when a source manifest was dropped meanwhile (its version deleted
        or replaced by a transaction that committed first); while this transaction runs,
        no other may drop them.
        """
        session.flush()
        connection = session.connection()
        if not version_commit.share_manifests(connection, source_ids):
            raise NotFoundError("the source object changed during the copy")
        totals = {
            manifest_id: (int(count), int(size))
            for manifest_id, count, size in connection.execute(
                select(
                    ManifestEntryRow.manifest_id,
                    func.count(),
                    func.coalesce(func.sum(ManifestEntryRow.length), 0),
                )
                .where(ManifestEntryRow.manifest_id.in_(source_ids))
                .group_by(ManifestEntryRow.manifest_id)
            )
        }
        size = sum(totals.get(source_id, (0, 0))[1] for source_id in source_ids)
        manifest = ManifestRef(version_commit.insert_manifest(connection, size, utc_now()), size)
        seq_base = offset_base = 0
        for source_id in source_ids:
            connection.execute(
                insert(ManifestEntryRow).from_select(
                    ["manifest_id", "seq", "offset", "length", "chunk_id"],
                    select(
                        literal(manifest.id),
                        ManifestEntryRow.seq + seq_base,
                        ManifestEntryRow.offset + offset_base,
                        ManifestEntryRow.length,
                        ManifestEntryRow.chunk_id,
                    ).where(ManifestEntryRow.manifest_id == source_id),
                )
            )
            count, part_size = totals.get(source_id, (0, 0))
            seq_base += count
            offset_base += part_size
        version_commit.add_references(connection, [manifest.id])
        return manifest

    def _drop_manifest(self, session: Session, manifest_id: int) -> None:
        self._drop_manifests(session, [manifest_id])

    @staticmethod
    def _drop_manifests(session: Session, manifest_ids: Sequence[int]) -> None:
        """Delete manifests and their entries, releasing one reference per entry."""
        session.flush()
        version_commit.drop_manifests(session.connection(), manifest_ids, utc_now())

    def chunk_locations(self, manifest_id: int, start: int, end: int) -> list[ChunkLocation]:
        """Entries of a manifest overlapping plain bytes ``[start, end)``, in order."""
        query = (
            select(
                ManifestEntryRow.offset,
                ManifestEntryRow.length,
                ChunkRow.content_id,
                ChunkRow.backend_key,
            )
            .join(ChunkRow, ChunkRow.id == ManifestEntryRow.chunk_id)
            .where(
                ManifestEntryRow.manifest_id == manifest_id,
                ManifestEntryRow.offset < end,
                ManifestEntryRow.offset + ManifestEntryRow.length > start,
            )
            .order_by(ManifestEntryRow.seq)
        )
        with self._read() as session:
            return [ChunkLocation(*found) for found in session.execute(query)]

    # --- objects ---------------------------------------------------------------------

    def _current(
        self, session: Session, bucket_id: int, key: str
    ) -> tuple[ObjectRow, VersionRow] | None:
        found = session.execute(
            select(ObjectRow, VersionRow)
            .join(VersionRow, _live())
            .where(ObjectRow.bucket_id == bucket_id, ObjectRow.key == key)
        ).first()
        return (found[0], found[1]) if found else None

    def get_object(self, bucket_id: int, key: str) -> StoredObject | None:
        """The current version of ``key``, or None."""
        with self._read() as session:
            found = session.execute(
                select(ObjectRow, VersionRow, BucketRow.scan_policy)
                .join(VersionRow, _live())
                .join(BucketRow, BucketRow.id == ObjectRow.bucket_id)
                .where(ObjectRow.bucket_id == bucket_id, ObjectRow.key == key)
            ).first()
            if found is None:
                return None
            return _stored(found[0], found[1], strict=found[2] == SCAN_STRICT)

    @staticmethod
    def _lock_object(session: Session, bucket_id: int, key: str) -> ObjectRow:
        """The object row of ``key``, created if needed, locked until the transaction ends."""
        session.flush()
        locked = version_commit.lock_object(session.connection(), bucket_id, key)
        row = session.get(ObjectRow, locked.id)
        assert row is not None
        return row

    @staticmethod
    def _versioning(session: Session, bucket_id: int) -> str:
        """The bucket's versioning status as of this transaction."""
        return version_commit.bucket_versioning(session.connection(), bucket_id)

    @staticmethod
    def _retire_current(session: Session, object_id: int, status: str) -> None:
        """Make room for a new current version of the object under versioning ``status``
        (see ``version_commit.retire_current``)."""
        session.flush()
        version_commit.retire_current(session.connection(), object_id, status, utc_now())

    def _add_delete_marker(self, session: Session, object_id: int, status: str) -> VersionRow:
        """A new current delete marker (over an empty manifest); the caller retired the old."""
        marker = VersionRow(
            object_id=object_id,
            version_id=uuid.uuid4().hex,
            manifest_id=self._new_manifest(session, []).id,
            is_current=True,
            size=0,
            etag="",
            content_type="",
            user_metadata={},
            headers={},
            created_at=utc_now(),
            null_version=status != VERSIONING_ENABLED,
            is_delete_marker=True,
        )
        session.add(marker)
        session.flush()
        return marker

    def _replace_current(
        self,
        session: Session,
        bucket: Bucket,
        key: str,
        manifest: ManifestRef,
        etag: str,
        attributes: ObjectAttributes,
        actor: Actor,
        action: str,
        *,
        checksum: Checksum | None = None,
        parts: Sequence[ObjectPart] = (),
        condition: WriteCondition | None = None,
        version_id: str | None = None,
    ) -> StoredObject:
        """Make the manifest the current version of ``key``, with its change-feed and audit
        rows: Core statements only, as this is every write's commit. ``version_id`` names
        the version (a fresh one when None)."""
        session.flush()
        connection = session.connection()
        locked = version_commit.lock_object(connection, bucket.id, key)
        object_id = locked.id
        check_condition(session, object_id, condition)
        status = version_commit.bucket_versioning(connection, bucket.id)
        now = utc_now()
        replaced = not locked.created and version_commit.retire_current(
            connection, object_id, status, now
        )
        stored = StoredObject(
            bucket_id=bucket.id,
            key=key,
            version_id=version_id or uuid.uuid4().hex,
            manifest_id=manifest.id,
            size=manifest.size,
            etag=etag,
            last_modified=now,
            attributes=replace(
                attributes,
                user_metadata=dict(attributes.user_metadata),
                headers=dict(attributes.headers),
                tags=dict(attributes.tags),
            ),
            null_version=status != VERSIONING_ENABLED,
            versioned=bool(status),
            checksum=checksum,
            parts=tuple(parts),
        )
        scan: dict[str, Any] = {}
        if self._scanning:
            # An empty version holds nothing to scan; any other waits for its verdict.
            scan = (
                {"scan_status": SCAN_PENDING}
                if manifest.size
                else {"scan_status": SCAN_CLEAN, "scanned_at": now}
            )
            stored = replace(stored, scan_status=scan["scan_status"])
        version_commit.insert_version(
            connection,
            {
                "object_id": object_id,
                "version_id": stored.version_id,
                "manifest_id": manifest.id,
                "is_current": True,
                "size": manifest.size,
                "etag": etag,
                "content_type": attributes.content_type,
                "user_metadata": stored.attributes.user_metadata,
                "headers": stored.attributes.headers,
                "canned_acl": attributes.canned_acl,
                "created_at": now,
                "null_version": stored.null_version,
                "is_delete_marker": False,
                **version_columns(attributes, checksum, parts),
                **scan,
            },
        )
        if scan.get("scan_status") == SCAN_PENDING:
            enqueue(
                connection,
                SCAN_JOB,
                {"version_id": stored.version_id},
                dedupe_key=f"{SCAN_JOB}:{stored.version_id}",
            )
        change_feed.record_changes(
            connection,
            [
                change_feed.change(
                    (bucket.id, bucket.name),
                    key,
                    UPDATED if replaced else CREATED,
                    now,
                    version_id=stored.version_id,
                    size=manifest.size,
                    etag=etag,
                )
            ],
        )
        version_commit.record_audit(connection, actor, action, bucket.name, key, now=now)
        return stored

    @retry_conflicts
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

        With ``version_id`` (a native-API file id) the version gets that id and the file
        is marked ingested (``ready``) in the same transaction; ConflictError when a
        version of that id exists already.
        """
        try:
            with self._write() as session:
                manifest = self._new_manifest(session, entries)
                stored = self._replace_current(
                    session,
                    bucket,
                    key,
                    manifest,
                    etag,
                    attributes,
                    actor,
                    "IngestFile" if version_id else "PutObject",
                    checksum=checksum,
                    condition=condition,
                    version_id=version_id,
                )
                if version_id is not None:
                    session.execute(
                        update(FileRow)
                        .where(FileRow.id == version_id)
                        .values(status="ready", error=None, updated_at=stored.last_modified)
                    )
                return stored
        except IntegrityError as exc:
            if version_id is None:
                raise
            raise ConflictError(f"version {version_id} exists already") from exc

    @retry_conflicts
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
        with self._write() as session:
            manifest = self._copy_manifest(session, [source.manifest_id])
            return self._replace_current(
                session,
                bucket,
                key,
                manifest,
                source.etag,
                attributes,
                actor,
                "CopyObject",
                checksum=source.checksum,
                parts=source.parts,
            )

    @retry_conflicts
    def delete_object(self, bucket: Bucket, key: str, actor: Actor) -> StoredObject | None:
        """Delete ``key`` as S3 does when no version is named.

        In a bucket that never had versioning the current version goes for good and is
        returned (None when there was none). Otherwise a new delete marker becomes the
        current version, even of a key that had none, and is returned; with versioning
        suspended it replaces the key's null version.
        """
        with self._write() as session:
            status = self._versioning(session, bucket.id)
            if status:
                obj = self._lock_object(session, bucket.id, key)
                self._retire_current(session, obj.id, status)
                removed = self._add_delete_marker(session, obj.id, status)
            else:
                found = self._current(session, bucket.id, key)
                if found is None:
                    return None
                obj, removed = found
                session.delete(removed)
                session.flush()
                self._drop_manifest(session, removed.manifest_id)
                session.delete(obj)
            session.execute(
                delete(DavPropertyRow).where(
                    DavPropertyRow.bucket_id == bucket.id, DavPropertyRow.path == key
                )
            )
            self._record_changes(
                session,
                [
                    change_feed.change(
                        (bucket.id, bucket.name),
                        key,
                        DELETED,
                        utc_now(),
                        version_id=removed.version_id if status else None,
                    )
                ],
            )
            self._audit(session, actor, "DeleteObject", bucket.name, key)
            return _stored(obj, removed, versioned=bool(status))

    def list_objects(
        self, bucket_id: int, prefix: str, after: str | None, limit: int, *, inclusive: bool = False
    ) -> list[StoredObject]:
        """Up to ``limit`` current objects whose key starts with ``prefix`` and sorts
        after ``after`` (or at it, when ``inclusive``), in UTF-8 byte order of keys."""
        query = (
            select(ObjectRow, VersionRow)
            .join(VersionRow, _live())
            .where(ObjectRow.bucket_id == bucket_id, *starts_with(ObjectRow.key, prefix))
            .order_by(ObjectRow.key)
            .limit(limit)
        )
        if after is not None:
            query = query.where(ObjectRow.key >= after if inclusive else ObjectRow.key > after)
        with self._read() as session:
            return [_stored(o, v) for o, v in session.execute(query) if o.key.startswith(prefix)]

    def update_user_metadata(
        self, bucket: Bucket, key: str, changes: dict[str, str], actor: Actor
    ) -> StoredObject | None:
        """Merge ``changes`` into the user metadata of the current version of ``key``.

        The bytes, ETag and version id stay; None when the key has no current version.
        """
        with self._write() as session:
            found = self._locked_current(session, bucket.id, key)
            if found is None:
                return None
            obj, version = found
            version.user_metadata = {**version.user_metadata, **changes}
            self._audit(session, actor, "UpdateMetadata", bucket.name, key)
            session.flush()
            return _stored(obj, version)

    def set_object_tags(
        self, bucket: Bucket, obj: StoredObject, tags: dict[str, str], actor: Actor
    ) -> bool:
        """Replace the tag set of exactly the version ``obj`` ({} removes every tag).

        The bytes, ETag and version id stay; False when that version no longer exists.
        """
        with self._write() as session:
            changed = session.execute(
                update(VersionRow)
                .where(
                    VersionRow.version_id == obj.version_id,
                    VersionRow.is_delete_marker.is_(False),
                )
                .values(tags=dict(tags) or None)
                .execution_options(synchronize_session=False)
            )
            if not changed.rowcount:  # type: ignore[attr-defined]
                return False
            action = "PutObjectTagging" if tags else "DeleteObjectTagging"
            self._audit(session, actor, action, bucket.name, obj.key)
            return True

    def _locked_current(
        self, session: Session, bucket_id: int, key: str
    ) -> tuple[ObjectRow, VersionRow] | None:
        """The key's object row, locked, and its current version unless a delete marker."""
        obj = session.scalar(
            select(ObjectRow)
            .where(ObjectRow.bucket_id == bucket_id, ObjectRow.key == key)
            .with_for_update()
        )
        version = (
            None
            if obj is None
            else session.scalar(
                select(VersionRow).where(
                    VersionRow.object_id == obj.id,
                    VersionRow.is_current,
                    VersionRow.is_delete_marker.is_(False),
                )
            )
        )
        return None if obj is None or version is None else (obj, version)

    def bytes_used(self, owner_id: int) -> int:
        """The total size of the current versions in the buckets of ``owner_id``."""
        query = (
            select(func.coalesce(func.sum(VersionRow.size), 0))
            .join(ObjectRow, ObjectRow.id == VersionRow.object_id)
            .join(BucketRow, BucketRow.id == ObjectRow.bucket_id)
            .where(VersionRow.is_current, BucketRow.owner_id == owner_id)
        )
        with self._read() as session:
            return int(session.scalar(query) or 0)

    # --- object versions (S3 bucket versioning) ----------------------------------------

    def set_bucket_versioning(self, bucket: Bucket, status: str, actor: Actor) -> Bucket:
        """Set the bucket's versioning to ``status`` ("Enabled" or "Suspended")."""
        with self._write() as session:
            session.execute(
                update(BucketRow).where(BucketRow.id == bucket.id).values(versioning=status)
            )
            self._audit(session, actor, "PutBucketVersioning", bucket.name, None, status)
        return replace(bucket, versioning=status)

    @staticmethod
    def _version_condition(version_id: str | None) -> Any:
        """Versions named by a client's id: the current one for None, else "null" or an id."""
        if version_id is None:
            return VersionRow.is_current
        if version_id == "null":
            return VersionRow.null_version
        return and_(VersionRow.version_id == version_id, VersionRow.null_version.is_(False))

    def _find_version(
        self, session: Session, bucket_id: int, key: str, version_id: str | None
    ) -> tuple[ObjectRow, VersionRow] | None:
        found = session.execute(
            select(ObjectRow, VersionRow)
            .join(VersionRow, VersionRow.object_id == ObjectRow.id)
            .where(
                ObjectRow.bucket_id == bucket_id,
                ObjectRow.key == key,
                self._version_condition(version_id),
            )
        ).first()
        return (found[0], found[1]) if found else None

    def get_version(self, bucket: Bucket, key: str, version_id: str | None) -> StoredObject | None:
        """The version of ``key`` a client names ("null" included), or the current one
        (delete markers included) when ``version_id`` is None; None when there is none."""
        with self._read() as session:
            found = self._find_version(session, bucket.id, key, version_id)
            if found is None:
                return None
            strict = bucket.scan_policy == SCAN_STRICT
            return _stored(*found, versioned=bool(bucket.versioning), strict=strict)

    @retry_conflicts
    def delete_version(
        self, bucket: Bucket, key: str, version_id: str, actor: Actor
    ) -> StoredObject | None:
        """Remove one version (or delete marker) of ``key`` for good; None if there is none.

        Its chunks are released. When it was current, the newest remaining version becomes
        current (removing a delete marker so brings the key back); when none remains the
        key is gone.
        """
        with self._write() as session:
            obj = session.scalar(
                select(ObjectRow)
                .where(ObjectRow.bucket_id == bucket.id, ObjectRow.key == key)
                .with_for_update()
            )
            found = None if obj is None else self._find_version(session, bucket.id, key, version_id)
            if obj is None or found is None:
                return None
            version = found[1]
            removed = _stored(obj, version, versioned=True)
            session.delete(version)
            session.flush()
            self._drop_manifest(session, version.manifest_id)
            newest = session.scalar(
                select(VersionRow)
                .where(VersionRow.object_id == obj.id)
                .order_by(VersionRow.id.desc())
                .limit(1)
            )
            if newest is None:
                session.delete(obj)
                session.execute(
                    delete(DavPropertyRow).where(
                        DavPropertyRow.bucket_id == bucket.id, DavPropertyRow.path == key
                    )
                )
            elif removed.is_latest:
                newest.is_current = True
            self._record_changes(session, [self._version_removal(bucket, key, removed, newest)])
            self._audit(
                session, actor, "DeleteObjectVersion", bucket.name, key, removed.public_version_id
            )
            return removed

    @staticmethod
    def _version_removal(
        bucket: Bucket, key: str, removed: StoredObject, newest: VersionRow | None
    ) -> dict[str, Any]:
        """The change-feed row of removing the version ``removed`` of ``key``, when
        ``newest`` is the newest version left (now current if ``removed`` was)."""
        now = utc_now()
        where = (bucket.id, bucket.name)
        if not removed.is_latest:
            return change_feed.change(
                where, key, VERSION_DELETED, now, version_id=removed.version_id
            )
        if newest is None or newest.is_delete_marker:
            event = VERSION_DELETED if removed.is_delete_marker else DELETED
            return change_feed.change(where, key, event, now, version_id=removed.version_id)
        return change_feed.change(
            where,
            key,
            CREATED if removed.is_delete_marker else UPDATED,
            now,
            version_id=newest.version_id,
            size=newest.size,
            etag=newest.etag,
        )

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
        """Up to ``limit`` versions and delete markers of keys starting with ``prefix``, by
        key (UTF-8 byte order) then newest first, after the position given.

        The position is the key ``key_marker`` (all its versions are skipped, unless
        ``inclusive``), or with ``version_marker`` the version of that key that a client
        names: listing resumes right after it. NotFoundError when that version is unknown.
        """
        query = (
            select(ObjectRow, VersionRow)
            .join(VersionRow, VersionRow.object_id == ObjectRow.id)
            .where(ObjectRow.bucket_id == bucket.id, *starts_with(ObjectRow.key, prefix))
            .order_by(ObjectRow.key, VersionRow.id.desc())
            .limit(limit)
        )
        with self._read() as session:
            if key_marker is not None and version_marker is not None:
                found = self._find_version(session, bucket.id, key_marker, version_marker)
                if found is None:
                    raise NotFoundError(f"no version {version_marker!r} of {key_marker!r}")
                query = query.where(
                    or_(
                        ObjectRow.key > key_marker,
                        and_(ObjectRow.key == key_marker, VersionRow.id < found[1].id),
                    )
                )
            elif key_marker is not None:
                query = query.where(
                    ObjectRow.key >= key_marker if inclusive else ObjectRow.key > key_marker
                )
            return [
                _stored(obj, version, versioned=bool(bucket.versioning))
                for obj, version in session.execute(query)
                if obj.key.startswith(prefix)
            ]

    # --- folders: key prefixes as WebDAV presents them ---------------------------------

    @staticmethod
    def _path_condition(column: Any, path: str) -> list[Any]:
        """Rows of exactly the key ``path``, or of every key under it when it ends in ``/``.

        The empty path stands for the whole bucket.
        """
        if path and not path.endswith("/"):
            return [column == path]
        return starts_with(column, path)

    def _slash_position(self, text_expr: Any) -> Any:
        """1-based position of the first ``/`` in ``text_expr``, 0 when there is none."""
        if self._dialect == "postgresql":
            return func.strpos(text_expr, "/")
        return func.instr(text_expr, "/")

    def list_children(self, bucket_id: int, prefix: str) -> FolderListing:
        """The direct children of the folder ``prefix`` ("" or ending in ``/``), in one query.

        Files are the keys right under ``prefix``; a sub-folder is reported once, however
        many keys lie under it (its marker object included).
        """
        under = [
            ObjectRow.bucket_id == bucket_id,
            *self._path_condition(ObjectRow.key, prefix),
            ObjectRow.key != prefix,
        ]
        slash = self._slash_position(func.substr(ObjectRow.key, len(prefix) + 1))
        files = (
            select(
                ObjectRow.key,
                VersionRow.version_id,
                VersionRow.manifest_id,
                VersionRow.size,
                VersionRow.etag,
                VersionRow.created_at,
                VersionRow.content_type,
                VersionRow.user_metadata,
                VersionRow.headers,
            )
            .join(VersionRow, _live())
            .where(*under, slash == 0)
        )
        folder_key = func.substr(ObjectRow.key, 1, len(prefix) + slash)
        marker_time = func.max(case((ObjectRow.key == folder_key, VersionRow.created_at)))
        folders = (
            select(
                folder_key,
                null(),
                null(),
                null(),
                null(),
                func.coalesce(marker_time, func.max(VersionRow.created_at)),
                null(),
                null(),
                null(),
            )
            .join(VersionRow, _live())
            .where(*under, slash > 0)
            .group_by(folder_key)
        )
        found_files: list[StoredObject] = []
        found_folders: list[SubFolder] = []
        with self._read() as session:
            for row in session.execute(union_all(files, folders)):
                key, version_id, manifest_id, size, etag, created, ctype, meta, headers = row
                if version_id is None:
                    found_folders.append(SubFolder(key, _aware(created)))
                    continue
                found_files.append(
                    StoredObject(
                        bucket_id,
                        key,
                        version_id,
                        manifest_id,
                        size,
                        etag,
                        _aware(created),
                        ObjectAttributes(ctype, dict(meta or {}), dict(headers or {})),
                    )
                )
        found_files.sort(key=lambda obj: obj.key.encode())
        found_folders.sort(key=lambda folder: folder.prefix.encode())
        return FolderListing(tuple(found_files), tuple(found_folders))

    def _occupied(self, session: Session, bucket_id: int, path: str) -> bool:
        """Whether a visible key (not hidden by a delete marker) lies at or under ``path``."""
        found = session.scalar(
            select(ObjectRow.id)
            .join(VersionRow, _live())
            .where(ObjectRow.bucket_id == bucket_id, *self._path_condition(ObjectRow.key, path))
            .limit(1)
        )
        return found is not None

    def _clear_destination(
        self, session: Session, bucket: Bucket, path: str, actor: Actor, *, replace: bool
    ) -> bool:
        """Remove the file and the folder named like ``path``; True when there was one.

        Raises DestinationExistsError instead when something is there and not ``replace``.
        """
        name = path.rstrip("/")
        forms = [name + "/"] if not name else [name, name + "/"]
        present = [form for form in forms if self._occupied(session, bucket.id, form)]
        if present and not replace:
            raise DestinationExistsError(f"{bucket.name}/{name}")
        for form in present:
            self._delete_rows(session, bucket, form, actor)
        return bool(present)

    def _delete_rows(self, session: Session, bucket: Bucket, path: str, actor: Actor) -> int:
        """Delete the file ``path`` or the whole folder ``path``, properties included.

        In a bucket with versioning each visible key gets a delete marker instead, so its
        versions stay as S3 keeps them.
        """
        condition = self._path_condition(ObjectRow.key, path)
        doomed = session.execute(
            select(ObjectRow.id, ObjectRow.key, VersionRow.id, VersionRow.manifest_id)
            .join(VersionRow, _live())
            .where(ObjectRow.bucket_id == bucket.id, *condition)
        ).all()
        status = self._versioning(session, bucket.id)
        if status:
            for object_id, *_ in doomed:
                self._retire_current(session, object_id, status)
                self._add_delete_marker(session, object_id, status)
        else:
            for start in range(0, len(doomed), 500):
                batch = doomed[start : start + 500]
                session.execute(delete(VersionRow).where(VersionRow.id.in_([r[2] for r in batch])))
                self._drop_manifests(session, [r[3] for r in batch])
                session.execute(delete(ObjectRow).where(ObjectRow.id.in_([r[0] for r in batch])))
        session.execute(
            delete(DavPropertyRow).where(
                DavPropertyRow.bucket_id == bucket.id,
                *self._path_condition(DavPropertyRow.path, path),
            )
        )
        now = utc_now()
        if doomed:
            self._record_changes(
                session,
                [change_feed.change((bucket.id, bucket.name), r[1], DELETED, now) for r in doomed],
            )
            self._audit(session, actor, "Delete", bucket.name, path, f"{len(doomed)} objects")
        return len(doomed)

    def _keep_parent(self, session: Session, bucket: Bucket, path: str, actor: Actor) -> None:
        """Give the folder holding ``path`` a marker object when nothing else keeps it."""
        parent = path.rstrip("/").rpartition("/")[0]
        if parent and not self._occupied(session, bucket.id, parent + "/"):
            self._create_marker(session, bucket, parent + "/", actor)

    def _create_marker(self, session: Session, bucket: Bucket, prefix: str, actor: Actor) -> None:
        """Make the folder ``prefix`` exist on its own: an empty object of that name."""
        self._replace_current(
            session,
            bucket,
            prefix,
            self._new_manifest(session, []),
            EMPTY_MD5,
            ObjectAttributes(FOLDER_CONTENT_TYPE),
            actor,
            "CreateFolder",
        )

    @retry_conflicts
    def delete_path(self, bucket: Bucket, path: str, actor: Actor) -> int:
        """Delete the file ``path`` or the folder ``path`` (ending in ``/``) with everything
        in it, and the dead properties of all of them; return the number of objects.

        The folder that held ``path`` stays visible: it gets a marker object when nothing
        else lies under it any more. ``path`` "" empties the whole bucket.
        """
        with self._write() as session:
            count = self._delete_rows(session, bucket, path, actor)
            self._keep_parent(session, bucket, path, actor)
            return count

    @staticmethod
    def _check_paths(source: Bucket, path: str, target: Bucket, new_path: str) -> None:
        if path.endswith("/") != new_path.endswith("/") or not path or not new_path:
            raise ValueError("copy and move take two files or two folders, never a bucket")
        if source.id != target.id:
            return
        nested = path.startswith(new_path) or new_path.startswith(path)
        if path == new_path or (path.endswith("/") and nested):
            raise ConflictError("a folder cannot be copied or moved into or onto itself")
        if path.startswith(new_path.rstrip("/") + "/"):
            # Replacing the destination would delete the folder that holds the source.
            raise ConflictError("a file cannot be copied or moved onto a folder that holds it")

    @retry_conflicts
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
        """Rename the file ``path`` or the folder ``path`` (ending in ``/``) and everything
        in it to ``new_path`` in ``target``, in one transaction, without touching a byte.

        Dead properties move along; versions keep their ETags and modification times.
        Whatever was at the destination is removed first when ``replace``, otherwise
        DestinationExistsError is raised. The source's folder is kept as ``delete_path``
        keeps it. Returns the number of objects moved.

        When either bucket has versioning the move is a copy followed by a delete, so the
        source keys get delete markers and their history stays where S3 clients expect it.
        """
        self._check_paths(source, path, target, new_path)
        folder = path.endswith("/")
        with self._write() as session:
            self._clear_destination(session, target, new_path, actor, replace=replace)
            if self._versioning(session, source.id) or self._versioning(session, target.id):
                moved = self._copy_rows(session, source, path, target, new_path, actor, True)
                self._delete_rows(session, source, path, actor)
                self._keep_parent(session, source, path, actor)
                return moved
            condition = self._path_condition(ObjectRow.key, path)
            moving = session.execute(
                select(ObjectRow.key, VersionRow.version_id, VersionRow.size, VersionRow.etag)
                .join(VersionRow, _live())
                .where(ObjectRow.bucket_id == source.id, *condition)
            ).all()
            renamed_key = (
                literal(new_path, ObjectKey) + func.substr(ObjectRow.key, len(path) + 1)
                if folder
                else literal(new_path, ObjectKey)
            )
            session.execute(
                update(ObjectRow)
                .where(ObjectRow.bucket_id == source.id, *condition)
                .values(bucket_id=target.id, key=renamed_key)
                .execution_options(synchronize_session=False)
            )
            renamed_path = (
                literal(new_path, ObjectKey) + func.substr(DavPropertyRow.path, len(path) + 1)
                if folder
                else literal(new_path, ObjectKey)
            )
            session.execute(
                update(DavPropertyRow)
                .where(
                    DavPropertyRow.bucket_id == source.id,
                    *self._path_condition(DavPropertyRow.path, path),
                )
                .values(bucket_id=target.id, path=renamed_path)
                .execution_options(synchronize_session=False)
            )
            now = utc_now()
            if moving:
                self._record_changes(
                    session,
                    [
                        change_feed.change(
                            (target.id, target.name),
                            new_path + key[len(path) :],
                            MOVED,
                            now,
                            version_id=version_id,
                            size=size,
                            etag=etag,
                            source=(source.name, key),
                        )
                        for key, version_id, size, etag in moving
                    ],
                )
            self._audit(
                session,
                actor,
                "Move",
                source.name,
                path,
                f"to {target.name}/{new_path} ({len(moving)} objects)",
            )
            self._keep_parent(session, source, path, actor)
            return len(moving)

    @retry_conflicts
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
        """Copy the file ``path`` or the folder ``path`` (with everything in it unless not
        ``recursive``) to ``new_path`` in ``target``, in one transaction.

        Copies share the source's chunks: only manifest rows are written. Dead properties
        are copied too. Destination handling is ``move_path``'s. Returns the number of
        objects written (a copied folder always exists, with a marker if need be).
        """
        self._check_paths(source, path, target, new_path)
        with self._write() as session:
            self._clear_destination(session, target, new_path, actor, replace=replace)
            return self._copy_rows(session, source, path, target, new_path, actor, recursive)

    def _copy_rows(
        self,
        session: Session,
        source: Bucket,
        path: str,
        target: Bucket,
        new_path: str,
        actor: Actor,
        recursive: bool,
    ) -> int:
        """``copy_path``'s work inside ``session``, once the destination is clear."""
        folder = path.endswith("/")
        condition = (
            self._path_condition(ObjectRow.key, path)
            if recursive or not folder
            else [ObjectRow.key == path]
        )
        copying = session.execute(
            select(ObjectRow, VersionRow)
            .join(VersionRow, _live())
            .where(ObjectRow.bucket_id == source.id, *condition)
        ).all()
        for obj, version in copying:
            if version.quarantined:
                # A copy must not launder a quarantined version into a servable one.
                check_servable(_stored(obj, version))
        for obj, version in copying:
            self._replace_current(
                session,
                target,
                new_path + obj.key[len(path) :],
                self._copy_manifest(session, [version.manifest_id]),
                version.etag,
                _attributes(version),
                actor,
                "CopyObject",
            )
        written = len(copying)
        if folder and not self._occupied(session, target.id, new_path):
            self._create_marker(session, target, new_path, actor)
            written += 1
        property_rows = (
            self._path_condition(DavPropertyRow.path, path)
            if recursive or not folder
            else [DavPropertyRow.path == path]
        )
        session.execute(
            insert(DavPropertyRow).from_select(
                ["bucket_id", "path", "name", "value"],
                select(
                    literal(target.id),
                    literal(new_path, ObjectKey) + func.substr(DavPropertyRow.path, len(path) + 1),
                    DavPropertyRow.name,
                    DavPropertyRow.value,
                ).where(DavPropertyRow.bucket_id == source.id, *property_rows),
            )
        )
        return written

    # --- multipart uploads ------------------------------------------------------------

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
        """Start a multipart upload of ``key``."""
        with self._write() as session:
            row = UploadRow(
                upload_id=uuid.uuid4().hex + uuid.uuid4().hex[:8],
                bucket_id=bucket.id,
                key=key,
                owner_id=owner_id,
                content_type=attributes.content_type,
                user_metadata=dict(attributes.user_metadata),
                headers=dict(attributes.headers),
                canned_acl=attributes.canned_acl,
                created_at=utc_now(),
                **upload_columns(attributes, checksum_algorithm, checksum_type),
            )
            session.add(row)
            self._audit(session, actor, "CreateMultipartUpload", bucket.name, key)
            return upload_of(row, attributes, row.created_at)

    def get_upload(self, upload_id: str) -> Upload | None:
        """The upload with this id, or None when unknown, completed or aborted."""
        with self._read() as session:
            row = session.get(UploadRow, upload_id)
            if row is None:
                return None
            return upload_of(row, _attributes(row), _aware(row.created_at))

    def list_uploads(
        self,
        bucket_id: int,
        prefix: str = "",
        *,
        after: UploadCursor | None = None,
        limit: int | None = None,
    ) -> list[Upload]:
        """Up to ``limit`` uploads in progress in a bucket whose key starts with ``prefix``,
        after ``after``, by key, then start time, then upload id."""
        query = (
            select(UploadRow)
            .where(UploadRow.bucket_id == bucket_id, *starts_with(UploadRow.key, prefix))
            .order_by(UploadRow.key, UploadRow.created_at, UploadRow.upload_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(upload_cursor_condition(after))
        with self._read() as session:
            return [
                upload_of(r, _attributes(r), _aware(r.created_at)) for r in session.scalars(query)
            ]

    def expired_uploads(self, older_than: datetime, limit: int) -> list[Upload]:
        """Up to ``limit`` uploads started before ``older_than``, oldest first."""
        with self._read() as session:
            rows = session.scalars(
                select(UploadRow)
                .where(UploadRow.created_at < older_than)
                .order_by(UploadRow.created_at, UploadRow.upload_id)
                .limit(limit)
            )
            return [upload_of(r, _attributes(r), _aware(r.created_at)) for r in rows]

    @retry_conflicts
    def expire_upload(self, upload_id: str, older_than: datetime, actor: Actor) -> bool:
        """Abort the upload if it still exists and started before ``older_than``."""
        with self._write() as session:
            row = session.get(UploadRow, upload_id, with_for_update=True)
            if row is None or _aware(row.created_at) >= older_than:
                return False
            bucket = session.get(BucketRow, row.bucket_id)
            self._drop_upload(session, upload_id)
            self._audit(
                session, actor, "ExpireMultipartUpload", bucket.name if bucket else None, row.key
            )
            return True

    @retry_conflicts
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
        """Store a part, replacing an earlier one with the same number.

        Raises NotFoundError when the upload was completed or aborted meanwhile, or when
        ``source_manifest_id`` (the manifest of a copied part's source, whose chunks
        ``entries`` share) is gone.
        """
        with self._write() as session:
            upload = session.get(UploadRow, upload_id, with_for_update=True)
            if upload is None:
                raise NotFoundError(upload_id)
            source_gone = source_manifest_id is not None and (
                session.get(ManifestRow, source_manifest_id) is None
            )
            if source_gone:
                raise NotFoundError("the source object changed during the copy")
            old = session.get(PartRow, (upload_id, part_number))
            if old is not None:
                session.delete(old)
                session.flush()
                self._drop_manifest(session, old.manifest_id)
            manifest = self._new_manifest(session, entries)
            row = PartRow(
                upload_id=upload_id,
                part_number=part_number,
                manifest_id=manifest.id,
                size=manifest.size,
                etag=etag,
                created_at=utc_now(),
                checksum_algorithm=checksum.algorithm if checksum else None,
                checksum=checksum.value if checksum else None,
            )
            session.add(row)
            return part_of(row, row.created_at)

    def list_parts(self, upload_id: str, *, after: int = 0, limit: int | None = None) -> list[Part]:
        """Up to ``limit`` parts uploaded so far numbered above ``after``, by part number."""
        with self._read() as session:
            rows = session.scalars(
                select(PartRow)
                .where(PartRow.upload_id == upload_id, PartRow.part_number > after)
                .order_by(PartRow.part_number)
                .limit(limit)
            )
            return [part_of(r, _aware(r.created_at)) for r in rows]

    def manifest_entries(self, manifest_id: int, start: int, end: int) -> list[ManifestEntry]:
        """The entries of a manifest overlapping plain bytes ``[start, end)``, in order."""
        with self._read() as session:
            rows = session.execute(
                select(ManifestEntryRow.offset, ManifestEntryRow.length, ManifestEntryRow.chunk_id)
                .where(
                    ManifestEntryRow.manifest_id == manifest_id,
                    ManifestEntryRow.offset < end,
                    ManifestEntryRow.offset + ManifestEntryRow.length > start,
                )
                .order_by(ManifestEntryRow.seq)
            )
            return [ManifestEntry(*row) for row in rows]

    @retry_conflicts
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
        NotFoundError when the upload was completed or aborted meanwhile.
        """
        with self._write() as session:
            if session.get(UploadRow, upload.upload_id, with_for_update=True) is None:
                raise NotFoundError(upload.upload_id)
            manifests = {
                p.part_number: p.manifest_id
                for p in session.scalars(
                    select(PartRow).where(PartRow.upload_id == upload.upload_id)
                )
            }
            manifest = self._copy_manifest(session, [manifests[n] for n in part_numbers])
            self._drop_upload(session, upload.upload_id)
            return self._replace_current(
                session,
                bucket,
                upload.key,
                manifest,
                etag,
                upload.attributes,
                actor,
                "CompleteMultipartUpload",
                checksum=checksum,
                parts=parts,
                condition=condition,
            )

    @retry_conflicts
    def abort_upload(self, upload: Upload, bucket: Bucket, actor: Actor) -> bool:
        """Discard an upload and its parts; False when it no longer exists."""
        with self._write() as session:
            if session.get(UploadRow, upload.upload_id, with_for_update=True) is None:
                return False
            self._drop_upload(session, upload.upload_id)
            self._audit(session, actor, "AbortMultipartUpload", bucket.name, upload.key)
            return True

    def _drop_upload(self, session: Session, upload_id: str) -> None:
        manifests = list(
            session.scalars(select(PartRow.manifest_id).where(PartRow.upload_id == upload_id))
        )
        session.execute(delete(PartRow).where(PartRow.upload_id == upload_id))
        for manifest_id in manifests:
            self._drop_manifest(session, manifest_id)
        session.execute(delete(UploadRow).where(UploadRow.upload_id == upload_id))

    # --- change feed and audit ----------------------------------------------------------

    # --- malware scan state ------------------------------------------------------------

    def set_bucket_scan_policy(self, bucket: Bucket, policy: str, actor: Actor) -> Bucket:
        """Set the bucket's scan policy ("async" or "strict"); applies to every read from
        now on, of old versions too."""
        with self._write() as session:
            session.execute(
                update(BucketRow).where(BucketRow.id == bucket.id).values(scan_policy=policy)
            )
            self._audit(session, actor, "SetScanPolicy", bucket.name, None, policy)
        return replace(bucket, scan_policy=policy)

    def scan_target(self, version_id: str) -> tuple[str, StoredObject] | None:
        """The bucket name and the version whose internal id is ``version_id``, or None
        when it is gone (deleted or replaced without versioning)."""
        with self._read() as session:
            found = session.execute(
                select(ObjectRow, VersionRow, BucketRow.name)
                .join(VersionRow, VersionRow.object_id == ObjectRow.id)
                .join(BucketRow, BucketRow.id == ObjectRow.bucket_id)
                .where(VersionRow.version_id == version_id)
            ).first()
            return (found[2], _stored(found[0], found[1])) if found else None

    def record_verdict(
        self,
        version_id: str,
        status: str,
        signature: str | None,
        *,
        quarantined: bool,
        actor: Actor,
    ) -> bool:
        """Record the scan verdict of a pending version; False when it is gone or has a
        verdict already (a repeated job). A quarantine adds a change-feed row (event
        ``quarantined``) and an audit row in the same transaction."""
        now = utc_now()
        with self._write() as session:
            found = session.execute(
                select(ObjectRow, VersionRow, BucketRow.name)
                .join(VersionRow, VersionRow.object_id == ObjectRow.id)
                .join(BucketRow, BucketRow.id == ObjectRow.bucket_id)
                .where(VersionRow.version_id == version_id)
            ).first()
            if found is None:
                return False
            obj, version, bucket_name = found
            result = session.execute(
                update(VersionRow)
                .where(VersionRow.id == version.id, VersionRow.scan_status == SCAN_PENDING)
                .values(
                    scan_status=status,
                    scan_signature=signature,
                    quarantined=quarantined,
                    scanned_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            if quarantined:
                self._record_changes(
                    session,
                    [
                        change_feed.change(
                            (obj.bucket_id, bucket_name),
                            obj.key,
                            QUARANTINED,
                            now,
                            version_id=version_id,
                            size=version.size,
                            etag=version.etag,
                        )
                    ],
                )
                self._audit(
                    session,
                    actor,
                    "Quarantine",
                    bucket_name,
                    obj.key,
                    f"{status}: {signature}; version {version_id}",
                )
            return True

    def quarantined_versions(self, limit: int = 1000) -> list[tuple[str, StoredObject]]:
        """Quarantined versions with their bucket names, by bucket, key and version."""
        with self._read() as session:
            found = session.execute(
                select(ObjectRow, VersionRow, BucketRow.name)
                .join(VersionRow, VersionRow.object_id == ObjectRow.id)
                .join(BucketRow, BucketRow.id == ObjectRow.bucket_id)
                .where(VersionRow.quarantined)
                .order_by(BucketRow.name, ObjectRow.key, VersionRow.id)
                .limit(limit)
            ).all()
            return [(name, _stored(obj, version)) for obj, version, name in found]

    def _record_changes(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        """Append change-feed rows after flushing the session's pending work (see
        ``change_feed.record_changes``: nothing but audit rows may follow)."""
        session.flush()
        change_feed.record_changes(session.connection(), rows)

    def last_change_id(self) -> int:
        """The highest change-feed id committed (0 for an empty feed)."""
        with self._connection() as connection:
            return change_feed.last_id(connection)

    def changes(
        self,
        after_id: int,
        limit: int,
        *,
        reader_id: int | None = None,
        bucket: Bucket | None = None,
    ) -> ChangePage:
        """Up to ``limit`` change-feed rows after ``after_id`` that ``reader_id`` may see
        now and that belong to ``bucket``, in id order; see ``change_feed`` for why no
        reader resuming from ``last_id`` misses a row."""
        top = self.last_change_id()
        if top <= after_id:
            return ChangePage((), after_id, False)
        if self._dialect == "postgresql":
            with self._engine.begin() as connection:
                change_feed.wait_for_writers(connection)
        conditions = []
        if reader_id is not None:
            conditions.append(change_feed.visible_to(reader_id))
        if bucket is not None:
            conditions.append(change_feed.of_bucket(bucket))
        with self._connection() as connection:
            rows = change_feed.read_page(connection, after_id, top, limit + 1, conditions)
        if len(rows) > limit:
            return ChangePage(tuple(rows[:limit]), rows[limit - 1].id, True)
        return ChangePage(tuple(rows), top, False)

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit rows, newest first."""
        with self._read() as session:
            rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit))
            return [
                {
                    "at": _aware(r.at),
                    "user_id": r.user_id,
                    "access_key_id": r.access_key_id,
                    "protocol": r.protocol,
                    "action": r.action,
                    "bucket": r.bucket,
                    "key": r.key,
                    "detail": r.detail,
                    "request_id": r.request_id,
                }
                for r in rows
            ]

    def record_audit(self, actor: Actor, action: str, detail: str | None = None) -> None:
        """Record an administrative action that changes no namespace row."""
        with self._write() as session:
            self._audit(session, actor, action, None, None, detail)

    @staticmethod
    def _audit(
        session: Session,
        actor: Actor,
        action: str,
        bucket: str | None,
        key: str | None = None,
        detail: str | None = None,
    ) -> None:
        version_commit.record_audit(
            session.connection(), actor, action, bucket, key, detail, now=utc_now()
        )
