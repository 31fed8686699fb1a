"""GET of a file, answered with the read path's views of its verified chunks.

wsgidav serves GET by reading the resource's file object in blocks that must be bytes,
so every byte of a download is copied once more on its way out. The provider hands GET
of a stored file to ``send_file`` instead (wsgidav's ``custom_request_handler`` hook):
it decides status and headers exactly as wsgidav's own GET (with wsgidav's functions
for conditions and ranges) and returns the storage's views as the body, which the
server's gateway (``gateway.wsgi_gateway``) sends without copying. Requests it does not
take (a body, a Depth other than 0, a WebDAV ``If`` header, a file with no version)
are left to wsgidav.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from wsgidav import util
from wsgidav.dav_error import HTTP_RANGE_NOT_SATISFIABLE, DAVError

from gateway.dav.resources import modification_time
from gateway.errors import ObjectBlockedError
from gateway.s3.response import StartResponse

if TYPE_CHECKING:
    from gateway.dav.resources import FileResource

# The conditional headers wsgidav's GET evaluates (``If`` aside, which is left to it).
_CONDITIONS = (
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
)


def send_file(
    resource: FileResource, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes | memoryview] | None:
    """Start the answer to a GET of ``resource`` and return its body, or None when wsgidav
    must answer the request. Raises DAVError (304, 412, 416) as wsgidav's GET would."""
    obj = resource.entry.obj
    if obj is None or not _plain_get(environ):
        return None
    last_modified = int(modification_time(obj))
    etag = util.checked_etag(obj.etag)
    if any(name in environ for name in _CONDITIONS):
        util.evaluate_http_conditionals(resource, last_modified, etag, environ)
    start, length, partial = _selected(environ, obj.size, last_modified, etag)
    headers = [
        ("Content-Length", str(length)),
        ("Last-Modified", util.get_rfc1123_time(last_modified)),
        ("Content-Type", resource.get_content_type()),
        ("Date", util.get_rfc1123_time()),
        ("ETag", f'"{etag}"'),
        ("Accept-Ranges", "bytes"),
        *environ["wsgidav.config"].get("response_headers", ()),
    ]
    resource.finalize_headers(environ, headers)
    if partial:
        headers.append(("Content-Range", f"bytes {start}-{start + length - 1}/{obj.size}"))
        start_response("206 Partial Content", headers)
    else:
        start_response("200 OK", headers)
    if not length:
        return [b""]
    return resource.provider.tree.storage.read_range(obj, start, start + length)


def _plain_get(environ: dict[str, Any]) -> bool:
    """Whether the request is one ``send_file`` answers (wsgidav checks the others)."""
    return (
        util.get_content_length(environ) == 0
        and environ.get("HTTP_DEPTH", "0") == "0"
        and "HTTP_IF" not in environ
    )


def _selected(
    environ: dict[str, Any], size: int, last_modified: int, etag: str
) -> tuple[int, int, bool]:
    """Start, length and whether it is a part: wsgidav's choice of the bytes to send.

    A Range is ignored for an empty file and when If-Range names another version; of
    several ranges the first is sent; none satisfiable is 416.
    """
    if "HTTP_RANGE" not in environ or not size or not _if_range_holds(environ, last_modified, etag):
        return 0, size, False
    ranges, _ = util.obtain_content_ranges(environ["HTTP_RANGE"], size)
    if not ranges:
        raise DAVError(HTTP_RANGE_NOT_SATISFIABLE, context_info="No valid ranges present")
    start, _, length = ranges[0]
    return start, length, True


def _if_range_holds(environ: dict[str, Any], last_modified: int, etag: str) -> bool:
    """Whether If-Range, when present, names this version (by its date or its ETag)."""
    if_range = environ.get("HTTP_IF_RANGE")
    if if_range is None:
        return True
    seconds = util.parse_time_string(if_range)
    if seconds:
        return bool(seconds == last_modified)
    return bool(if_range.strip('" ') == etag)


def refuse_blocked(
    error: ObjectBlockedError, method: str, start_response: StartResponse
) -> Iterable[bytes]:
    """403 for a version its malware scan blocks, saying why in a short text body (and in
    ``X-Gateway-Scan-Status``, for HEAD)."""
    body = f"{error.message}\n".encode()
    start_response(
        "403 Forbidden",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-Gateway-Scan-Status", error.status),
        ],
    )
    return [body] if method != "HEAD" else [b""]
