"""Reading a request body in large pieces, straight from cheroot's socket.

cheroot hands a WSGI application the body as ``wsgi.input``: a pure-Python buffered
reader (``_pyio``) that receives 8 KiB at a time and copies every piece several times
over, which costs an upload more CPU than hashing, chunking and storing it. A
``RequestBody`` reads the same bytes with ``readinto``: it first takes what cheroot
has already buffered, then receives from the socket into the caller's buffer. It keeps
cheroot's own accounting (the bytes left of a Content-Length body, the end of a chunked
one), so cheroot still finds the next request of a kept-alive connection where it
starts.

Any other ``wsgi.input`` (another server, a test harness, a limit on body sizes that
cheroot enforces itself) is read through its ``read`` as PEP 3333 describes.
"""

from __future__ import annotations

import re
import socket
from typing import Any

from cheroot.makefile import StreamReader
from cheroot.server import ChunkedRFile, KnownLengthRFile

from gateway.errors import IncompleteBodyError, MalformedBodyError

READ_SIZE = 1 << 20
# Longest chunk-size line (with chunk extensions) or trailer line accepted.
MAX_LINE = 8192
CRLF = b"\r\n"
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class RequestBody:
    """A request body, read with ``readinto`` (or ``read``) until it returns 0 (b"").

    A body that ends early (the client went away) returns 0 before its declared length,
    which the caller checks; a chunked body, which declares none, raises
    IncompleteBodyError instead.
    """

    _ended = False

    @property
    def complete(self) -> bool:
        """Whether the body was read to its end."""
        return self._ended

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill the start of ``buffer`` with the body's next bytes; their count, 0 at the end."""
        raise NotImplementedError

    def read(self, size: int = -1, /) -> bytes:
        """The body's next bytes, at most ``size`` (all of them when negative); b"" at the end."""
        if size < 0:
            return b"".join(iter(lambda: self.read(READ_SIZE), b""))
        buffer = bytearray(self._bound(size))
        count = self.readinto(memoryview(buffer))
        return bytes(memoryview(buffer)[:count])

    def _bound(self, size: int) -> int:
        """At most how many of ``size`` bytes the next read can return."""
        return size


def request_body(environ: dict[str, Any]) -> RequestBody:
    """The body of the request ``environ`` describes, read the fastest way available.

    Whoever reads it MUST NOT also read ``wsgi.input``.
    """
    stream = environ["wsgi.input"]
    if isinstance(stream, KnownLengthRFile) and _plain_socket(stream.rfile):
        return _LengthBody(stream)
    if (
        isinstance(stream, ChunkedRFile)
        and _plain_socket(stream.rfile)
        and not stream.maxlen
        and not stream.bytes_read
    ):
        return _ChunkedBody(stream)
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    return _StreamBody(stream, int(length) if length.isdigit() else None)


def _plain_socket(rfile: object) -> bool:
    """Whether ``rfile`` is cheroot's own reader over a socket (TLS included)."""
    return type(rfile) is StreamReader and isinstance(rfile.raw, socket.SocketIO)


def _receive(rfile: StreamReader, buffer: memoryview) -> int:
    """Fill the start of ``buffer`` from what cheroot buffered or else from one receive on
    the socket; 0 when the peer closed the connection.

    cheroot's sockets block (with a timeout), so the socket's ``readinto`` never returns
    None for "no data yet"; a timeout raises.
    """
    if rfile.has_data():  # type: ignore[no-untyped-call]  # cheroot's stub leaves it untyped
        data = rfile.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)
    return rfile.raw.readinto(buffer) or 0


class _LengthBody(RequestBody):
    """A Content-Length body, received into the caller's buffers."""

    def __init__(self, stream: KnownLengthRFile) -> None:
        self._stream = stream
        self._rfile: StreamReader = stream.rfile

    @property
    def complete(self) -> bool:
        return not self._stream.remaining

    def readinto(self, buffer: memoryview, /) -> int:
        remaining: int = self._stream.remaining
        if not remaining:
            return 0
        count = _receive(self._rfile, buffer[:remaining])
        self._stream.remaining = remaining - count
        return count

    def _bound(self, size: int) -> int:
        remaining: int = self._stream.remaining
        return min(size, remaining)


class _ChunkedBody(RequestBody):
    """A body in HTTP/1.1 chunked transfer coding, decoded as it is received.

    Trailer fields are read and dropped. cheroot's reader is marked closed at the end,
    as its own decoder would have left it.
    """

    def __init__(self, stream: ChunkedRFile) -> None:
        self._stream = stream
        self._rfile: StreamReader = stream.rfile
        self._left = 0  # bytes of the current chunk not yet read

    def readinto(self, buffer: memoryview, /) -> int:
        if not self._left:
            if self._ended:
                return 0
            self._left = self._chunk_size()
            if not self._left:
                self._skip_trailers()
                self._ended = self._stream.closed = True
                return 0
        count = _receive(self._rfile, buffer[: self._left])
        if not count:
            raise IncompleteBodyError("the connection closed inside a chunk of the body")
        self._left -= count
        self._stream.bytes_read += count
        if not self._left and self._rfile.read(2) != CRLF:  # type: ignore[no-untyped-call]
            raise MalformedBodyError("a chunk of the body does not end with CRLF")
        return count

    def _line(self) -> bytes:
        # The limit only bounds each read: a longer line comes back whole.
        line: bytes = self._rfile.readline(MAX_LINE)
        self._stream.bytes_read += len(line)
        if len(line) > MAX_LINE or not line.endswith(CRLF):
            raise MalformedBodyError("a line of the chunked body is cut off or too long")
        return line[:-2]

    def _chunk_size(self) -> int:
        size = self._line().split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size):
            raise MalformedBodyError(f"bad chunk size {size[:20]!r}")
        return int(size, 16)

    def _skip_trailers(self) -> None:
        while self._line():
            pass


class _StreamBody(RequestBody):
    """Any other ``wsgi.input``, read through ``read`` and no further than ``length``."""

    def __init__(self, stream: Any, length: int | None) -> None:
        self._stream = stream
        self._remaining = length

    def readinto(self, buffer: memoryview, /) -> int:
        size = len(buffer) if self._remaining is None else min(len(buffer), self._remaining)
        data = self._stream.read(size) if size else b""
        if not data:
            self._ended = self._remaining in (None, 0)
            return 0
        buffer[: len(data)] = data
        if self._remaining is not None:
            self._remaining -= len(data)
        return len(data)

    def _bound(self, size: int) -> int:
        return size if self._remaining is None else min(size, self._remaining)
