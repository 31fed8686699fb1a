"""WebDAV resources over the file tree: the root (the caller's buckets), folders, files.

Each resource is built from rows already read (a listing builds all its children
from one query) and never queries again for its live properties. Writes go through
the same storage service as S3, so both front ends see the same bytes, ETags and
content types. Domain errors become WebDAV statuses here, never a 500.
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import quote

from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_CONFLICT,
    HTTP_FORBIDDEN,
    HTTP_METHOD_NOT_ALLOWED,
    HTTP_NOT_FOUND,
    HTTP_PRECONDITION_FAILED,
    HTTP_REQUEST_ENTITY_TOO_LARGE,
    HTTP_SERVICE_UNAVAILABLE,
    DAVError,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, _DAVResource

from gateway.core.bucket_access import Access, access_of
from gateway.core.tree import Entry
from gateway.core.writer import Readable
from gateway.dav.context import DavRequest
from gateway.errors import (
    AccessDeniedError,
    BucketAlreadyExistsError,
    ChecksumMismatchError,
    ConflictError,
    DestinationExistsError,
    EntityTooLargeError,
    GatewayError,
    IncompleteBodyError,
    InvalidNameError,
    NotFoundError,
    RetryableError,
)
from gateway.records import Bucket, ObjectAttributes, StoredObject
from gateway.request_body import request_body

if TYPE_CHECKING:
    from gateway.dav.provider import GatewayProvider

# User metadata key of a file's modification time as clients set it (X-OC-Mtime,
# Win32LastModifiedTime), in epoch seconds; rclone's S3 backend uses the same key.
MTIME_KEY = "mtime"
DEFAULT_CONTENT_TYPE = "application/octet-stream"

P = ParamSpec("P")
R = TypeVar("R")

_STATUS_OF_ERROR: tuple[tuple[type[GatewayError], int], ...] = (
    (AccessDeniedError, HTTP_FORBIDDEN),
    (NotFoundError, HTTP_NOT_FOUND),
    (DestinationExistsError, HTTP_PRECONDITION_FAILED),
    (BucketAlreadyExistsError, HTTP_METHOD_NOT_ALLOWED),
    (ConflictError, HTTP_CONFLICT),
    (InvalidNameError, HTTP_BAD_REQUEST),
    (IncompleteBodyError, HTTP_BAD_REQUEST),
    (ChecksumMismatchError, HTTP_BAD_REQUEST),
    (EntityTooLargeError, HTTP_REQUEST_ENTITY_TOO_LARGE),
    (RetryableError, HTTP_SERVICE_UNAVAILABLE),
)


def as_dav_error(exc: GatewayError) -> DAVError:
    """The WebDAV status for a domain error (403, 404, 409, 412, 400, 413, 503)."""
    for kind, status in _STATUS_OF_ERROR:
        if isinstance(exc, kind):
            return DAVError(status, context_info=str(exc))
    return DAVError(HTTP_CONFLICT, context_info=str(exc))


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Raise domain errors of ``method`` as the matching DAVError."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except GatewayError as exc:
            raise as_dav_error(exc) from exc

    return wrapper


def _epoch_seconds(value: object) -> float:
    """A modification time given as epoch seconds or as an RFC 1123 date."""
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError) as exc:
        raise DAVError(HTTP_BAD_REQUEST, context_info=f"bad time stamp {text!r}") from exc


def modification_time(obj: StoredObject) -> float:
    """When the file was last changed, as its client said (mtime metadata) or as stored."""
    stated = obj.attributes.user_metadata.get(MTIME_KEY)
    if stated is not None:
        try:
            return float(stated)
        except ValueError:
            pass
    return obj.last_modified.timestamp()


class _BlockReader:
    """``read(n)`` over an iterable of byte blocks (the PUT body as wsgidav hands it out)."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self._rest = memoryview(b"")

    def read(self, size: int = -1, /) -> bytes:
        while not self._rest:
            block = next(self._blocks, None)
            if block is None:
                return b""
            self._rest = memoryview(block)
        if size < 0 or size >= len(self._rest):
            size = len(self._rest)
        piece, self._rest = self._rest[:size], self._rest[size:]
        return bytes(piece)


class _UploadSink:
    """The object wsgidav writes a PUT body into: it streams the body through the storage
    writer and commits the new version when the body ends (``writelines``)."""

    def __init__(self, resource: FileResource, content_type: str) -> None:
        self._resource = resource
        self._content_type = content_type

    @translated
    def writelines(self, blocks: Iterable[bytes]) -> None:
        """Store the PUT body. wsgidav's ``blocks`` are read 8 KiB at a time and copied
        several times over, so the body is read from the request itself instead; wsgidav
        is told when it was read to its end, which keeps the connection alive."""
        environ = self._resource.environ
        body = request_body(environ)
        environ["wsgidav.some_input_read"] = 1
        try:
            self._resource.store(body, self._content_type, self._resource.declared_length())
        finally:
            if body.complete:
                environ["wsgidav.all_input_read"] = 1

    def close(self) -> None:
        """Nothing to release: the version was committed when the body ended."""


class _EntryResource(_DAVResource):  # type: ignore[misc]
    """What files and folders share: ownership checks, delete, copy and move."""

    entry: Entry
    provider: GatewayProvider
    environ: dict[str, Any]

    @property
    def request(self) -> DavRequest:
        """The state of the request this resource belongs to."""
        return DavRequest.of(self.environ)

    def require(self, needed: Access, bucket: Bucket | None = None) -> None:
        """Raise 403 unless the caller has ``needed`` access to ``bucket`` (default: this
        resource's; buckets come from ``GatewayProvider.bucket``, with the caller's grant)."""
        held = access_of(bucket or self.entry.bucket, self.request.user)
        if held is None or held < needed:
            raise DAVError(HTTP_FORBIDDEN, context_info="the bucket is read-only for you")

    def get_creation_date(self) -> float | None:
        obj = self.entry.obj
        if obj is not None:
            return obj.last_modified.timestamp()
        if self.entry.modified is not None:
            return self.entry.modified.timestamp()
        return self.entry.bucket.created_at.timestamp() if not self.entry.path else None

    def get_property_value(self, name: str) -> Any:
        if name == "{DAV:}getetag":
            # The entity tag as HTTP writes it, quotes included (RFC 4918, 15.6).
            etag = self.get_etag()
            if etag is None:
                raise DAVError(HTTP_NOT_FOUND)
            return f'"{etag}"'
        return super().get_property_value(name)

    def get_last_modified(self) -> float | None:
        obj = self.entry.obj
        if obj is None:
            return self.get_creation_date()
        return modification_time(obj)

    @translated
    def set_last_modified(self, dest_path: str, time_stamp: object, *, dry_run: bool) -> bool:
        seconds = _epoch_seconds(time_stamp)
        if dry_run or self.entry.obj is None:
            # A folder without a marker object has nowhere to keep a time: accepted as is.
            return True
        self.require(Access.WRITE)
        updated = self.provider.tree.set_user_metadata(
            self.entry, {MTIME_KEY: f"{seconds:.3f}"}, self.request.actor
        )
        if updated is not None:
            self.entry = Entry(self.entry.bucket, self.entry.path, updated)
        return True

    def support_recursive_delete(self) -> bool:
        return True

    @translated
    def delete(self) -> None:
        self.require(Access.WRITE if self.entry.path else Access.OWNER)
        self.provider.tree.delete(self.entry, self.request.actor)
        if not self.entry.path:
            self.provider.tree.storage.delete_bucket(
                self.request.user,  # type: ignore[arg-type]  # require: not None
                self.entry.bucket.name,
                self.request.actor,
            )
        self.remove_all_locks(recursive=True)

    def _drop_destination_locks(self, dest_path: str) -> None:
        """Overwriting a destination deletes it, and with it its locks (RFC 4918, 9.6.1)."""
        if not self.request.created and self.provider.lock_manager is not None:
            self.provider.lock_manager.remove_all_locks_from_url(
                quote(self.provider.share_path + dest_path.rstrip("/")), recursive=True
            )

    def _destination(self, dest_path: str) -> tuple[Bucket, str]:
        if not self.entry.path:
            raise DAVError(HTTP_FORBIDDEN, context_info="a bucket cannot be copied or moved")
        bucket_name, _, path = dest_path.strip("/").partition("/")
        if not path:
            raise DAVError(HTTP_FORBIDDEN, context_info="the destination must be inside a bucket")
        target = self.provider.bucket(self.environ, bucket_name)
        if target is None:
            raise DAVError(HTTP_CONFLICT, context_info="the destination bucket does not exist")
        self.require(Access.WRITE, target)
        if self.provider.get_resource_inst(dest_path, self.environ) is None:
            self.request.created = True
        return target, path

    @translated
    def handle_move(self, dest_path: str) -> bool:
        self.require(Access.WRITE)
        target, path = self._destination(dest_path)
        self.provider.tree.move(
            self.entry, target, path, self.request.actor, replace=self._overwrite()
        )
        self.remove_all_locks(recursive=True)
        self._drop_destination_locks(dest_path)
        return True

    @translated
    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        target, path = self._destination(dest_path)
        self.provider.tree.copy(
            self.entry,
            target,
            path,
            self.request.actor,
            replace=self._overwrite(),
            recursive=depth_infinity,
        )
        self._drop_destination_locks(dest_path)
        return True

    def _overwrite(self) -> bool:
        return str(self.environ.get("HTTP_OVERWRITE", "T")).upper() != "F"


class FileResource(_EntryResource, DAVNonCollection):  # type: ignore[misc]
    """A file: the current version of one key (``entry.obj`` None until first written)."""

    def __init__(self, path: str, environ: dict[str, Any], entry: Entry) -> None:
        super().__init__(path, environ)
        self.entry = entry

    def get_content_length(self) -> int | None:
        return self.entry.obj.size if self.entry.obj else 0

    def get_content_type(self) -> str:
        if self.entry.obj is not None:
            return self.entry.obj.attributes.content_type
        return mimetypes.guess_type(self.name)[0] or DEFAULT_CONTENT_TYPE

    def get_etag(self) -> str | None:
        return self.entry.obj.etag if self.entry.obj else None

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> Any:
        if self.entry.obj is None:
            raise DAVError(HTTP_NOT_FOUND)
        return self.provider.tree.storage.open_object(self.entry.obj)

    def begin_write(self, *, content_type: str | None = None) -> _UploadSink:
        self.require(Access.WRITE)
        if not content_type:
            content_type = mimetypes.guess_type(self.name)[0] or DEFAULT_CONTENT_TYPE
        return _UploadSink(self, content_type)

    def end_write(self, *, with_errors: bool) -> None:
        """Nothing to undo: a failed body commits nothing (see ``store``)."""

    def store(self, body: Readable, content_type: str, length: int | None) -> None:
        """Stream ``body`` into a new version of this file and commit it.

        When ``length`` is given the body must have exactly that size, else nothing is
        committed (IncompleteBodyError).
        """
        metadata: dict[str, str] = {}
        mtime = self.environ.get("HTTP_X_OC_MTIME")
        if mtime is not None:
            metadata[MTIME_KEY] = f"{_epoch_seconds(mtime):.3f}"
        stored = self.provider.tree.storage.put_object(
            self.request.user,  # type: ignore[arg-type]  # begin_write checked the access
            self.entry.bucket.name,
            self.entry.path,
            body,
            ObjectAttributes(content_type, metadata),
            self.request.actor,
            length=length,
        )
        self.entry = Entry(self.entry.bucket, self.entry.path, stored)

    def declared_length(self) -> int | None:
        """The size the client announced for a PUT body: Content-Length or, for chunked
        bodies (macOS Finder), X-Expected-Entity-Length."""
        for name in ("CONTENT_LENGTH", "HTTP_X_EXPECTED_ENTITY_LENGTH"):
            value = str(self.environ.get(name) or "").strip()
            if value:
                if not value.isdigit():
                    raise DAVError(HTTP_BAD_REQUEST, context_info=f"bad {name}")
                return int(value)
        return None


class FolderResource(_EntryResource, DAVCollection):  # type: ignore[misc]
    """A folder (key prefix) or a bucket's root; children come from one listing query."""

    def __init__(self, path: str, environ: dict[str, Any], entry: Entry) -> None:
        super().__init__(path, environ)
        self.entry = entry
        self._members: list[_EntryResource] | None = None

    def get_used_bytes(self) -> int | None:
        return self.provider.bytes_used(self.environ)

    def get_available_bytes(self) -> int | None:
        return self.provider.bytes_available()

    @translated
    def get_member_list(self) -> list[_EntryResource]:
        if self._members is None:
            listing = self.provider.tree.children(self.entry)
            self.provider.prefetch_properties(self.environ, self.entry)
            bucket = self.entry.bucket
            base = self.path.rstrip("/")
            members: list[_EntryResource] = []
            start = len(self.entry.path)
            for folder in listing.folders:
                name = folder.prefix[start:-1]
                if name:
                    entry = Entry(bucket, folder.prefix, None, folder.last_modified)
                    members.append(FolderResource(f"{base}/{name}", self.environ, entry))
            for obj in listing.files:
                name = obj.key[start:]
                members.append(
                    FileResource(f"{base}/{name}", self.environ, Entry(bucket, obj.key, obj))
                )
            for member in members:
                self.request.remember(member.path, member)
            self._members = members
        return self._members

    def get_member_names(self) -> list[str]:
        return [member.name for member in self.get_member_list()]

    @translated
    def create_empty_resource(self, name: str) -> FileResource:
        self.require(Access.WRITE)
        key = self.entry.path + name
        resource = FileResource(
            f"{self.path.rstrip('/')}/{name}", self.environ, Entry(self.entry.bucket, key, None)
        )
        if self.environ.get("REQUEST_METHOD") != "PUT":
            # LOCK on an unmapped URL creates an empty file right away (RFC 4918, 7.3).
            resource.store(_BlockReader(()), resource.get_content_type(), 0)
        return resource

    @translated
    def create_collection(self, name: str) -> None:
        self.require(Access.WRITE)
        self.provider.tree.create_folder(
            self.entry.bucket, self.entry.path + name, self.request.actor
        )


class RootCollection(DAVCollection):  # type: ignore[misc]
    """``/``: the caller's buckets. MKCOL here creates a bucket; nothing else is writable."""

    provider: GatewayProvider

    def get_display_name(self) -> str:
        return ""

    def prevent_locking(self) -> bool:
        return True

    @translated
    def get_member_list(self) -> list[FolderResource]:
        request = DavRequest.of(self.environ)
        return [
            FolderResource(f"/{bucket.name}", self.environ, Entry(bucket, "", None))
            for bucket in self.provider.tree.buckets(request.user)
        ]

    def get_member_names(self) -> list[str]:
        return [member.name for member in self.get_member_list()]

    @translated
    def create_collection(self, name: str) -> None:
        request = DavRequest.of(self.environ)
        if request.user is None:
            raise DAVError(HTTP_FORBIDDEN)
        self.provider.tree.storage.create_bucket(request.user, name, request.actor)

    def create_empty_resource(self, name: str) -> FileResource:
        raise DAVError(HTTP_FORBIDDEN, context_info="files belong in a bucket")

    def delete(self) -> None:
        raise DAVError(HTTP_FORBIDDEN, context_info="the root cannot be deleted")

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        raise DAVError(HTTP_FORBIDDEN, context_info="the root cannot be copied")

    def handle_move(self, dest_path: str) -> bool:
        raise DAVError(HTTP_FORBIDDEN, context_info="the root cannot be moved")
