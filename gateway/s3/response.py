"""S3 responses: status, headers and a body that may stream."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any
from xml.etree.ElementTree import Element

from gateway.s3.errors import S3Error
from gateway.s3.xml import add_all, serialize

StartResponse = Callable[..., Any]


def http_date(moment: Any) -> str:
    """RFC 7231 date (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return format_datetime(moment, usegmt=True)


@dataclass
class Response:
    """What a handler answers. ``body`` is bytes, or an iterator of blocks (streamed).

    A streamed block may be a view that is valid only until the next block is requested,
    which the server's gateway honours (see ``gateway.wsgi_gateway``).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterator[bytes | memoryview] = b""

    @classmethod
    def xml(cls, root: Element, status: int = 200) -> Response:
        """An XML document response."""
        body = serialize(root)
        return cls(status, {"Content-Type": "application/xml"}, body)

    def send(self, start_response: StartResponse, *, head: bool) -> Iterable[bytes | memoryview]:
        """Start the WSGI response and return the body (none for HEAD)."""
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            headers.setdefault("Content-Length", str(len(self.body)))
        reason = HTTPStatus(self.status).phrase
        start_response(f"{self.status} {reason}", list(headers.items()))
        if head:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
            return [b""]
        return [self.body] if isinstance(self.body, bytes) else self.body


def started(blocks: Iterator[bytes | memoryview]) -> Iterator[bytes | memoryview]:
    """``blocks`` with its first block produced already, before the response starts.

    A failure to produce it (a damaged or missing chunk at the start of the range) then
    surfaces in the handler and is answered as an S3 error, not as a body cut short.
    """
    first = next(blocks, None)
    return _resumed(first, blocks)


def _resumed(
    first: bytes | memoryview | None, blocks: Iterator[bytes | memoryview]
) -> Iterator[bytes | memoryview]:
    try:
        if first is not None:
            yield first
        yield from blocks
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:
            close()


def error_response(error: S3Error, resource: str, request_id: str) -> Response:
    """The S3 XML error document for ``error``."""
    root = Element("Error")
    add_all(root, {"Code": error.code, "Message": error.message})
    add_all(root, dict(error.details))
    add_all(root, {"Resource": resource, "RequestId": request_id})
    response = Response.xml(root, error.status)
    response.headers.update(error.headers)
    return response
