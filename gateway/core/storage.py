"""The namespace service: every operation the front ends offer, on buckets and objects.

Front ends authenticate the caller and translate their protocol; this module
authorizes (a bucket belongs to the user who created it), validates names and
part lists, streams bodies through the writer and commits through the metadata
port. It never sees HTTP and never touches SQL or the backend directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

from gateway.core.chunk_store import ChunkStore
from gateway.core.chunker import ChunkSizes
from gateway.core.names import check_bucket_name, check_key, key_successor
from gateway.core.reader import ObjectStream, RangeReader
from gateway.core.writer import ObjectWriter, Readable, WrittenBody
from gateway.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ChecksumMismatchError,
    EntityTooSmallError,
    IncompleteBodyError,
    InvalidPartError,
    InvalidPartOrderError,
    NotFoundError,
    ObjectNotFoundError,
    UploadNotFoundError,
)
from gateway.ports import BlobStore, MetadataStore
from gateway.records import (
    Actor,
    Bucket,
    ObjectAttributes,
    Part,
    StorageStats,
    StoredObject,
    Upload,
    User,
)

MIN_PART_SIZE = 5 * 1024 * 1024
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


def multipart_etag(part_md5s: Sequence[str]) -> str:
    """S3's ETag of a multipart object: MD5 of the parts' binary MD5s, ``-`` part count."""
    digest = hashlib.md5(usedforsecurity=False)
    for md5_hex in part_md5s:
        digest.update(bytes.fromhex(md5_hex))
    return f"{digest.hexdigest()}-{len(part_md5s)}"


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
    ) -> None:
        self.metadata = metadata
        self.blobs = blobs
        self.chunks = ChunkStore(blobs, metadata, compression_level)
        self._sizes = ChunkSizes.around(chunk_avg_size)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunks")
        self._reader = RangeReader(metadata, self.chunks, self._executor)

    def close(self) -> None:
        """Stop the worker threads and release the metadata and backend connections."""
        self._executor.shutdown(wait=True, cancel_futures=True)
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

    def bucket(self, user: User, name: str) -> Bucket:
        """The bucket ``name`` if ``user`` may use it; BucketNotFoundError or AccessDeniedError."""
        bucket = self.metadata.get_bucket(name)
        if bucket is None:
            raise BucketNotFoundError(name)
        if bucket.owner_id != user.id:
            raise AccessDeniedError(name)
        return bucket

    def delete_bucket(self, user: User, name: str, actor: Actor) -> None:
        """Delete an empty bucket; raises BucketNotEmptyError when it holds objects."""
        self.metadata.delete_bucket(self.bucket(user, name), actor)

    # --- objects -------------------------------------------------------------------------

    def new_writer(self) -> ObjectWriter:
        """A writer whose manifest the caller commits (or drops) itself."""
        return ObjectWriter(self.chunks, self._executor, self._sizes)

    def _write_body(
        self, body: Readable, length: int | None, expected_md5: bytes | None
    ) -> WrittenBody:
        writer = self.new_writer()
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
    ) -> StoredObject:
        """Store ``body`` (read to its end) as the new version of ``key``.

        ``length``, when given, is the size the client declared; a body of another size
        raises IncompleteBodyError. ``expected_md5`` is checked likewise (ChecksumMismatchError).

        The version becomes visible atomically after every check passed; a failure of
        the body stream, the checksum or the backend leaves the previous version in place.
        """
        check_key(key)
        bucket = self.bucket(user, bucket_name)
        written = self._write_body(body, length, expected_md5)
        return self.metadata.commit_object(
            bucket, key, written.entries, written.md5_hex, attributes, actor
        )

    def head_object(self, user: User, bucket_name: str, key: str) -> StoredObject:
        """The current version of ``key``; raises ObjectNotFoundError when there is none."""
        bucket = self.bucket(user, bucket_name)
        found = self.metadata.get_object(bucket.id, key)
        if found is None:
            raise ObjectNotFoundError(key)
        return found

    def read_range(self, obj: StoredObject, start: int, end: int) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of ``obj`` (``end`` <= size), fetching only needed chunks."""
        return self._reader.iter_range(obj.manifest_id, start, end)

    def open_object(self, obj: StoredObject) -> ObjectStream:
        """A seekable file object over ``obj``'s bytes."""
        return ObjectStream(self._reader, obj.manifest_id, obj.size)

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
        """
        check_key(key)
        bucket = self.bucket(user, bucket_name)
        try:
            return self.metadata.copy_object(
                source, bucket, key, attributes or source.attributes, actor
            )
        except NotFoundError as exc:
            raise ObjectNotFoundError(source.key) from exc

    def delete_object(self, user: User, bucket_name: str, key: str, actor: Actor) -> bool:
        """Delete ``key``; False when it did not exist (which is not an error in S3)."""
        return self.metadata.delete_object(self.bucket(user, bucket_name), key, actor)

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
        bucket = self.bucket(user, bucket_name)
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
                common = self._common_prefix(obj.key, prefix, delimiter)
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

    @staticmethod
    def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
        if not delimiter:
            return None
        position = key.find(delimiter, len(prefix))
        return None if position < 0 else key[: position + len(delimiter)]

    # --- multipart uploads ----------------------------------------------------------------

    def create_upload(
        self, user: User, bucket_name: str, key: str, attributes: ObjectAttributes, actor: Actor
    ) -> Upload:
        """Start a multipart upload of ``key``."""
        check_key(key)
        bucket = self.bucket(user, bucket_name)
        return self.metadata.create_upload(bucket, key, user.id, attributes, actor)

    def upload(self, user: User, bucket_name: str, key: str, upload_id: str) -> Upload:
        """The upload ``upload_id`` of ``key``; UploadNotFoundError if unknown or finished."""
        return self._upload_in_bucket(user, bucket_name, key, upload_id)[1]

    def _upload_in_bucket(
        self, user: User, bucket_name: str, key: str, upload_id: str
    ) -> tuple[Bucket, Upload]:
        bucket = self.bucket(user, bucket_name)
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
    ) -> Part:
        """Store one part; the caller checked ``1 <= part_number <= 10000``."""
        self.upload(user, bucket_name, key, upload_id)
        written = self._write_body(body, length, expected_md5)
        try:
            return self.metadata.put_part(upload_id, part_number, written.entries, written.md5_hex)
        except NotFoundError as exc:
            raise UploadNotFoundError(upload_id) from exc

    def list_parts(self, user: User, bucket_name: str, key: str, upload_id: str) -> list[Part]:
        """The parts of an upload in progress, by number."""
        self.upload(user, bucket_name, key, upload_id)
        return self.metadata.list_parts(upload_id)

    def list_uploads(self, user: User, bucket_name: str) -> list[Upload]:
        """The uploads in progress in a bucket."""
        return self.metadata.list_uploads(self.bucket(user, bucket_name).id)

    def complete_upload(
        self,
        user: User,
        bucket_name: str,
        key: str,
        upload_id: str,
        requested: Sequence[CompletedPart],
        actor: Actor,
    ) -> StoredObject:
        """Join the requested parts into the object, without copying any bytes.

        Raises InvalidPartOrderError (numbers not strictly ascending), InvalidPartError
        (a part missing or its ETag different), EntityTooSmallError (a part other than
        the last below 5 MiB).
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
            chosen.append(part)
        if any(part.size < MIN_PART_SIZE for part in chosen[:-1]):
            raise EntityTooSmallError("every part but the last must be at least 5 MiB")
        etag = multipart_etag([part.etag for part in chosen])
        try:
            return self.metadata.complete_upload(upload, bucket, numbers, etag, actor)
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
