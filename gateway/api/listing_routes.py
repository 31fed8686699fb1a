"""The ``/v1`` routes a sync client needs beside the file routes: a bucket's files under a
prefix (with their file ids) and deleting a file only while it is still current.

``GET /v1/buckets/{bucket}/files?prefix=&after=&limit=`` pages through the current versions
in key order. ``DELETE /v1/files/{id}`` removes the object whose current version is ``id``
and answers 409 ``not_current`` when the key has moved on to another version (or is gone),
so a client does not delete a change it has not seen. The check and the delete are two
steps: a write landing between them can still be deleted.
"""

from __future__ import annotations

from typing import Any

from gateway.api.problem import ApiError
from gateway.api.router import (
    ApiRequest,
    ApiResponse,
    Route,
    json_response,
    timestamp,
)
from gateway.core.bucket_access import Access
from gateway.core.checksums import full_object_sha256
from gateway.core.files import Files
from gateway.core.storage import Storage
from gateway.records import Actor, StoredObject

MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000


def _entry(version: StoredObject) -> dict[str, Any]:
    return {
        "name": version.key,
        "id": version.version_id,
        "size": version.size,
        "etag": version.etag,
        "sha256": full_object_sha256(version.checksum),
        "modified": timestamp(version.last_modified),
    }


class ListingRoutes:
    """Handlers of the listing and conditional delete routes over ``storage``."""

    def __init__(self, storage: Storage, files: Files) -> None:
        self._storage = storage
        self._files = files

    def routes(self) -> list[Route]:
        """The listing and delete routes (both need a token)."""
        return [
            Route("GET", "/v1/buckets/{bucket}/files", self.ListBucketFiles),
            Route("DELETE", "/v1/files/{file_id}", self.DeleteFile),
        ]

    def ListBucketFiles(self, request: ApiRequest) -> ApiResponse:
        limit = request.int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        listing = self._storage.list_objects(
            request.caller,
            request.params["bucket"],
            prefix=request.arg("prefix") or "",
            after=request.arg("after") or None,
            max_keys=limit,
        )
        return json_response(
            200,
            {
                "files": [_entry(version) for version in listing.objects],
                "next_after": listing.next_after if listing.is_truncated else None,
            },
        )

    def DeleteFile(self, request: ApiRequest) -> ApiResponse:
        user = request.caller
        view = self._files.view(user, request.params["file_id"])
        bucket = self._storage.bucket(user, view.bucket, Access.WRITE)
        version = view.version
        current = (
            None if version is None else self._storage.metadata.get_object(bucket.id, version.key)
        )
        if version is None or current is None or current.version_id != version.version_id:
            raise ApiError(409, "not_current", "the file is not its name's current version")
        actor = Actor(user.id, protocol="api", remote_addr=request.environ.get("REMOTE_ADDR"))
        if bucket.versioning:
            self._storage.delete_object(user, bucket.name, version.key, actor)
            return ApiResponse(204)
        # An unversioned key has one version, its null version, which a write replaces.
        named = "null" if version.null_version else version.version_id
        if self._storage.metadata.delete_version(bucket, version.key, named, actor) is None:
            raise ApiError(409, "not_current", "the file is not its name's current version")
        return ApiResponse(204)
