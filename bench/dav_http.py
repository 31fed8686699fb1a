"""Plain WebDAV requests over keep-alive ``http.client`` connections: MKCOL, parallel
small PUTs, and PROPFIND with the count of the entries it lists.

Every request carries the share's Basic credentials and reads its whole response, so a
connection can be reused for the next request.
"""

from __future__ import annotations

import contextlib
import http.client
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from defusedxml import ElementTree

from bench.endpoint import DavEndpoint
from bench.model import PutTally
from bench.timed_puts import timed_puts

REQUEST_TIMEOUT = 600.0
# PROPFIND without a body asks for all properties (RFC 4918, 9.1), as `curl -X PROPFIND` does.
PROPFIND_BODY = b""
DAV_RESPONSE = "{DAV:}response"
PUT_OK = frozenset({201, 204})


class DavError(RuntimeError):
    """A WebDAV request got an unexpected answer."""


@dataclass(frozen=True)
class Reply:
    """A response: status, the body read in full, and the headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(repr=False)

    def describe(self, limit: int = 300) -> str:
        """``status: start of the body``, for error messages."""
        text = self.body[:limit].decode(errors="replace").replace("\n", " ").strip()
        return f"{self.status}: {text}"


class DavConnection:
    """One keep-alive HTTP/1.1 connection to a WebDAV share; a context manager.

    After a network error the connection is closed, and the next request opens a new one.
    """

    def __init__(self, endpoint: DavEndpoint, timeout: float = REQUEST_TIMEOUT) -> None:
        self.endpoint = endpoint
        self._connection = http.client.HTTPConnection(endpoint.netloc, timeout=timeout)
        self._authorization = endpoint.authorization()

    def connect(self) -> None:
        """Open the TCP connection now rather than on the first request."""
        self._connection.connect()

    def request(
        self,
        method: str,
        relative: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send ``method`` on ``relative`` (``bucket/dir/file``, URL-safe) and read the whole
        answer. Network errors propagate (after closing the connection)."""
        sent = {"Authorization": self._authorization, "Content-Length": str(len(body))}
        sent.update(headers or {})
        try:
            self._connection.request(method, self.endpoint.path(relative), body, sent)
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._connection.close()
            raise
        return Reply(response.status, data, dict(response.getheaders()))

    def close(self) -> None:
        """Close the TCP connection."""
        self._connection.close()

    def __enter__(self) -> DavConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def mkcol(endpoint: DavEndpoint, relative: str, *, exist_ok: bool = False) -> None:
    """``MKCOL relative``; raises DavError unless it answers 201 (or 405, already there,
    when ``exist_ok``)."""
    with DavConnection(endpoint, timeout=30) as connection:
        reply = connection.request("MKCOL", relative)
    if reply.status == 201 or (exist_ok and reply.status == 405):
        return
    raise DavError(f"MKCOL {relative}: {reply.describe()}")


def make_collection(endpoint: DavEndpoint, relative: str) -> bool:
    """Create the collection ``relative`` (fine when it exists) and check with a
    ``PROPFIND Depth: 0`` that it does; True, or DavError. Serves as a readiness probe."""
    mkcol(endpoint, relative, exist_ok=True)
    with DavConnection(endpoint, timeout=30) as connection:
        reply = connection.request("PROPFIND", relative + "/", headers={"Depth": "0"})
    if reply.status != 207:
        raise DavError(f"PROPFIND {relative}/ after MKCOL: {reply.describe()}")
    return True


def propfind(connection: DavConnection, relative: str) -> tuple[float, Reply]:
    """``PROPFIND Depth: 1`` on the collection ``relative`` (all properties); the seconds
    from sending the request to having read the whole answer, and the answer."""
    started = time.perf_counter()
    reply = connection.request(
        "PROPFIND", relative.rstrip("/") + "/", PROPFIND_BODY, {"Depth": "1"}
    )
    return time.perf_counter() - started, reply


def count_responses(body: bytes) -> int:
    """The number of ``<D:response>`` elements of a multistatus body (each one resource)."""
    root = ElementTree.fromstring(body)
    return sum(1 for _ in root.iter(DAV_RESPONSE))


@contextlib.contextmanager
def _warm_connection(endpoint: DavEndpoint) -> Iterator[DavConnection]:
    """A keep-alive connection of its own, connected unless connecting failed."""
    with DavConnection(endpoint, timeout=120) as connection:
        # On failure, the first request connects again, and records the error if it fails.
        with contextlib.suppress(OSError):
            connection.connect()
        yield connection


def _put(connection: DavConnection, item: tuple[str, bytes]) -> str | None:
    relative, payload = item
    try:
        reply = connection.request("PUT", relative, payload)
    except (OSError, http.client.HTTPException) as exc:
        return f"PUT {relative}: {type(exc).__name__}: {exc}"
    return None if reply.status in PUT_OK else f"PUT {relative}: {reply.describe()}"


def parallel_puts(
    endpoint: DavEndpoint,
    paths: Sequence[str],
    payload: Callable[[int], bytes],
    workers: int,
) -> PutTally:
    """PUT ``payload(i)`` to ``paths[i]`` for every path, with ``workers`` threads, each
    with its own keep-alive connection, worker ``w`` taking paths ``w``, ``w + workers``...

    The payloads are made before the clock starts; the time runs from the moment every
    worker has connected to the moment the last one finishes. Only 201 and 204 count as
    success. A KeyboardInterrupt stops the workers before their next request.
    """
    shares = [
        [(paths[i], payload(i)) for i in range(w, len(paths), workers)] for w in range(workers)
    ]
    return timed_puts(shares, lambda: _warm_connection(endpoint), _put)
