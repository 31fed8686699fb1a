"""The wsgidav provider: maps ``/<bucket>/<path>`` to the file tree's buckets, folders, files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wsgidav.dav_error import HTTP_FORBIDDEN, DAVError
from wsgidav.dav_provider import DAVProvider

from adapters.sql.dav_properties import SqlDeadProperties
from gateway.core.tree import Entry, FileTree
from gateway.dav.context import DavRequest
from gateway.dav.download import refuse_blocked, send_file
from gateway.dav.resources import FileResource, FolderResource, RootCollection
from gateway.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    InvalidNameError,
    ObjectBlockedError,
)
from gateway.records import Bucket
from gateway.s3.response import StartResponse


class GatewayProvider(DAVProvider):  # type: ignore[misc]
    """One share over all buckets; what a caller sees depends on who they are."""

    def __init__(
        self,
        tree: FileTree,
        properties: SqlDeadProperties,
        free_space: Callable[[], int | None],
    ) -> None:
        super().__init__()
        self.tree = tree
        self.properties = properties
        self._free_space = free_space

    def is_readonly(self) -> bool:
        return False

    def bucket(self, environ: dict[str, Any], name: str) -> Bucket | None:
        """The bucket ``name`` as the caller may read it; None if it does not exist.

        Raises 403 for a bucket of somebody else that is not open to anonymous reading.
        """
        request = DavRequest.of(environ)
        found = request.buckets.get(name)
        if found is None:
            try:
                found = self.tree.bucket(request.user, name, write=False)
            except (BucketNotFoundError, InvalidNameError):
                return None
            except AccessDeniedError as exc:
                raise DAVError(HTTP_FORBIDDEN, context_info="not your bucket") from exc
            request.buckets[name] = found
        return found

    def get_resource_inst(
        self, path: str, environ: dict[str, Any]
    ) -> RootCollection | FolderResource | FileResource | None:
        # wsgidav resolves the same paths repeatedly (the root of every lock a listing
        # shows, for one); a request that changes nothing reuses what it found.
        request = DavRequest.of(environ)
        if path in request.resources:
            found: RootCollection | FolderResource | FileResource | None = request.resources[path]
            return found
        found = self._resolve(path, environ)
        request.remember(path, found)
        return found

    def _resolve(
        self, path: str, environ: dict[str, Any]
    ) -> RootCollection | FolderResource | FileResource | None:
        bucket_name, _, rest = path.strip("/").partition("/")
        if not bucket_name:
            return RootCollection("/", environ)
        bucket = self.bucket(environ, bucket_name)
        if bucket is None:
            return None
        try:
            entry = self.tree.find(bucket, rest)
        except InvalidNameError:
            return None
        return None if entry is None else self.resource(environ, entry)

    def resource(self, environ: dict[str, Any], entry: Entry) -> FolderResource | FileResource:
        """The resource for a found entry."""
        path = f"/{entry.bucket.name}/{entry.path}".rstrip("/")
        if entry.is_folder:
            return FolderResource(path, environ, entry)
        return FileResource(path, environ, entry)

    def custom_request_handler(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        default_handler: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
    ) -> Iterable[bytes | memoryview]:
        """GET of a stored file is answered by ``send_file``; anything else by wsgidav.

        GET and HEAD of a version its malware scan blocks are refused here with 403 and
        a short text body, whichever of the two would answer them.
        """
        method = environ["REQUEST_METHOD"]
        if method in ("GET", "HEAD"):
            resource = self.get_resource_inst(environ["PATH_INFO"], environ)
            if isinstance(resource, FileResource) and resource.entry.obj is not None:
                try:
                    self.tree.storage.check_readable(resource.entry.obj)
                except ObjectBlockedError as exc:
                    return refuse_blocked(exc, method, start_response)
                if method == "GET":
                    body = send_file(resource, environ, start_response)
                    if body is not None:
                        return body
        return default_handler(environ, start_response)

    def exists(self, path: str, environ: dict[str, Any]) -> bool:
        return self.get_resource_inst(path, environ) is not None

    def prefetch_properties(self, environ: dict[str, Any], folder: Entry) -> None:
        """Read the dead properties of everything in ``folder`` at once, for a listing."""
        request = DavRequest.of(environ)
        bucket_id = folder.bucket.id
        found = self.properties.properties_of_children(bucket_id, folder.path)
        request.properties.update(
            {(bucket_id, path): properties for path, properties in found.items()}
        )
        request.prefetched.add((bucket_id, folder.path))

    def bytes_used(self, environ: dict[str, Any]) -> int | None:
        """What the caller stores in all their buckets (once per request)."""
        request = DavRequest.of(environ)
        if request.user is None:
            return None
        if request.bytes_used is None:
            request.bytes_used = self.tree.bytes_used(request.user)
        return request.bytes_used

    def bytes_available(self) -> int | None:
        """Free space where chunks are stored, when the backend can tell."""
        return self._free_space()
