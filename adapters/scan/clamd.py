"""A Scanner over ClamAV's clamd, speaking its INSTREAM protocol on a unix or TCP socket.

The protocol (clamd(8)): the client sends ``zINSTREAM\\0``, then the object as frames of a
4-byte big-endian length and that many bytes, then a frame of length zero. clamd answers
with one NUL-terminated line and closes:

- ``stream: OK``: nothing matched;
- ``stream: <signature> FOUND``: a signature matched (``Heuristics.Limits.Exceeded.*``
  when clamd, configured with ``AlertExceedsMax yes``, stopped at one of its limits);
- ``INSTREAM size limit exceeded. ERROR``: the stream passed clamd's ``StreamMaxLength``;
  clamd answers and closes at once, while the client may still be sending;
- ``... ERROR``: anything else that went wrong.

Why not the ``clamd`` package from PyPI: it sends 1 KiB frames with ``socket.send``
(whose short writes would break the framing), reads only file objects, has one timeout
for connecting and scanning alike, and lets the broken pipe of a size-limit reply
escape as a bare ``OSError``.

Every scan opens its own connection, so one ``ClamdScanner`` serves any number of
threads. Whatever goes wrong on the way is a verdict, never an exception (see the
``Scanner`` port); only exceptions raised by the caller's stream propagate.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.ports import Bytes, ScannerUnavailable
from gateway.records import Verdict

DEFAULT_PORT = 3310
DEFAULT_CONNECT_TIMEOUT = 5.0
# How long one send or the wait for the verdict may take. clamd answers only once it has
# scanned the whole object, so this must exceed clamd's own MaxScanTime.
DEFAULT_TIMEOUT = 600.0
# The largest frame sent: pieces are split so that the size limit is checked often and
# no frame overflows the 32-bit length field.
MAX_FRAME = 1 << 20
# clamd's replies are one short line; anything longer is not clamd.
MAX_REPLY = 4096
# How long to wait for the reply clamd may have sent before it closed a stream early.
REPLY_AFTER_FAILURE_TIMEOUT = 2.0

INSTREAM = b"zINSTREAM\0"
PING = b"zPING\0"
TERMINATOR = b"\0\0\0\0"
# Signatures clamd reports with ``AlertExceedsMax yes`` when it stopped scanning at one
# of its limits (MaxFileSize, MaxScanSize, MaxScanTime, MaxRecursion, MaxFiles, ...).
LIMIT_SIGNATURE_PREFIX = "Heuristics.Limits.Exceeded"

_HEADER = struct.Struct(">I")
_FOUND = re.compile(r"stream: (?P<signature>.+) FOUND")


@dataclass(frozen=True)
class UnixSocket:
    """clamd's ``LocalSocket``."""

    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


@dataclass(frozen=True)
class TcpSocket:
    """clamd's ``TCPSocket`` on ``TCPAddr``."""

    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"


ClamdAddress = UnixSocket | TcpSocket


class SendError(Exception):
    """The connection to clamd broke while sending (carries the OSError as its cause)."""


def frames(pieces: Iterable[Bytes], max_frame: int = MAX_FRAME) -> Iterator[tuple[bytes, Bytes]]:
    """The INSTREAM frames of the concatenated ``pieces``: (4-byte length, payload) pairs.

    Empty pieces make no frame (a zero length would end the stream); pieces longer than
    ``max_frame`` are split into views, never copied. The terminator is not included.
    """
    for piece in pieces:
        view = memoryview(piece).cast("B")
        for start in range(0, len(view), max_frame):
            payload = view[start : start + max_frame]
            yield _HEADER.pack(len(payload)), payload


def parse_reply(reply: bytes) -> Verdict:
    """The verdict of clamd's reply to INSTREAM (with or without its NUL terminator).

    Only the exact line ``stream: OK`` is clean.
    """
    text = reply.removesuffix(b"\0").strip().decode("utf-8", "replace")
    if text == "stream: OK":
        return Verdict.clean()
    found = _FOUND.fullmatch(text)
    if found is not None:
        signature = found["signature"]
        if signature.startswith(LIMIT_SIGNATURE_PREFIX):
            return Verdict.unscannable(f"clamd stopped scanning at one of its limits: {signature}")
        return Verdict.infected(signature)
    if text.startswith("INSTREAM size limit exceeded"):
        return Verdict.error(
            "clamd refused the stream: it is longer than clamd's StreamMaxLength "
            "(which must be at least the gateway's scan_max_bytes)"
        )
    if text.endswith("ERROR"):
        return Verdict.error(f"clamd failed: {text}")
    return Verdict.error(f"unexpected reply from clamd: {text[:200]!r}")


def send_frame(sock: socket.socket, header: bytes, payload: Bytes) -> None:
    """Send ``header`` then ``payload`` whole, with as few system calls as the socket allows.

    Raises ``SendError`` when the connection breaks or times out.
    """
    pending = [memoryview(header), memoryview(payload).cast("B")]
    try:
        while pending:
            sent = sock.sendmsg(pending)
            while pending and sent >= len(pending[0]):
                sent -= len(pending.pop(0))
            if sent:
                pending[0] = pending[0][sent:]
    except OSError as exc:
        raise SendError(str(exc)) from exc


def read_reply(sock: socket.socket) -> bytes:
    """Read clamd's reply up to and including its NUL, or up to the end of the connection.

    Raises OSError (TimeoutError included) as the socket does, and ValueError when the
    reply is longer than any clamd sends.
    """
    reply = bytearray()
    while b"\0" not in reply:
        data = sock.recv(MAX_REPLY)
        if not data:
            break
        reply += data
        if len(reply) > MAX_REPLY:
            raise ValueError(f"reply longer than {MAX_REPLY} bytes")
    return bytes(reply)


class ClamdScanner:
    """Scans objects with a clamd at ``address`` (see the ``Scanner`` port).

    ``max_bytes`` MUST NOT exceed any of clamd's StreamMaxLength, MaxFileSize and
    MaxScanSize: clamd silently scans only the head of a file over MaxFileSize or
    MaxScanSize unless it runs with ``AlertExceedsMax yes`` (docs/scanning.md).
    ``connect_timeout`` bounds connecting (and the whole of ``ping``); ``timeout`` bounds
    each send and the wait for the verdict.
    """

    def __init__(
        self,
        address: ClamdAddress,
        *,
        max_bytes: int | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        if not connect_timeout > 0 or not timeout > 0:
            raise ValueError("connect_timeout and timeout must be positive")
        self._address = address
        self._max_bytes = max_bytes
        self._connect_timeout = connect_timeout
        self._timeout = timeout

    @property
    def address(self) -> ClamdAddress:
        """Where clamd listens."""
        return self._address

    @property
    def max_bytes(self) -> int | None:
        """The largest object scanned whole; None when unlimited."""
        return self._max_bytes

    def __repr__(self) -> str:
        return f"ClamdScanner({self._address}, max_bytes={self._max_bytes})"

    def _connect(self) -> socket.socket:
        """A connection to clamd, with the scan timeout set; raises OSError."""
        address = self._address
        if isinstance(address, UnixSocket):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._connect_timeout)
                sock.connect(address.path)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection(
                (address.host, address.port), timeout=self._connect_timeout
            )
            # The last frame, the terminator and the wait for the reply would otherwise
            # meet Nagle's algorithm and delayed ACKs.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._timeout)
        return sock

    def scan(self, stream: Iterable[Bytes]) -> Verdict:
        """Stream the object to clamd and return its verdict (see the ``Scanner`` port)."""
        try:
            sock = self._connect()
        except OSError as exc:
            return Verdict.error(f"cannot connect to clamd at {self._address}: {exc}")
        with sock:
            try:
                return self._instream(sock, stream)
            except SendError as exc:
                return self._verdict_after_failure(sock, exc)

    def _instream(self, sock: socket.socket, stream: Iterable[Bytes]) -> Verdict:
        limit = self._max_bytes
        sent = 0
        send_frame(sock, INSTREAM, b"")
        # Only the sends are guarded: an exception from ``stream`` propagates, and
        # closing the connection without the terminator makes clamd drop what it got.
        for header, payload in frames(stream):
            if limit is not None and sent + len(payload) > limit:
                return Verdict.unscannable(
                    f"the object is over the scan limit of {limit} bytes; not scanned"
                )
            send_frame(sock, header, payload)
            sent += len(payload)
        send_frame(sock, TERMINATOR, b"")
        try:
            reply = read_reply(sock)
        except TimeoutError:
            return Verdict.error(
                f"clamd at {self._address} gave no verdict within {self._timeout:g} s"
            )
        except (OSError, ValueError) as exc:
            return Verdict.error(f"lost clamd at {self._address} awaiting the verdict: {exc}")
        if not reply:
            return Verdict.error(f"clamd at {self._address} closed the connection unanswered")
        return parse_reply(reply)

    def _verdict_after_failure(self, sock: socket.socket, failure: SendError) -> Verdict:
        """The verdict once sending failed: clamd's early reply if it sent one, else error."""
        try:
            sock.settimeout(REPLY_AFTER_FAILURE_TIMEOUT)
            reply = read_reply(sock)
        except (OSError, ValueError):
            reply = b""
        if reply:
            verdict = parse_reply(reply)
            if not verdict.is_clean:
                return verdict
        if isinstance(failure.__cause__, TimeoutError):
            return Verdict.error(f"clamd at {self._address} took no data for {self._timeout:g} s")
        return Verdict.error(f"lost clamd at {self._address} while sending: {failure}")

    def ping(self) -> None:
        """Return when clamd answers PING with PONG; raise ``ScannerUnavailable`` otherwise."""
        try:
            sock = self._connect()
            with sock:
                sock.settimeout(self._connect_timeout)
                sock.sendall(PING)
                reply = read_reply(sock)
        except (OSError, ValueError) as exc:
            raise ScannerUnavailable(f"clamd at {self._address} did not answer: {exc}") from exc
        if reply.removesuffix(b"\0").strip() != b"PONG":
            raise ScannerUnavailable(f"clamd at {self._address} answered PING with {reply!r}")
