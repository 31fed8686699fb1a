"""Native-API files: announce, receive parts, finalize, then read, before and after ingest.

A file is announced with its bucket, key, size and content type; every check (write
permission, key, size limit, content type, quota) runs then, before any byte moves.
Its bytes arrive as parts of ``part_size`` bytes through pre-signed part URLs; each
part is one raw backend object (``raw_key/NNNNN``), measured (size, SHA-256) while it
streams in and recorded only when its size is right. ``finalize`` checks that every
part is there and that their concatenation has the size and SHA-256 the client gives,
then queues the ``ingest`` job (``pipeline/ingest.py``) in the same transaction that
moves the file to ``processing``. Until ingest commits the object version (whose
version id is the file id), reads serve the raw parts; afterwards they serve the
version, as S3 and WebDAV do. Another user's file is "not found", whatever it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from gateway.core.bucket_access import Access
from gateway.core.names import check_key
from gateway.core.scanning import SCAN_PENDING, SCAN_STRICT
from gateway.core.storage import MAX_PART_NUMBER, Storage
from gateway.core.writer import Readable
from gateway.errors import (
    AccessDeniedError,
    FileChecksumMismatchError,
    FileIncompleteError,
    FileNotReadyError,
    FileRejectedError,
    GatewayError,
    IncompleteBodyError,
    NotFoundError,
    QuotaExceededError,
)
from gateway.ports import BlobNotFound, DirectUploads, FileStore
from gateway.records import (
    FILE_FAILED,
    FILE_PROCESSING,
    FILE_QUARANTINED,
    FILE_READY,
    FILE_UPLOADING,
    BackendPart,
    FilePart,
    NativeFile,
    StoredObject,
    User,
)

INGEST_JOB = "ingest"
MIN_FILE_PART = 8 * 1024 * 1024
RAW_PREFIX = "raw"
# Raw objects of a settled file are kept this long after it settled (for a look at a
# failed ingest's input), then swept.
LEFTOVER_RAW_AGE = timedelta(hours=1)
SETTLED_STATUSES = (FILE_READY, FILE_QUARANTINED, FILE_FAILED)
SWEEP_BATCH = 500
# Reads of a request body in pieces of this size.
BODY_PIECE = 1024 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
TRANSPORT_GATEWAY = "gateway"
TRANSPORT_BACKEND = "backend"


def choose_part_size(size: int, minimum: int = MIN_FILE_PART) -> int:
    """The smallest power-of-two multiple of ``minimum`` that cuts ``size`` bytes into at
    most ``MAX_PART_NUMBER`` parts (so every part but the last is >= 5 MiB, as S3 needs)."""
    part = minimum
    while -(-size // part) > MAX_PART_NUMBER:
        part *= 2
    return part


def part_key(file: NativeFile, number: int) -> str:
    """The backend key of part ``number`` of ``file`` (gateway transport)."""
    return f"{file.raw_key}/{number:05d}"


def raw_keys(file: NativeFile) -> list[str]:
    """The backend objects holding ``file``'s raw bytes, in order: one per part (gateway
    transport), or the one object its backend multipart upload completes into."""
    if file.transport == TRANSPORT_BACKEND:
        return [file.raw_key]
    return [part_key(file, n) for n in range(1, file.part_count + 1)]


@dataclass(frozen=True)
class FileLimits:
    """Operator limits on native-API uploads."""

    max_file_size: int
    # Media types allowed (``type/*`` allows a whole type); empty allows every type.
    allowed_content_types: tuple[str, ...] = ()
    # Bytes each user may hold (stored plus announced); 0 for no quota.
    quota_bytes: int = 0
    upload_expiry_seconds: float = 24 * 3600.0
    url_ttl_seconds: int = 3600
    min_part_size: int = MIN_FILE_PART

    def content_type_allowed(self, content_type: str) -> bool:
        """Whether ``content_type`` (parameters ignored) is among the allowed ones."""
        if not self.allowed_content_types:
            return True
        media = content_type.split(";", 1)[0].strip().lower()
        family = media.split("/", 1)[0] + "/*"
        return any(allowed in (media, family) for allowed in self.allowed_content_types)


@dataclass(frozen=True)
class FileRequest:
    """One file a client announces."""

    bucket: str
    key: str
    size: int
    content_type: str = DEFAULT_CONTENT_TYPE
    sha256: str | None = None


@dataclass(frozen=True)
class FileView:
    """What a reader may see of a file id: the upload (None for a version written over
    S3 or WebDAV) and the committed version (None before ingest), and the bucket name."""

    file_id: str
    bucket: str
    upload: NativeFile | None
    version: StoredObject | None

    @property
    def size(self) -> int:
        if self.version is not None:
            return self.version.size
        assert self.upload is not None
        return self.upload.size

    @property
    def status(self) -> str:
        """uploading, processing, ready, quarantined or failed; an ingested file's follows
        its version's malware scan."""
        if self.version is not None:
            if self.version.quarantined:
                return FILE_QUARANTINED
            return FILE_PROCESSING if self.version.scan_status == SCAN_PENDING else FILE_READY
        assert self.upload is not None
        return FILE_PROCESSING if self.upload.status == FILE_READY else self.upload.status


class _Measured:
    """Pieces of a request body, counted and hashed as they pass; stops with
    IncompleteBodyError the moment the body turns out longer or shorter than ``expected``."""

    def __init__(self, body: Readable, expected: int) -> None:
        self._body = body
        self._expected = expected
        self.size = 0
        self.sha256 = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            piece = self._body.read(min(BODY_PIECE, self._expected - self.size + 1))
            if not piece:
                break
            self.size += len(piece)
            if self.size > self._expected:
                raise IncompleteBodyError(f"the part is longer than {self._expected} bytes")
            self.sha256.update(piece)
            yield piece
        if self.size != self._expected:
            raise IncompleteBodyError(f"received {self.size} of {self._expected} bytes")


class Files:
    """The native API's file operations over ``storage`` and ``store``. Thread-safe."""

    def __init__(
        self,
        storage: Storage,
        store: FileStore,
        limits: FileLimits,
        direct: DirectUploads | None = None,
    ) -> None:
        """With ``direct`` (an S3 backend clients can reach) parts go straight to the
        backend; otherwise through the gateway's part route."""
        self.storage = storage
        self.store = store
        self.limits = limits
        self.direct = direct

    # --- announce ---------------------------------------------------------------------

    def announce(
        self, user: User, requests: Sequence[FileRequest]
    ) -> list[NativeFile | GatewayError]:
        """Check and record each requested file; per request the new file (``uploading``)
        or the domain error that refused it. Quota counts the accepted ones in order."""
        now = datetime.now(UTC)
        used: int | None = None
        results: list[NativeFile | GatewayError] = []
        for request in requests:
            try:
                bucket = self.storage.bucket(user, request.bucket, Access.WRITE)
                check_key(request.key)
                self._check_limits(request)
                if self.limits.quota_bytes:
                    if used is None:
                        used = self.storage.metadata.bytes_used(user.id) + self.store.bytes_pending(
                            user.id
                        )
                    if used + request.size > self.limits.quota_bytes:
                        raise QuotaExceededError(
                            f"{request.size} more bytes would exceed the quota of "
                            f"{self.limits.quota_bytes} bytes ({used} in use)"
                        )
                    used += request.size
            except GatewayError as error:
                results.append(error)
                continue
            file_id = uuid.uuid4().hex
            raw_key = f"{RAW_PREFIX}/{file_id}"
            upload_id = None if self.direct is None else self.direct.start_upload(raw_key)
            results.append(
                NativeFile(
                    id=file_id,
                    owner_id=user.id,
                    bucket_id=bucket.id,
                    key=request.key,
                    size=request.size,
                    content_type=request.content_type,
                    sha256=request.sha256,
                    part_size=choose_part_size(request.size, self.limits.min_part_size),
                    status=FILE_UPLOADING,
                    transport=TRANSPORT_GATEWAY if upload_id is None else TRANSPORT_BACKEND,
                    raw_key=raw_key,
                    backend_upload_id=upload_id,
                    created_at=now,
                    updated_at=now,
                    expires_at=now + timedelta(seconds=self.limits.upload_expiry_seconds),
                )
            )
        self.store.create_files([r for r in results if isinstance(r, NativeFile)])
        return [
            replace(r, bucket_name=q.bucket) if isinstance(r, NativeFile) else r
            for r, q in zip(results, requests, strict=True)
        ]

    def _check_limits(self, request: FileRequest) -> None:
        if request.size < 0:
            raise FileRejectedError("size must not be negative")
        if request.size > self.limits.max_file_size:
            raise FileRejectedError(
                f"the file is larger than the limit of {self.limits.max_file_size} bytes"
            )
        if not self.limits.content_type_allowed(request.content_type):
            raise FileRejectedError(f"content type {request.content_type!r} is not allowed")
        if request.sha256 is not None and not _is_sha256(request.sha256):
            raise FileRejectedError("sha256 must be 64 hexadecimal digits")

    # --- parts ----------------------------------------------------------------------------

    @staticmethod
    def part_url_fields(file: NativeFile, number: int) -> list[str]:
        """What a part URL's signature covers: the file, the part and its size."""
        return [file.id, str(number), str(file.part_length(number))]

    def receive_part(self, file: NativeFile, number: int, body: Readable) -> FilePart:
        """Store ``body`` as part ``number`` of ``file`` (replacing any earlier one); the
        caller verified the part URL's signature. IncompleteBodyError (nothing recorded)
        for a body of the wrong size, FileRejectedError once the file is finalized."""
        if file.status != FILE_UPLOADING or file.transport != TRANSPORT_GATEWAY:
            raise FileRejectedError("the file takes no parts through the gateway (any more)")
        measured = _Measured(body, file.part_length(number))
        self.storage.blobs.put_stream(part_key(file, number), measured)
        part = FilePart(number, measured.size, measured.sha256.hexdigest())
        if not self.store.record_part(file.id, number, part.size, part.sha256):
            if self.store.get_file(file.id) is None:
                # Expired meanwhile: the sweep may have deleted the parts before this one.
                self.storage.blobs.delete(part_key(file, number))
                raise NotFoundError(f"file {file.id} expired")
            raise FileRejectedError("the file was finalized meanwhile")
        return part

    def part_url(self, file: NativeFile, number: int) -> str:
        """The backend's own pre-signed URL of a part (backend transport only)."""
        assert self.direct is not None and file.backend_upload_id is not None
        return self.direct.part_url(
            file.raw_key, file.backend_upload_id, number, self.limits.url_ttl_seconds
        )

    def upload_state(
        self, user: User, file_id: str
    ) -> tuple[NativeFile, list[FilePart | BackendPart], list[int]]:
        """The file, its parts received so far (as the backend lists them, for backend
        transport) and the numbers of those still missing or of the wrong size."""
        file = self._upload(user, file_id)
        return (file, *self._parts(file))

    def _parts(self, file: NativeFile) -> tuple[list[FilePart | BackendPart], list[int]]:
        parts: list[FilePart | BackendPart] = []
        if file.status == FILE_UPLOADING and file.transport == TRANSPORT_BACKEND:
            assert self.direct is not None and file.backend_upload_id is not None
            # Gone once a finalize completed it without getting to record that.
            with contextlib.suppress(BlobNotFound):
                parts += self.direct.uploaded_parts(file.raw_key, file.backend_upload_id)
        else:
            parts += self.store.file_parts(file.id)
        have = {p.number for p in parts if p.size == file.part_length(p.number)}
        missing = [n for n in range(1, file.part_count + 1) if n not in have]
        if file.transport == TRANSPORT_BACKEND and file.status != FILE_UPLOADING:
            missing = []
        return parts, missing

    # --- finalize -------------------------------------------------------------------------

    def finalize(self, user: User, file_id: str, size: int, sha256: str) -> NativeFile:
        """Verify the parts and queue the ingest; idempotent once the file left ``uploading``
        (for the same size and SHA-256; other ones are a FileChecksumMismatchError).

        FileIncompleteError when a part is missing or of the wrong size,
        FileChecksumMismatchError when the size or SHA-256 differs from the announced or
        the received bytes; the file then stays ``uploading``.
        """
        file = self._upload(user, file_id)
        if file.status != FILE_UPLOADING:
            if size != file.size or sha256.lower() != file.sha256:
                raise FileChecksumMismatchError("the file was finalized with another checksum")
            return file
        if size != file.size:
            raise FileChecksumMismatchError(f"the file was announced with {file.size} bytes")
        if not _is_sha256(sha256) or (file.sha256 and file.sha256 != sha256.lower()):
            raise FileChecksumMismatchError("sha256 differs from the one announced")
        parts, missing = self._parts(file)
        if file.transport == TRANSPORT_BACKEND:
            self._complete_backend_upload(file, parts, missing)
        elif missing:
            raise FileIncompleteError(f"parts missing: {missing[:20]}")
        digest = hashlib.sha256()
        for piece in self._raw_range(file, 0, file.size):
            digest.update(piece)
        if digest.hexdigest() != sha256.lower():
            if file.transport == TRANSPORT_BACKEND:
                self._restart_backend_upload(file)
                raise FileChecksumMismatchError(
                    "the parts' sha256 differs from the one given; send every part again"
                )
            raise FileChecksumMismatchError("the parts' sha256 differs from the one given")
        finalized = self.store.finalize_file(file.id, sha256.lower(), INGEST_JOB)
        if finalized is None:
            raise NotFoundError(file_id)
        return replace(finalized, bucket_name=file.bucket_name)

    def _complete_backend_upload(
        self, file: NativeFile, parts: Sequence[FilePart | BackendPart], missing: list[int]
    ) -> None:
        """Join the backend's parts into the raw object (already done when the upload is
        gone and the object is there: a finalize that failed after completing it)."""
        assert self.direct is not None and file.backend_upload_id is not None
        if not parts and self.storage.blobs.exists(file.raw_key):
            return
        if missing:
            raise FileIncompleteError(f"parts missing or of the wrong size: {missing[:20]}")
        chosen = [p for p in parts if isinstance(p, BackendPart)]
        try:
            self.direct.complete_upload(file.raw_key, file.backend_upload_id, chosen)
        except BlobNotFound:
            if not self.storage.blobs.exists(file.raw_key):
                raise
        self.storage.blobs.flush()

    def _restart_backend_upload(self, file: NativeFile) -> None:
        """Drop the completed raw object and give the file a fresh backend upload."""
        assert self.direct is not None
        self.storage.blobs.delete(file.raw_key)
        upload_id = self.direct.start_upload(file.raw_key)
        if not self.store.set_backend_upload(file.id, upload_id):
            self.direct.abort_upload(file.raw_key, upload_id)

    # --- reading --------------------------------------------------------------------------

    def view(self, user: User, file_id: str) -> FileView:
        """The file ``file_id`` as ``user`` may see it; NotFoundError when it does not
        exist or ``user`` may not read its bucket (never a hint which)."""
        view = self.find(file_id)
        if view is None:
            raise NotFoundError(f"file {file_id}")
        try:
            self.storage.bucket(user, view.bucket, Access.READ)
        except (AccessDeniedError, NotFoundError):
            raise NotFoundError(f"file {file_id}") from None
        return view

    def find(self, file_id: str) -> FileView | None:
        """The file or version ``file_id`` without any permission check (for URLs whose
        signature already authorized the read); None when there is none."""
        upload = self.store.get_file(file_id)
        found = self.storage.metadata.scan_target(file_id)
        if found is not None:
            bucket_name, version = found
            bucket = self.storage.metadata.get_bucket(bucket_name)
            if version.is_delete_marker or bucket is None:
                return None
            # The bucket's policy decides whether a pending scan blocks reads.
            strict = bucket.scan_policy == SCAN_STRICT
            return FileView(file_id, bucket_name, upload, replace(version, scan_strict=strict))
        if upload is None or upload.status == FILE_READY:
            return None
        return FileView(file_id, upload.bucket_name, upload, None)

    def views(self, user: User, file_ids: Sequence[str]) -> tuple[list[FileView], list[str]]:
        """The files among ``file_ids`` ``user`` may see, and the ids of the others."""
        found: list[FileView] = []
        missing: list[str] = []
        for file_id in file_ids:
            try:
                found.append(self.view(user, file_id))
            except NotFoundError:
                missing.append(file_id)
        return found, missing

    def read(self, view: FileView, start: int, end: int) -> Iterable[bytes | memoryview]:
        """The bytes ``[start, end)`` of the file: of its version once ingested (refused
        as every read is when the scan forbids it), else of its raw parts once finalized.
        FileNotReadyError before the upload is finalized."""
        if view.version is not None:
            return self.storage.read_range(view.version, start, end)
        assert view.upload is not None
        if view.upload.status in (FILE_UPLOADING, FILE_FAILED):
            raise FileNotReadyError(f"file {view.file_id} is {view.upload.status}")
        return self._raw_range(view.upload, start, end)

    def check_readable(self, view: FileView) -> None:
        """Raise what ``read`` would, before any byte is sent."""
        if view.version is not None:
            self.storage.check_readable(view.version)
        elif view.upload is not None and view.upload.status in (FILE_UPLOADING, FILE_FAILED):
            raise FileNotReadyError(f"file {view.file_id} is {view.upload.status}")

    def ranges(self, view: FileView) -> list[tuple[int, int]]:
        """The file cut into ``(offset, length)`` pieces a client may fetch in parallel:
        the chunks of an ingested file, else the parts."""
        if view.version is not None:
            entries = self.storage.metadata.manifest_entries(
                view.version.manifest_id, 0, view.version.size
            )
            return [(e.offset, e.length) for e in entries]
        assert view.upload is not None
        upload = view.upload
        return [
            (upload.part_size * (n - 1), upload.part_length(n))
            for n in range(1, upload.part_count + 1)
            if upload.part_length(n)
        ]

    def _raw_range(self, file: NativeFile, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the raw parts, one backend stream at a time."""
        if file.transport == TRANSPORT_BACKEND:
            yield from self.storage.blobs.read_stream(file.raw_key, start, end)
            return
        for number in range(start // file.part_size + 1, file.part_count + 1):
            low = (number - 1) * file.part_size
            if low >= end:
                return
            yield from self.storage.blobs.read_stream(
                part_key(file, number), max(0, start - low), min(file.part_size, end - low)
            )

    def _upload(self, user: User, file_id: str) -> NativeFile:
        view = self.view(user, file_id)
        if view.upload is None:
            raise NotFoundError(f"file {file_id} was not uploaded through /v1")
        return view.upload


def expire_files(
    storage: Storage, store: FileStore, direct: DirectUploads | None = None, batch: int = 100
) -> int:
    """Delete every upload left ``uploading`` past its ``expires_at``, rows first (so no
    part can be recorded any more), then its raw objects and backend multipart upload;
    then sweep leftover raw objects (``sweep_leftover_raw``). Return how many expired."""
    now = datetime.now(UTC)
    expired = 0
    while True:
        found = store.expired_files(now, batch)
        for file in found:
            if store.delete_file(file.id, only_uploading_before=now):
                expired += 1
                if direct is not None and file.backend_upload_id is not None:
                    direct.abort_upload(file.raw_key, file.backend_upload_id)
                for key in raw_keys(file):
                    storage.blobs.delete(key)
        if len(found) < batch:
            break
    sweep_leftover_raw(storage, store, now)
    return expired


def sweep_leftover_raw(storage: Storage, store: FileStore, now: datetime) -> int:
    """Delete the raw objects no upload will read again, and return how many: those of
    files that no longer exist (a file row is made before any of its parts can be sent,
    and deleted before its raw objects), and those of files settled (ready, quarantined
    or failed) for ``LEFTOVER_RAW_AGE``, which a crash between an ingest's commit and its
    clean-up, or a failed ingest, leaves behind. Raw objects of files still uploading or
    processing are never touched."""
    deleted = 0
    keys = storage.blobs.iter_keys(f"{RAW_PREFIX}/")
    while batch := list(itertools.islice(keys, SWEEP_BATCH)):
        files = store.get_files(sorted({_file_id_of(key) for key in batch}))
        for key in batch:
            file = files.get(_file_id_of(key))
            settled = file is not None and file.status in SETTLED_STATUSES
            if file is None or (settled and file.updated_at <= now - LEFTOVER_RAW_AGE):
                storage.blobs.delete(key)
                deleted += 1
    return deleted


def _file_id_of(raw_key: str) -> str:
    return raw_key.split("/", 2)[1]


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)
