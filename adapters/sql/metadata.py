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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Engine,
    and_,
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

from adapters.sql.models import (
    AccessKeyRow,
    ApiTokenRow,
    AuditRow,
    BucketRow,
    ChangeRow,
    ChunkRow,
    DavPropertyRow,
    ManifestEntryRow,
    ManifestRow,
    ObjectKey,
    ObjectRow,
    PartRow,
    UploadRow,
    UserRow,
    VersionRow,
)
from adapters.sql.repository import SqlRepository, starts_with
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
    SubFolder,
    Upload,
    User,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """Every stored time is UTC: SQLite returns it naive, PostgreSQL in the session's zone."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _user(row: UserRow) -> User:
    return User(row.id, row.name, row.is_admin, _aware(row.created_at), row.password_hash)


def _chunk(row: ChunkRow) -> Chunk:
    return Chunk(row.id, row.content_id, row.size, row.stored_size, row.backend_key, row.refcount)


def _attributes(row: VersionRow | UploadRow) -> ObjectAttributes:
    return ObjectAttributes(row.content_type, dict(row.user_metadata), dict(row.headers))


def _stored(obj: ObjectRow, version: VersionRow) -> StoredObject:
    return StoredObject(
        bucket_id=obj.bucket_id,
        key=obj.key,
        version_id=version.version_id,
        manifest_id=version.manifest_id,
        size=version.size,
        etag=version.etag,
        last_modified=_aware(version.created_at),
        attributes=_attributes(version),
    )


class SqlMetadata(SqlRepository):
    """Metadata repository over one SQLAlchemy engine (implements ``ports.MetadataStore``)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._dialect = engine.dialect.name

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
                    name=name, password_hash=password_hash, is_admin=is_admin, created_at=_now()
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
                    access_key_id=access_key_id, user_id=user.id, secret=secret, created_at=_now()
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
                .values(revoked_at=_now())
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no access key {access_key_id!r}")

    def lookup_access_key(self, access_key_id: str) -> tuple[AccessKey, User] | None:
        """The active (not revoked) key with this id and its user, secret included."""
        query = (
            select(AccessKeyRow, UserRow)
            .join(UserRow)
            .where(AccessKeyRow.access_key_id == access_key_id, AccessKeyRow.revoked_at.is_(None))
        )
        with self._read() as session:
            found = session.execute(query).first()
            if found is None:
                return None
            key, user = found
            return (
                AccessKey(key.access_key_id, user.name, _aware(key.created_at), None, key.secret),
                _user(user),
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
                created_at=_now(),
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
                .values(revoked_at=_now())
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
                or_(ApiTokenRow.expires_at.is_(None), ApiTokenRow.expires_at > _now()),
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
            row.id, row.name, row.owner_id, owner, _aware(row.created_at), row.anonymous_read
        )

    def set_bucket_anonymous_read(self, bucket: Bucket, allowed: bool, actor: Actor) -> Bucket:
        """Let clients without credentials read the bucket (``allowed``) or stop them."""
        with self._write() as session:
            session.execute(
                update(BucketRow).where(BucketRow.id == bucket.id).values(anonymous_read=allowed)
            )
            self._audit(session, actor, "SetAnonymousRead", bucket.name, None, str(allowed))
        return replace(bucket, anonymous_read=allowed)

    def create_bucket(self, name: str, owner_id: int, actor: Actor) -> Bucket:
        """Create a bucket; raise BucketAlreadyExistsError (with the current owner) if taken."""
        try:
            with self._write() as session:
                row = BucketRow(name=name, owner_id=owner_id, created_at=_now())
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

    def get_bucket(self, name: str) -> Bucket | None:
        """The bucket called ``name``, or None."""
        with self._read() as session:
            found = session.execute(self._bucket_query().where(BucketRow.name == name)).first()
            return self._bucket(*found) if found else None

    def list_buckets(self, owner_id: int | None = None) -> list[Bucket]:
        """Buckets of one owner (or all), by name."""
        query = self._bucket_query().order_by(BucketRow.name)
        if owner_id is not None:
            query = query.where(BucketRow.owner_id == owner_id)
        with self._read() as session:
            return [self._bucket(*found) for found in session.execute(query)]

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

    # --- chunks ----------------------------------------------------------------------

    def touch_chunk(self, content_id: str) -> Chunk | None:
        """Mark a chunk as in use now (so GC spares it) and return it; None if absent."""
        with self._write() as session:
            result = session.execute(
                update(ChunkRow).where(ChunkRow.content_id == content_id).values(touched_at=_now())
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                return None
            row = session.scalar(select(ChunkRow).where(ChunkRow.content_id == content_id))
            return _chunk(row) if row else None

    def add_chunk(
        self, content_id: str, size: int, stored_size: int, backend_key: str
    ) -> tuple[Chunk, bool]:
        """Record a stored chunk with refcount 0.

        Returns ``(chunk, created)``. When another writer recorded the same content
        first, returns that chunk (touched) and ``created`` False; the caller's blob under
        ``backend_key`` is then unreferenced and the caller should delete it.
        """
        now = _now()
        values = {
            "content_id": content_id,
            "size": size,
            "stored_size": stored_size,
            "backend_key": backend_key,
            "refcount": 0,
            "created_at": now,
            "touched_at": now,
        }
        with self._write() as session:
            statement = self._insert(ChunkRow).values(**values)
            result = session.execute(statement.on_conflict_do_nothing())
            created = bool(result.rowcount)  # type: ignore[attr-defined]
            if not created:
                session.execute(
                    update(ChunkRow).where(ChunkRow.content_id == content_id).values(touched_at=now)
                )
            row = session.scalar(select(ChunkRow).where(ChunkRow.content_id == content_id))
            assert row is not None
            return _chunk(row), created

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

    def stats(self) -> StorageStats:
        """Totals of objects and chunks."""
        with self._read() as session:
            objects, logical = session.execute(
                select(func.count(), func.coalesce(func.sum(VersionRow.size), 0)).where(
                    VersionRow.is_current
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

    def _new_manifest(self, session: Session, entries: Sequence[ManifestEntry]) -> ManifestRow:
        manifest = ManifestRow(size=sum(e.length for e in entries), created_at=_now())
        session.add(manifest)
        session.flush()
        if entries:
            session.execute(
                insert(ManifestEntryRow),
                [
                    {
                        "manifest_id": manifest.id,
                        "seq": seq,
                        "offset": e.offset,
                        "length": e.length,
                        "chunk_id": e.chunk_id,
                    }
                    for seq, e in enumerate(entries)
                ],
            )
        self._adjust_refcounts(session, manifest.id, +1)
        return manifest

    def _copy_manifest(self, session: Session, source_ids: Sequence[int]) -> ManifestRow:
        """A new manifest holding the entries of ``source_ids`` one after the other."""
        manifest = ManifestRow(size=0, created_at=_now())
        session.add(manifest)
        session.flush()
        seq_base = offset_base = 0
        for source_id in source_ids:
            count, size = session.execute(
                select(func.count(), func.coalesce(func.sum(ManifestEntryRow.length), 0)).where(
                    ManifestEntryRow.manifest_id == source_id
                )
            ).one()
            session.execute(
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
            seq_base += int(count)
            offset_base += int(size)
        manifest.size = offset_base
        self._adjust_refcounts(session, manifest.id, +1)
        return manifest

    def _adjust_refcounts(
        self, session: Session, manifest_ids: int | Sequence[int], sign: int
    ) -> None:
        """Add ``sign`` times each chunk's number of entries in the manifests to its refcount."""
        ids = [manifest_ids] if isinstance(manifest_ids, int) else list(manifest_ids)
        per_chunk = (
            select(func.count())
            .where(
                ManifestEntryRow.manifest_id.in_(ids),
                ManifestEntryRow.chunk_id == ChunkRow.id,
            )
            .correlate(ChunkRow)
            .scalar_subquery()
        )
        values: dict[str, Any] = {"refcount": ChunkRow.refcount + sign * per_chunk}
        if sign < 0:
            # The grace period of a chunk that just lost its last reference starts now.
            values["touched_at"] = _now()
        session.execute(
            update(ChunkRow)
            .where(
                ChunkRow.id.in_(
                    select(ManifestEntryRow.chunk_id).where(ManifestEntryRow.manifest_id.in_(ids))
                )
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def _drop_manifest(self, session: Session, manifest_id: int) -> None:
        self._drop_manifests(session, [manifest_id])

    def _drop_manifests(self, session: Session, manifest_ids: Sequence[int]) -> None:
        """Delete manifests and their entries, releasing one reference per entry."""
        if manifest_ids:
            self._adjust_refcounts(session, manifest_ids, -1)
            session.execute(
                delete(ManifestEntryRow).where(ManifestEntryRow.manifest_id.in_(manifest_ids))
            )
            session.execute(delete(ManifestRow).where(ManifestRow.id.in_(manifest_ids)))

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
            .join(VersionRow, and_(VersionRow.object_id == ObjectRow.id, VersionRow.is_current))
            .where(ObjectRow.bucket_id == bucket_id, ObjectRow.key == key)
        ).first()
        return (found[0], found[1]) if found else None

    def get_object(self, bucket_id: int, key: str) -> StoredObject | None:
        """The current version of ``key``, or None."""
        with self._read() as session:
            found = self._current(session, bucket_id, key)
            return _stored(*found) if found else None

    def _lock_object(self, session: Session, bucket_id: int, key: str) -> ObjectRow:
        """The object row of ``key``, created if needed, locked until the transaction ends."""
        session.execute(
            self._insert(ObjectRow).values(bucket_id=bucket_id, key=key).on_conflict_do_nothing()
        )
        row = session.scalar(
            select(ObjectRow)
            .where(ObjectRow.bucket_id == bucket_id, ObjectRow.key == key)
            .with_for_update()
        )
        assert row is not None
        return row

    def _replace_current(
        self,
        session: Session,
        bucket: Bucket,
        key: str,
        manifest: ManifestRow,
        etag: str,
        attributes: ObjectAttributes,
        actor: Actor,
        action: str,
    ) -> StoredObject:
        obj = self._lock_object(session, bucket.id, key)
        old = session.scalar(
            select(VersionRow).where(VersionRow.object_id == obj.id, VersionRow.is_current)
        )
        if old is not None:
            session.delete(old)
            session.flush()
            self._drop_manifest(session, old.manifest_id)
        version = VersionRow(
            object_id=obj.id,
            version_id=uuid.uuid4().hex,
            manifest_id=manifest.id,
            is_current=True,
            size=manifest.size,
            etag=etag,
            content_type=attributes.content_type,
            user_metadata=dict(attributes.user_metadata),
            headers=dict(attributes.headers),
            created_at=_now(),
        )
        session.add(version)
        session.flush()
        session.add(
            ChangeRow(
                bucket=bucket.name,
                key=key,
                event="put",
                version_id=version.version_id,
                size=version.size,
                etag=etag,
                at=version.created_at,
            )
        )
        self._audit(session, actor, action, bucket.name, key)
        return _stored(obj, version)

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
        with self._write() as session:
            manifest = self._new_manifest(session, entries)
            return self._replace_current(
                session, bucket, key, manifest, etag, attributes, actor, "PutObject"
            )

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
            if session.get(ManifestRow, source.manifest_id) is None:
                raise NotFoundError("the source object changed during the copy")
            manifest = self._copy_manifest(session, [source.manifest_id])
            return self._replace_current(
                session, bucket, key, manifest, source.etag, attributes, actor, "CopyObject"
            )

    def delete_object(self, bucket: Bucket, key: str, actor: Actor) -> bool:
        """Delete the current version of ``key``; False when there was none."""
        with self._write() as session:
            found = self._current(session, bucket.id, key)
            if found is None:
                return False
            obj, version = found
            session.delete(version)
            session.flush()
            self._drop_manifest(session, version.manifest_id)
            session.delete(obj)
            session.execute(
                delete(DavPropertyRow).where(
                    DavPropertyRow.bucket_id == bucket.id, DavPropertyRow.path == key
                )
            )
            session.add(
                ChangeRow(bucket=bucket.name, key=key, event="delete", version_id=None, at=_now())
            )
            self._audit(session, actor, "DeleteObject", bucket.name, key)
            return True

    def list_objects(
        self, bucket_id: int, prefix: str, after: str | None, limit: int, *, inclusive: bool = False
    ) -> list[StoredObject]:
        """Up to ``limit`` current objects whose key starts with ``prefix`` and sorts
        after ``after`` (or at it, when ``inclusive``), in UTF-8 byte order of keys."""
        query = (
            select(ObjectRow, VersionRow)
            .join(VersionRow, and_(VersionRow.object_id == ObjectRow.id, VersionRow.is_current))
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
            obj = session.scalar(
                select(ObjectRow)
                .where(ObjectRow.bucket_id == bucket.id, ObjectRow.key == key)
                .with_for_update()
            )
            version = (
                None
                if obj is None
                else session.scalar(
                    select(VersionRow).where(VersionRow.object_id == obj.id, VersionRow.is_current)
                )
            )
            if obj is None or version is None:
                return None
            version.user_metadata = {**version.user_metadata, **changes}
            self._audit(session, actor, "UpdateMetadata", bucket.name, key)
            session.flush()
            return _stored(obj, version)

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
            .join(VersionRow, and_(VersionRow.object_id == ObjectRow.id, VersionRow.is_current))
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
            .join(VersionRow, and_(VersionRow.object_id == ObjectRow.id, VersionRow.is_current))
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
        return bool(
            session.scalar(
                select(
                    exists().where(
                        ObjectRow.bucket_id == bucket_id,
                        *self._path_condition(ObjectRow.key, path),
                    )
                )
            )
        )

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
        """Delete the file ``path`` or the whole folder ``path``, properties included."""
        condition = self._path_condition(ObjectRow.key, path)
        doomed = session.execute(
            select(ObjectRow.id, ObjectRow.key, VersionRow.id, VersionRow.manifest_id)
            .join(VersionRow, and_(VersionRow.object_id == ObjectRow.id, VersionRow.is_current))
            .where(ObjectRow.bucket_id == bucket.id, *condition)
        ).all()
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
        now = _now()
        if doomed:
            session.execute(
                insert(ChangeRow),
                [
                    {"bucket": bucket.name, "key": r[1], "event": "delete", "at": now}
                    for r in doomed
                ],
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
        nested = path.startswith(new_path) or new_path.startswith(path)
        if source.id == target.id and (path == new_path or (path.endswith("/") and nested)):
            raise ConflictError("a folder cannot be copied or moved into or onto itself")

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
        """
        self._check_paths(source, path, target, new_path)
        folder = path.endswith("/")
        with self._write() as session:
            self._clear_destination(session, target, new_path, actor, replace=replace)
            condition = self._path_condition(ObjectRow.key, path)
            moving = session.execute(
                select(ObjectRow.key, VersionRow.version_id, VersionRow.size, VersionRow.etag)
                .join(VersionRow, and_(VersionRow.object_id == ObjectRow.id, VersionRow.is_current))
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
            now = _now()
            if moving:
                session.execute(
                    insert(ChangeRow),
                    [
                        {
                            "bucket": target.name,
                            "key": new_path + key[len(path) :],
                            "event": "move",
                            "version_id": version_id,
                            "size": size,
                            "etag": etag,
                            "at": now,
                            "source_bucket": source.name,
                            "source_key": key,
                        }
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
        folder = path.endswith("/")
        with self._write() as session:
            self._clear_destination(session, target, new_path, actor, replace=replace)
            condition = (
                self._path_condition(ObjectRow.key, path)
                if recursive or not folder
                else [ObjectRow.key == path]
            )
            copying = session.execute(
                select(ObjectRow, VersionRow)
                .join(VersionRow, and_(VersionRow.object_id == ObjectRow.id, VersionRow.is_current))
                .where(ObjectRow.bucket_id == source.id, *condition)
            ).all()
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
                        literal(new_path, ObjectKey)
                        + func.substr(DavPropertyRow.path, len(path) + 1),
                        DavPropertyRow.name,
                        DavPropertyRow.value,
                    ).where(DavPropertyRow.bucket_id == source.id, *property_rows),
                )
            )
            return written

    # --- multipart uploads ------------------------------------------------------------

    def create_upload(
        self, bucket: Bucket, key: str, owner_id: int, attributes: ObjectAttributes, actor: Actor
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
                created_at=_now(),
            )
            session.add(row)
            self._audit(session, actor, "CreateMultipartUpload", bucket.name, key)
            return Upload(row.upload_id, bucket.id, key, owner_id, row.created_at, attributes)

    def get_upload(self, upload_id: str) -> Upload | None:
        """The upload with this id, or None when unknown, completed or aborted."""
        with self._read() as session:
            row = session.get(UploadRow, upload_id)
            if row is None:
                return None
            return Upload(
                row.upload_id,
                row.bucket_id,
                row.key,
                row.owner_id,
                _aware(row.created_at),
                _attributes(row),
            )

    def list_uploads(self, bucket_id: int) -> list[Upload]:
        """Uploads in progress in a bucket, by key then start time."""
        with self._read() as session:
            rows = session.scalars(
                select(UploadRow)
                .where(UploadRow.bucket_id == bucket_id)
                .order_by(UploadRow.key, UploadRow.created_at)
            )
            return [
                Upload(
                    r.upload_id,
                    r.bucket_id,
                    r.key,
                    r.owner_id,
                    _aware(r.created_at),
                    _attributes(r),
                )
                for r in rows
            ]

    def put_part(
        self, upload_id: str, part_number: int, entries: Sequence[ManifestEntry], etag: str
    ) -> Part:
        """Store a part, replacing an earlier one with the same number.

        Raises NotFoundError when the upload was completed or aborted meanwhile.
        """
        with self._write() as session:
            upload = session.get(UploadRow, upload_id, with_for_update=True)
            if upload is None:
                raise NotFoundError(upload_id)
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
                created_at=_now(),
            )
            session.add(row)
            return Part(part_number, manifest.id, manifest.size, etag, row.created_at)

    def list_parts(self, upload_id: str) -> list[Part]:
        """The parts uploaded so far, by part number."""
        with self._read() as session:
            rows = session.scalars(
                select(PartRow).where(PartRow.upload_id == upload_id).order_by(PartRow.part_number)
            )
            return [
                Part(r.part_number, r.manifest_id, r.size, r.etag, _aware(r.created_at))
                for r in rows
            ]

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
        with self._write() as session:
            if session.get(UploadRow, upload.upload_id, with_for_update=True) is None:
                raise NotFoundError(upload.upload_id)
            parts = {
                p.part_number: p.manifest_id
                for p in session.scalars(
                    select(PartRow).where(PartRow.upload_id == upload.upload_id)
                )
            }
            manifest = self._copy_manifest(session, [parts[n] for n in part_numbers])
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
            )

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

    def changes(self, after_id: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Change-feed rows after ``after_id``, oldest first."""
        with self._read() as session:
            rows = session.scalars(
                select(ChangeRow).where(ChangeRow.id > after_id).order_by(ChangeRow.id).limit(limit)
            )
            return [
                {
                    "id": r.id,
                    "bucket": r.bucket,
                    "key": r.key,
                    "event": r.event,
                    "version_id": r.version_id,
                    "size": r.size,
                    "etag": r.etag,
                    "at": _aware(r.at),
                }
                for r in rows
            ]

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
        session.add(
            AuditRow(
                at=_now(),
                user_id=actor.user_id,
                access_key_id=actor.access_key_id,
                protocol=actor.protocol,
                action=action,
                bucket=bucket,
                key=key,
                detail=detail,
                request_id=actor.request_id,
                remote_addr=actor.remote_addr,
            )
        )
