"""What one WebDAV request knows about its caller, plus what it already looked up.

wsgidav builds resources many times per request (a PUT looks up the file and its
parent; PROPFIND builds every child); the caches here make each lookup hit the
database once per request. Nothing is kept between requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.records import Actor, Bucket, User

ENVIRON_KEY = "gateway.dav"


@dataclass
class DavRequest:
    """The authenticated caller (None when anonymous) and the request's lookups."""

    user: User | None
    actor: Actor
    # Whether the method changes nothing (GET, HEAD, PROPFIND, OPTIONS): then resources
    # found once are reused for the rest of the request.
    read_only: bool = False
    buckets: dict[str, Bucket] = field(default_factory=dict)
    # Dead properties by (bucket id, path); an entry means "read", even when empty.
    properties: dict[tuple[int, str], dict[str, str]] = field(default_factory=dict)
    # Folders (bucket id, prefix) whose whole subtree's properties are in ``properties``.
    prefetched: set[tuple[int, str]] = field(default_factory=set)
    bytes_used: int | None = None
    # Resources by path, kept only when ``read_only``.
    resources: dict[str, Any] = field(default_factory=dict)
    # Set when a COPY or MOVE created its destination (201 rather than 204).
    created: bool = False

    @staticmethod
    def of(environ: dict[str, Any]) -> DavRequest:
        """The request state the front end stored in ``environ``."""
        found: DavRequest = environ[ENVIRON_KEY]
        return found

    def remember(self, path: str, resource: Any) -> None:
        """Keep a resource found for ``path`` for later lookups, in a read-only request."""
        if self.read_only:
            self.resources.setdefault(path, resource)

    def cached_properties(self, bucket_id: int, path: str) -> dict[str, str] | None:
        """The dead properties of a resource if this request already read them."""
        found = self.properties.get((bucket_id, path))
        if found is not None:
            return found
        for prefetched_bucket, prefix in self.prefetched:
            if prefetched_bucket == bucket_id and path.startswith(prefix):
                return {}
        return None

    def forget_properties(self) -> None:
        """Drop what was read: the request changed properties."""
        self.properties.clear()
        self.prefetched.clear()

    def attach(self, environ: dict[str, Any]) -> None:
        """Store this state in ``environ`` for the resources of the request."""
        environ[ENVIRON_KEY] = self
