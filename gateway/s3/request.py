"""An S3 request as the handlers see it: addressed bucket and key, query, headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from gateway.records import Actor
from gateway.s3.errors import InvalidArgument, InvalidRequest

WsgiEnviron = dict[str, Any]


def wsgi_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers with lower-case names (repeated headers already joined by the server)."""
    headers = {
        name[5:].replace("_", "-").lower(): str(value)
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = str(environ[name])
    return headers


def raw_request_path(environ: Mapping[str, Any]) -> str:
    """The path exactly as the client sent it (percent-encoded), without the query."""
    uri = str(environ.get("REQUEST_URI") or environ.get("RAW_URI") or "")
    if uri.startswith(("http://", "https://")):
        uri = "/" + uri.split("://", 1)[1].partition("/")[2]
    return uri.partition("?")[0] or "/"


def _decode(text: str) -> str:
    try:
        return unquote(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("The path is not valid percent-encoded UTF-8.") from exc


@dataclass(frozen=True)
class S3Request:
    """The parts of an S3 request the handlers need."""

    method: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    headers: dict[str, str]
    environ: WsgiEnviron

    @classmethod
    def parse(cls, environ: WsgiEnviron, domains: tuple[str, ...]) -> S3Request:
        """Split the request into bucket and key, path style or virtual-hosted style.

        A Host of the form ``<bucket>.<domain>`` (for a configured ``domain``) names the
        bucket and the whole path is the key; otherwise the first path segment is the
        bucket. A repeated query parameter keeps its first value.
        """
        headers = wsgi_headers(environ)
        path = raw_request_path(environ)
        query: dict[str, str] = {}
        try:
            pairs = parse_qsl(
                str(environ.get("QUERY_STRING", "")), keep_blank_values=True, errors="strict"
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidArgument("The query string is not valid percent-encoded UTF-8.") from exc
        for name, value in pairs:
            query.setdefault(name, value)
        host_header = headers.get("host", "")
        # IPv6 literals never carry a bucket; strip the port from anything else.
        host = "" if host_header.startswith("[") else host_header.partition(":")[0].lower()
        bucket: str | None = None
        for domain in domains:
            if host.endswith("." + domain):
                bucket = host[: -len(domain) - 1]
                break
        if bucket is not None:
            key = _decode(path[1:]) if len(path) > 1 else None
        else:
            segment, slash, rest = path[1:].partition("/")
            bucket = _decode(segment) or None
            key = _decode(rest) if slash and rest else None
        if bucket is None and key is not None:
            raise InvalidRequest("A key needs a bucket.")
        return cls(str(environ["REQUEST_METHOD"]).upper(), bucket, key, query, headers, environ)

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header by lower-case name."""
        return self.headers.get(name, default)

    def actor(self, request_id: str, user_id: int | None, access_key_id: str | None) -> Actor:
        """Who this request acts as, for the audit log (``user_id`` None: anonymous)."""
        return Actor(
            user_id=user_id,
            access_key_id=access_key_id,
            request_id=request_id,
            remote_addr=str(self.environ.get("REMOTE_ADDR", "")) or None,
        )

    @property
    def resource(self) -> str:
        """``/bucket/key`` for error documents."""
        return "/" + "/".join(part for part in (self.bucket, self.key) if part)
