"""wsgidav's property manager interface over the SQL dead-property store.

wsgidav names resources by reference URL (``/bucket/path``, with a trailing ``/`` for
collections); this maps a URL to the bucket and the path the properties belong to
(the object key of a file, the prefix of a folder, "" for a bucket).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from wsgidav.dav_error import HTTP_FORBIDDEN, DAVError

from adapters.sql.dav_properties import SqlDeadProperties
from gateway.core.bucket_access import Access, access_of
from gateway.dav.context import DavRequest
from gateway.dav.provider import GatewayProvider
from gateway.records import Bucket


class DeadPropertyManager:
    """Reads and writes PROPPATCH properties; copy, move and delete happen with the resource."""

    def __init__(self, store: SqlDeadProperties, provider: GatewayProvider) -> None:
        self._store = store
        self._provider = provider

    def __repr__(self) -> str:
        return "DeadPropertyManager(sql)"

    def _locate(self, norm_url: str, environ: dict[str, Any]) -> tuple[Bucket, str] | None:
        bucket_name, _, path = unquote(norm_url).lstrip("/").partition("/")
        bucket = self._provider.bucket(environ, bucket_name) if bucket_name else None
        return None if bucket is None else (bucket, path)

    def _properties(self, norm_url: str, environ: dict[str, Any]) -> dict[str, str]:
        located = self._locate(norm_url, environ)
        if located is None:
            return {}
        key = (located[0].id, located[1])
        request = DavRequest.of(environ)
        found = request.cached_properties(*key)
        if found is None:
            found = self._store.properties(*key)
            request.properties[key] = found
        return found

    def get_properties(self, norm_url: str, environ: dict[str, Any]) -> list[str]:
        """Names of the resource's dead properties (Clark notation)."""
        return list(self._properties(norm_url, environ))

    def get_property(self, norm_url: str, name: str, environ: dict[str, Any]) -> str | None:
        """One property's XML, or None."""
        return self._properties(norm_url, environ).get(name)

    def _writable(self, norm_url: str, environ: dict[str, Any]) -> tuple[int, str]:
        located = self._locate(norm_url, environ)
        if located is None:
            raise DAVError(HTTP_FORBIDDEN, context_info="the root has no properties")
        bucket, path = located
        user = DavRequest.of(environ).user
        held = access_of(bucket, user)
        if held is None or held < Access.WRITE:
            raise DAVError(HTTP_FORBIDDEN, context_info="the bucket is read-only for you")
        return bucket.id, path

    def write_property(
        self, norm_url: str, name: str, value: bytes, dry_run: bool, environ: dict[str, Any]
    ) -> None:
        """Set a property (``value`` is its XML); with ``dry_run`` only check it could."""
        bucket_id, path = self._writable(norm_url, environ)
        if not dry_run:
            self._store.write(bucket_id, path, name, value.decode("utf-8"))
            DavRequest.of(environ).forget_properties()

    def remove_property(
        self, norm_url: str, name: str, dry_run: bool, environ: dict[str, Any]
    ) -> None:
        """Remove a property; a missing one is not an error."""
        bucket_id, path = self._writable(norm_url, environ)
        if not dry_run:
            self._store.remove(bucket_id, path, name)
            DavRequest.of(environ).forget_properties()

    def remove_properties(self, norm_url: str, environ: dict[str, Any]) -> None:
        """Nothing to do: deleting a resource deletes its properties in the same transaction."""

    def copy_properties(self, src_url: str, dest_url: str, environ: dict[str, Any]) -> None:
        """Nothing to do: copies carry their properties in the same transaction."""
