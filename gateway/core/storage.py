"""The namespace service: every operation the front ends offer, on buckets and objects.

Front ends authenticate the caller and translate their protocol; this module
authorizes (a bucket belongs to the user who created it), validates names and
part lists, streams bodies through the writer and commits through the metadata
port. It never sees HTTP and never touches SQL or the backend directly.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from itertools import pairwise

from gateway.core.bucket_access import Access, require
from gateway.core.buffer_pool import BufferPool
from gateway.core.checksums import multipart_checksum
from gateway.core.chunk_store import ChunkStore
from gateway.core.chunker import BLOCK_SIZE, ChunkSizes
from gateway.core.keyring import Keyring
from gateway.core.names import check_bucket_name, check_key, common_prefix, key_successor
from gateway.core.part_copy import DigestFactory, copy_range
from gateway.core.reader import ObjectStream, RangeReader
from gateway.core.scanning import SCAN_POLICIES, check_servable
from gateway.core.upload_listing import UploadListing, list_uploads
from gateway.core.write_conditions import enforce
from gateway.core.writer import ObjectWriter, Readable, WrittenBody
from gateway.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ChecksumMismatchError,
    DeleteMarkerError,
    EntityTooSmallError,
    IncompleteBodyError,
    InvalidPartError,
    InvalidPartOrderError,
    NotFoundError,
    ObjectNotFoundError,
    UploadNotFoundError,
    VersionNotFoundError,
)
from gateway.ports import BlobStore, MetadataStore
from gateway.records import (
    Actor,
    Bucket,
    Checksum,
    ObjectAttributes,
    ObjectPart,
    Part,
    StorageStats,
    StoredObject,
    Upload,
    User,
    WriteCondition,
)

MIN_PART_SIZE = 5 * 1024 * 1024
# How many of the writers' chunker blocks are kept for reuse between uploads.
IDLE_WRITE_BLOCKS = 4
MAX_PART_NUMBER = 10_000


@dataclass(frozen=True)
class Listing:
    """One page of a listing: objects and rolled-up common prefixes, both in key order."""

    objects: tuple[StoredObject, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    # The last key or common prefix returned: where the next page starts (exclusive).
    next_after: str | None


@dataclass(frozen=True)
class CompletedPart:
    """A part named in a completion request, with the ETag the client saw."""

    part_number: int
    etag: str
    # The part's checksum in the upload's algorithm, when the request gave it.
    checksum: str | None = None


# Returns the verified checksum of a body read to its end (None when it declared none).
BodyChecksum = Callable[[], Checksum | None]


def multipart_etag(part_md5s: Sequence[str]) -> str:
    """S3's ETag of a multipart object: MD5 of the parts' binary MD5s, ``-`` part count."""
    digest = hashlib.md5(usedforsecurity=False)
    for md5_hex in part_md5s:
        digest.update(bytes.fromhex(md5_hex))
    return f"{digest.hexdigest()}-{len(part_md5s)}"


def _object_checksum(
    upload: Upload, chosen: Sequence[Part]
) -> tuple[Checksum | None, tuple[ObjectPart, ...]]:
    """The checksum of the object completed from ``chosen``, and its parts' record.

    Parts keep a checksum only in the upload's algorithm; an upload without one gives
    an object without checksum. InvalidPartError when a part lacks the upload's checksum.
    """
    algorithm = upload.checksum_algorithm
    parts = tuple(
        ObjectPart(
            p.part_number,
            p.size,
            p.checksum.value if p.checksum and p.checksum.algorithm == algorithm else None,
        )
        for p in chosen
    )
    if algorithm is None or upload.checksum_type is None:
        return None, parts
    values: list[tuple[str, int]] = []
    for part in parts:
        if part.checksum is None:
            raise InvalidPartError(f"part {part.number} has no {algorithm} checksum")
        values.append((part.checksum, part.size))
    return multipart_checksum(algorithm, upload.checksum_type, values), parts


class Storage:
    """Buckets and objects over chunked, deduplicated storage. Thread-safe."""

    def __init__(
        self,
        metadata: MetadataStore,
        blobs: BlobStore,
        *,
        chunk_avg_size: int = 1 << 20,
        compression_level: int = 3,
        workers: int = 8,
        keyring: Keyring | None = None,
    ) -> None:
        self.metadata = metadata
        self.blobs = blobs
        # With a keyring every chunk is sealed under its bucket owner's keys.
        self.chunks = ChunkStore(blobs, metadata, compression_level, keyring)
        self._sizes = ChunkSizes.around(chunk_avg_size)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunks")
        # Each upload's MD5 runs in order on one of these single-thread lanes, so
        # concurrent uploads hash on as many cores as there are.
        self._digest_lanes = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="md5")
            for _ in range(os.cpu_count() or 1)
        ]
        self._next_lane = itertools.cycle(self._digest_lanes)
        # Writers' blocks outlive their upload here, so the next upload (a multipart
        # part, say) receives into memory that is already mapped.
        self._blocks = BufferPool(idle_bytes=IDLE_WRITE_BLOCKS * BLOCK_SIZE)
        self._reader = RangeReader(metadata, self.chunks, self._executor)

    def close(self) -> None:
        """Stop the worker threads and release the metadata and backend connections."""
        for executor in (self._executor, *self._digest_lanes):
            executor.shutdown(wait=True, cancel_futures=True)
        self.metadata.close()
        self.blobs.close()

    # --- buckets -----------------------------------------------------------------------

    def create_bucket(self, user: User, name: str, actor: Actor) -> Bucket:
        """Create bucket ``name`` owned by ``user``.

        Raises InvalidNameError, or BucketAlreadyExistsError (its ``owner_id`` tells
        whether the caller already owns it).
        """
        check_bucket_name(name)
        return self.metadata.create_bucket(name, user.id, actor)

    def list_buckets(self, user: User) -> list[Bucket]:
        """The buckets ``user`` owns."""
        return self.metadata.list_buckets(user.id)

    def bucket(self, user: User, name: str, needed: Access) -> Bucket:
        """The bucket ``name`` if ``user`` has ``needed`` access to it (see
        ``bucket_access``), read with the user's grant in one statement;
        BucketNotFoundError or AccessDeniedError."""
        bucket = self.metadata.get_bucket(name, for_user=user.id)
        if bucket is None:
            raise BucketNotFoundError(name)
        return require(bucket, user, needed)

    def readable_buckets(self, user: User) -> list[Bucket]:
        """The buckets ``user`` owns and those granted to them, by name."""
        found = self.metadata.list_buckets(user.id) + self.metadata.granted_buckets(user.id)
        return sorted(found, key=lambda bucket: bucket.name)

    def delete_bucket(self, user: User, name: str, actor: Actor) -> None:
        """Delete an empty bucket (owner only); raises BucketNotEmptyError when it holds
        objects."""
        self.metadata.delete_bucket(self.bucket(user, name, Access.OWNER), actor)

    # --- objects -------------------------------------------------------------------------

    def new_writer(
        self, size_hint: int | None = None, *, owner_id: int | None = None
    ) -> ObjectWriter:
        """A writer whose manifest the caller commits (or drops) itself; ``size_hint`` is
        the body's expected size, if known. Its chunks belong to ``owner_id``, the owner
        of the bucket the manifest goes to: with encryption at rest they are sealed for
        that owner, and a writer without an owner fails to store anything."""
        lane = next(self._next_lane)
        return ObjectWriter(
            self.chunks if owner_id is None else self.chunks.for_owner(owner_id),
            self._executor,
            lane,
            self._sizes,
            size_hint=size_hint,
            blocks=self._blocks,
        )

    def _write_body(
        self, body: Readable, length: int | None, expected_md5: bytes | None, owner_id: int
    ) -> WrittenBody:
        writer = self.new_writer(length, owner_id=owner_id)
        try:
            writer.write_from(body)
            written = writer.finish()
        except BaseException:
            writer.abort()
            raise
        if length is not None and written.size != length:
            raise IncompleteBodyError(f"received {written.size} of {length} bytes")
        if expected_md5 is not None and written.md5 != expected_md5:
            raise ChecksumMismatchError("the body's MD5 differs from Content-MD5")
        return written

    def put_object(
        self,
        user: User,
        bucket_name: str,
        key: str,
        body: Readable,
        attributes: ObjectAttributes,
        actor: Actor,
        *,
        length: int | None = None,
        expected_md5: bytes | None = None,
        body_checksum: BodyChecksum | None = None,
        condition: WriteCondition | None = None,
    ) -> StoredObject:
        """Store ``body`` (read to its end) as the new version of ``key``.

        ``length``, when given, is the size the client declared; a body of another size
        raises IncompleteBodyError. ``expected_md5`` is checked likewise (ChecksumMismatchError).
        ``body_checksum`` gives the verified checksum to store once the body was read.
        ``condition`` is checked before the body is read and again, atomically, at the
        commit (PreconditionFailedError, ObjectNotFoundError).

        The version becomes visible atomically after every check passed; a failure of
        the body stream, the checksum or the backend leaves the previous version in place.
        """
        check_key(key)
        bucket = self.bucket(user, bucket_name, Access.WRITE)
        self._check_condition(bucket, key, condition)
        written = self._write_body(body, length, expected_md5, bucket.owner_id)
        return self.metadata.commit_object(
            bucket,
            key,
            written.entries,
            written.md5_hex,
            attributes,
            actor,
            checksum=body_checksum() if body_checksum else None,
            condition=condition,
        )

    def _check_condition(self, bucket: Bucket, key: str, condition: WriteCondition | None) -> None:
        """Fail a conditional write early, before its body is read; the commit re-checks."""
        if condition is not None:
            current = self.metadata.get_object(bucket.id, key)
            enforce(condition, current.etag if current else None)

    def head_object(self, user: User, bucket_name: str, key: str) -> StoredObject:
        """The current version of ``key``; raises ObjectNotFoundError when there is none
        (DeleteMarkerError when the current version is a delete marker)."""
        bucket = self.bucket(user, bucket_name, Access.READ)
        found = self.metadata.get_object(bucket.id, key)
        if found is None:
            return self.version(user, bucket_name, key, None)
        check_servable(found)
        return replace(found, versioned=bool(bucket.versioning))

    def version(
        self, user: User, bucket_name: str, key: str, version_id: str | None
    ) -> StoredObject:
        """The version of ``key`` named ``version_id`` ("null" included), or the current
        one when None; never a delete marker.

        Raises ObjectNotFoundError (no current version), VersionNotFoundError (no such
        version), or DeleteMarkerError when the version found is a delete marker.
        A version its malware scan keeps from being served raises ObjectBlockedError
        (QuarantinedError, ScanPendingError), as do ``head_object``, ``read_range`` and
        ``open_object``: every read, HEAD and copy source of every front end passes here.
        """
        bucket = self.bucket(user, bucket_name, Access.READ)
        found = self.metadata.get_version(bucket, key, version_id)
        if found is None:
            if version_id is None:
                raise ObjectNotFoundError(key)
            raise VersionNotFoundError(version_id)
        if found.is_delete_marker:
            raise DeleteMarkerError(
                key, found.public_version_id, found.last_modified, current=version_id is None
            )
        check_servable(found)
        return found

    def set_object_tags(
        self, user: User, bucket_name: str, obj: StoredObject, tags: dict[str, str], actor: Actor
    ) -> None:
        """Replace the tag set of exactly the version ``obj`` (from ``head_object`` or
        ``version`` by the same user); ObjectNotFoundError when it is gone meanwhile."""
        bucket = self.bucket(user, bucket_name, Access.WRITE)
        if not self.metadata.set_object_tags(bucket, obj, tags, actor):
            raise ObjectNotFoundError(obj.key)

    def read_range(self, obj: StoredObject, start: int, end: int) -> Iterator[memoryview]:
        """The bytes ``[start, end)`` of ``obj`` (``end`` <= size), fetching only needed chunks.

        Each view is valid only until the next is requested (see ``RangeReader.iter_range``).
        Raises ObjectBlockedError at once (before any byte) when ``obj`` may not be served.
        """
        check_servable(obj)
        return self._reader.iter_range(obj.manifest_id, start, end)

    def open_object(self, obj: StoredObject) -> ObjectStream:
        """A seekable file object over ``obj``'s bytes; ObjectBlockedError when ``obj``
        may not be served."""
        check_servable(obj)
        return ObjectStream(self._reader, obj.manifest_id, obj.size)

    def check_readable(self, obj: StoredObject) -> None:
        """Raise ObjectBlockedError when ``obj`` may not be served (for a front end that
        must answer before it reads, such as a WebDAV HEAD)."""
        check_servable(obj)

    def scan_bytes(self, obj: StoredObject) -> Iterator[memoryview]:
        """Every byte of ``obj`` for the malware scan, whatever its scan status (the one
        read that bypasses ``check_servable``: the scan stage must read what it judges).
        Views as for ``read_range``: memory does not grow with the object's size."""
        return self._reader.iter_range(obj.manifest_id, 0, obj.size)

    # --- malware scan administration -------------------------------------------------------

    def set_scan_policy(self, bucket_name: str, policy: str, actor: Actor) -> Bucket:
        """Set a bucket's scan policy (administrators only: no owner check)."""
        if policy not in SCAN_POLICIES:
            raise ValueError(f"scan policy must be one of {', '.join(SCAN_POLICIES)}")
        bucket = self.metadata.get_bucket(bucket_name)
        if bucket is None:
            raise BucketNotFoundError(bucket_name)
        return self.metadata.set_bucket_scan_policy(bucket, policy, actor)

    def quarantined(self, limit: int = 1000) -> list[tuple[str, StoredObject]]:
        """Quarantined versions with their bucket names (administrators only)."""
        return self.metadata.quarantined_versions(limit)

    def remove_quarantined(
        self, bucket_name: str, key: str, version_id: str | None, actor: Actor
    ) -> list[StoredObject]:
        """Delete for good the quarantined versions of ``key`` (only the one whose
        internal or public id is ``version_id``, when given); returns what was deleted.
        Each deletion is audited. Raises NotFoundError when nothing matched."""
        bucket = self.metadata.get_bucket(bucket_name)
        if bucket is None:
            raise BucketNotFoundError(bucket_name)
        removed: list[StoredObject] = []
        for name, obj in self.metadata.quarantined_versions(limit=1_000_000):
            if name != bucket_name or obj.key != key:
                continue
            if version_id is not None and version_id not in (
                obj.version_id,
                obj.public_version_id,
            ):
                continue
            gone = self.metadata.delete_version(bucket, key, obj.public_version_id, actor)
            if gone is not None:
                removed.append(gone)
        if not removed:
            raise NotFoundError(f"no quarantined version of {bucket_name}/{key} matched")
        return removed

    def copy_object(
        self,
        user: User,
        source: StoredObject,
        bucket_name: str,
        key: str,
        attributes: ObjectAttributes | None,
        actor: Actor,
    ) -> StoredObject:
        """Copy exactly the version ``source`` without touching its bytes (chunks are shared).

        ``source`` comes from ``head_object`` by the same user, so it was authorized and
        the caller may have checked preconditions on it; if the key got another version
        since, the copy fails with ObjectNotFoundError rather than copy a version nobody
        checked. ``attributes`` None keeps the source's metadata (S3's COPY directive).
        With encryption at rest, a source in a bucket of another owner (read through a
        grant) raises AccessDeniedError: shared chunks never cross owners (see
        ``owner_copy``).
        """
        check_key(key)
        bucket = self.bucket(user, bucket_name, Access.WRITE)
        self._check_shareable(user, source, bucket)
        try:
            return self.metadata.copy_object(
                source, bucket, key, attributes or source.attributes, actor
            )
        except NotFoundError as exc:
            raise ObjectNotFoundError(source.key) from exc

    def _check_shareable(self, user: User, source: StoredObject, target: Bucket) -> None:
        """AccessDeniedError when ``target`` may not share ``source``'s chunks: with
        encryption at rest, chunks are sealed for one owner."""
        if not self.chunks.encrypted or source.bucket_id == target.id:
            return
        owners = {b.id: b.owner_id for b in self.readable_buckets(user)}
        if owners.get(source.bucket_id) != target.owner_id:
            raise AccessDeniedError(
                f"{target.name}: with encryption at rest, copies between buckets of "
                "different owners go through WebDAV COPY or a download and upload"
            )

    def delete_object(
        self, user: User, bucket_name: str, key: str, actor: Actor
    ) -> StoredObject | None:
        """Delete ``key``: its current version, or with versioning a new delete marker.

        Returns the version removed or the delete marker added; None when an unversioned
        key did not exist (which is not an error in S3).
        """
        return self.metadata.delete_object(self.bucket(user, bucket_name, Access.WRITE), key, actor)

    def list_objects(
        self,
        user: User,
        bucket_name: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str | None = None,
        max_keys: int = 1000,
    ) -> Listing:
        """A page of keys under ``prefix`` after ``after``, grouping at ``delimiter``.

        Keys whose remainder after ``prefix`` contains ``delimiter`` are rolled up into
        one common prefix each (counted once against ``max_keys``). Resuming with
        ``after`` set to a returned common prefix skips every key under it.
        """
        bucket = self.bucket(user, bucket_name, Access.READ)
        objects: list[StoredObject] = []
        prefixes: list[str] = []
        cursor, inclusive = after, False
        last: str | None = None
        while len(objects) + len(prefixes) < max_keys:
            wanted = max_keys - len(objects) - len(prefixes)
            batch = self.metadata.list_objects(
                bucket.id, prefix, cursor, wanted, inclusive=inclusive
            )
            if not batch:
                return Listing(tuple(objects), tuple(prefixes), False, last)
            cursor, inclusive = batch[-1].key, False
            for obj in batch:
                common = common_prefix(obj.key, prefix, delimiter)
                if common is None:
                    objects.append(obj)
                    last = obj.key
                    continue
                if after is None or common > after:
                    prefixes.append(common)
                    last = common
                # Jump past every key under this prefix.
                cursor, inclusive = key_successor(common), True
                break
            if cursor is None:
                return Listing(tuple(objects), tuple(prefixes), False, last)
            if len(batch) < wanted and not inclusive:
                return Listing(tuple(objects), tuple(prefixes), False, last)
        more = bool(
            cursor is not None
            and self.metadata.list_objects(bucket.id, prefix, cursor, 1, inclusive=inclusive)
        )
        return Listing(tuple(objects), tuple(prefixes), more, last)

    # --- multipart uploads ----------------------------------------------------------------

    def create_upload(
        self,
        user: User,
        bucket_name: str,
        key: str,
        attributes: ObjectAttributes,
        actor: Actor,
        *,
        checksum_algorithm: str | None = None,
        checksum_type: str | None = None,
    ) -> Upload:
        """Start a multipart upload of ``key``.

        With ``checksum_algorithm`` every part must be sent with that checksum and the
        object gets the ``checksum_type`` (COMPOSITE or FULL_OBJECT) checksum of its parts;
        the caller checked that the pair is one ``MULTIPART_TYPES`` allows.
        """
        check_key(key)
        bucket = self.bucket(user, bucket_name, Access.WRITE)
        return self.metadata.create_upload(
            bucket,
            key,
            user.id,
            attributes,
            actor,
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
        )

    def upload(self, user: User, bucket_name: str, key: str, upload_id: str) -> Upload:
        """The upload ``upload_id`` of ``key``; UploadNotFoundError if unknown or finished."""
        return self._upload_in_bucket(user, bucket_name, key, upload_id)[1]

    def _upload_in_bucket(
        self, user: User, bucket_name: str, key: str, upload_id: str
    ) -> tuple[Bucket, Upload]:
        bucket = self.bucket(user, bucket_name, Access.WRITE)
        upload = self.metadata.get_upload(upload_id)
        if upload is None or upload.bucket_id != bucket.id or upload.key != key:
            raise UploadNotFoundError(upload_id)
        return bucket, upload

    def upload_part(
        self,
        user: User,
        bucket_name: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: Readable,
        *,
        length: int | None = None,
        expected_md5: bytes | None = None,
        body_checksum: BodyChecksum | None = None,
    ) -> Part:
        """Store one part; the caller checked ``1 <= part_number <= 10000``.

        ``body_checksum`` gives the verified checksum to keep with the part.
        """
        bucket, _ = self._upload_in_bucket(user, bucket_name, key, upload_id)
        written = self._write_body(body, length, expected_md5, bucket.owner_id)
        try:
            return self.metadata.put_part(
                upload_id,
                part_number,
                written.entries,
                written.md5_hex,
                checksum=body_checksum() if body_checksum else None,
            )
        except NotFoundError as exc:
            raise UploadNotFoundError(upload_id) from exc

    def upload_part_copy(
        self,
        user: User,
        bucket_name: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: StoredObject,
        start: int,
        end: int,
        *,
        new_digest: DigestFactory,
    ) -> Part:
        """Store bytes ``[start, end)`` of ``source`` as a part, sharing its whole chunks.

        ``source`` comes from ``head_object`` or ``version`` by the same user (so it was
        authorized); the caller checked ``0 <= start <= end <= source.size`` and the part
        number. ``new_digest`` makes the running hash of the upload's checksum algorithm.
        See ``part_copy`` for what is read and written. ObjectNotFoundError when the
        source version is deleted during the copy.
        """
        bucket, upload = self._upload_in_bucket(user, bucket_name, key, upload_id)
        self._check_shareable(user, source, bucket)
        copied = copy_range(
            source,
            start,
            end,
            self.metadata.manifest_entries(source.manifest_id, start, end),
            read=lambda low, high: self.read_range(source, low, high),
            new_writer=partial(self.new_writer, owner_id=bucket.owner_id),
            algorithm=upload.checksum_algorithm,
            new_digest=new_digest,
        )
        try:
            return self.metadata.put_part(
                upload_id,
                part_number,
                copied.entries,
                copied.md5_hex,
                checksum=copied.checksum,
                source_manifest_id=source.manifest_id,
            )
        except NotFoundError as exc:
            if self.metadata.get_upload(upload_id) is None:
                raise UploadNotFoundError(upload_id) from exc
            raise ObjectNotFoundError(source.key) from exc

    def list_parts(
        self,
        user: User,
        bucket_name: str,
        key: str,
        upload_id: str,
        *,
        after: int = 0,
        limit: int | None = None,
    ) -> list[Part]:
        """Up to ``limit`` parts of an upload in progress numbered above ``after``, by number."""
        self.upload(user, bucket_name, key, upload_id)
        return self.metadata.list_parts(upload_id, after=after, limit=limit)

    def list_uploads(
        self,
        user: User,
        bucket_name: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> UploadListing:
        """A page of the uploads in progress in a bucket (see ``upload_listing``)."""
        return list_uploads(
            self.metadata,
            self.bucket(user, bucket_name, Access.READ).id,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
            max_uploads=max_uploads,
        )

    def complete_upload(
        self,
        user: User,
        bucket_name: str,
        key: str,
        upload_id: str,
        requested: Sequence[CompletedPart],
        actor: Actor,
        *,
        condition: WriteCondition | None = None,
    ) -> StoredObject:
        """Join the requested parts into the object, without copying any bytes.

        Raises InvalidPartOrderError (numbers not strictly ascending), InvalidPartError
        (a part missing or its ETag or checksum different), EntityTooSmallError (a part
        other than the last below 5 MiB); ``condition`` as for ``put_object``.
        """
        bucket, upload = self._upload_in_bucket(user, bucket_name, key, upload_id)
        if not requested:
            raise InvalidPartError("the completion list names no parts")
        numbers = [p.part_number for p in requested]
        if any(b <= a for a, b in pairwise(numbers)):
            raise InvalidPartOrderError("part numbers must be strictly ascending")
        stored = {p.part_number: p for p in self.metadata.list_parts(upload_id)}
        chosen: list[Part] = []
        for item in requested:
            part = stored.get(item.part_number)
            if part is None or part.etag != item.etag.strip('"').lower():
                raise InvalidPartError(f"part {item.part_number} is missing or its ETag differs")
            if item.checksum is not None and (
                part.checksum is None or part.checksum.value != item.checksum
            ):
                raise InvalidPartError(f"the checksum of part {item.part_number} differs")
            chosen.append(part)
        if any(part.size < MIN_PART_SIZE for part in chosen[:-1]):
            raise EntityTooSmallError("every part but the last must be at least 5 MiB")
        etag = multipart_etag([part.etag for part in chosen])
        checksum, parts = _object_checksum(upload, chosen)
        self._check_condition(bucket, key, condition)
        try:
            return self.metadata.complete_upload(
                upload,
                bucket,
                numbers,
                etag,
                actor,
                checksum=checksum,
                parts=parts,
                condition=condition,
            )
        except NotFoundError as exc:
            raise UploadNotFoundError(upload_id) from exc

    def abort_upload(
        self, user: User, bucket_name: str, key: str, upload_id: str, actor: Actor
    ) -> None:
        """Discard an upload and its parts."""
        bucket, upload = self._upload_in_bucket(user, bucket_name, key, upload_id)
        if not self.metadata.abort_upload(upload, bucket, actor):
            raise UploadNotFoundError(upload_id)

    def stats(self) -> StorageStats:
        """Totals across the gateway."""
        return self.metadata.stats()
