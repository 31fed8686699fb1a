"""Request bodies read straight from cheroot's socket: Content-Length, chunked, keep-alive.

A real cheroot server on a free loopback port runs an application that reads the body
with ``request_body``; raw sockets send what clients send, pipelined requests included.
"""

from __future__ import annotations

import hashlib
import io
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cheroot.wsgi import Server

from gateway.errors import IncompleteBodyError, MalformedBodyError
from gateway.request_body import request_body
from gateway.tls import ssl_adapter, write_self_signed
from tests.support.net import free_port

StartResponse = Any


def _app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """Reads the body in ``buffer``-sized pieces (at most ``limit`` bytes) and answers
    ``<md5> <length> <complete>``, or 400 with the error's class name."""
    query = {k: int(v[0]) for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    body = request_body(environ)
    buffer = memoryview(bytearray(query.get("buffer", 65536)))
    limit = query.get("limit", -1)
    digest, length = hashlib.md5(usedforsecurity=False), 0
    try:
        while limit < 0 or length < limit:
            count = body.readinto(buffer)
            if not count:
                break
            digest.update(buffer[:count])
            length += count
    except (IncompleteBodyError, MalformedBodyError) as exc:
        answer = type(exc).__name__.encode()
        start_response(
            "400 Bad Request",
            [("Content-Length", str(len(answer))), ("Connection", "close")],
        )
        return [answer]
    answer = f"{digest.hexdigest()} {length} {body.complete}".encode()
    start_response("200 OK", [("Content-Length", str(len(answer)))])
    return [answer]


@dataclass
class Endpoint:
    """Where the test server listens, and how to connect to it."""

    port: int
    context: ssl.SSLContext | None

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if self.context is None:
            return sock
        return self.context.wrap_socket(sock, server_hostname="localhost")


@pytest.fixture(params=["plain", "tls"])
def endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Endpoint]:
    """A cheroot server running ``_app``, over plain TCP and over TLS."""
    server = Server(("127.0.0.1", free_port()), _app, numthreads=2)
    context = None
    if request.param == "tls":
        pair = write_self_signed(tmp_path)
        server.ssl_adapter = ssl_adapter(pair.cert, pair.key)
        context = ssl.create_default_context(cafile=str(pair.cert))
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield Endpoint(server.bind_addr[1], context)
    server.stop()
    thread.join(timeout=10)


def _put(body: bytes, path: str = "/", headers: str = "") -> bytes:
    head = f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode() + body


def _chunked(pieces: list[bytes], path: str = "/", trailers: bytes = b"") -> bytes:
    head = f"PUT {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    framed = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return head + framed + b"0\r\n" + trailers + b"\r\n"


def _responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """Read ``count`` responses (status, body) from ``sock``."""
    reader = sock.makefile("rb")
    found = []
    for _ in range(count):
        status = int(reader.readline().split()[1])
        length = 0
        while (line := reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        found.append((status, reader.read(length)))
    return found


def _expected(body: bytes, complete: bool = True) -> tuple[int, bytes]:
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    return 200, f"{md5} {len(body)} {complete}".encode()


def _random(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("buffer", [1, 1000, 65536, 1 << 20])
def test_content_length_body_in_any_buffer_size(endpoint: Endpoint, buffer: int) -> None:
    body = _random(300_000)
    with endpoint.connect() as sock:
        sock.sendall(_put(body, f"/?buffer={buffer}"))
        assert _responses(sock, 1) == [_expected(body)]


def test_body_arriving_slowly_after_the_headers(endpoint: Endpoint) -> None:
    body = _random(200_000, seed=2)
    request = _put(body)
    with endpoint.connect() as sock:
        for start in range(0, len(request), 70_000):
            sock.sendall(request[start : start + 70_000])
            time.sleep(0.05)
        assert _responses(sock, 1) == [_expected(body)]


def test_pipelined_requests_share_one_connection(endpoint: Endpoint) -> None:
    """A body never eats into the next request, and cheroot finds each one."""
    first, second, third = _random(100_000, 3), _random(150_000, 4), b"tail"
    pieces = [second[:1], second[1:70_000], second[70_000:]]
    with endpoint.connect() as sock:
        sock.sendall(
            _put(first)
            + _chunked(pieces, "/?buffer=4096", trailers=b"x-checksum: abc\r\n")
            + _put(third)
        )
        assert _responses(sock, 3) == [_expected(first), _expected(second), _expected(third)]


def test_a_body_read_in_part_is_skipped_for_the_next_request(endpoint: Endpoint) -> None:
    body, after = _random(500_000, 5), _random(1000, 6)
    with endpoint.connect() as sock:
        sock.sendall(_put(body, "/?limit=10&buffer=10") + _put(after))
        assert _responses(sock, 2) == [_expected(body[:10], complete=False), _expected(after)]


@pytest.mark.parametrize("buffer", [7, 65536])
def test_chunked_body_of_many_chunk_sizes(endpoint: Endpoint, buffer: int) -> None:
    body = _random(400_000, 7)
    cuts = sorted(random.Random(8).sample(range(1, len(body)), 40))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    with endpoint.connect() as sock:
        sock.sendall(_chunked(pieces, f"/?buffer={buffer}") + _put(b"next"))
        assert _responses(sock, 2) == [_expected(body), _expected(b"next")]


def test_empty_bodies(endpoint: Endpoint) -> None:
    with endpoint.connect() as sock:
        sock.sendall(_put(b"") + _chunked([]) + _put(b""))
        assert _responses(sock, 3) == [_expected(b"")] * 3


@pytest.mark.parametrize(
    "framing",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",
        b"-3\r\nabc\r\n0\r\n\r\n",
        b"0x3\r\nabc\r\n0\r\n\r\n",
        b"3\r\nabcXY0\r\n\r\n",
        b"3" * 9000 + b"\r\n",
    ],
    ids=["bad-size", "negative-size", "prefixed-size", "no-crlf-after-data", "endless-size-line"],
)
def test_malformed_chunked_body_is_refused(endpoint: Endpoint, framing: bytes) -> None:
    head = b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with endpoint.connect() as sock:
        sock.sendall(head + framing)
        assert _responses(sock, 1) == [(400, b"MalformedBodyError")]


def test_chunked_body_cut_off_inside_a_chunk_is_incomplete(endpoint: Endpoint) -> None:
    if endpoint.context is not None:
        pytest.skip("a half-closed TLS connection cannot carry the answer back")
    head = b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with endpoint.connect() as sock:
        sock.sendall(head + b"10000\r\n" + b"a" * 1000)
        sock.shutdown(socket.SHUT_WR)
        assert _responses(sock, 1) == [(400, b"IncompleteBodyError")]


def test_content_length_body_cut_off_ends_early(endpoint: Endpoint) -> None:
    if endpoint.context is not None:
        pytest.skip("a half-closed TLS connection cannot carry the answer back")
    with endpoint.connect() as sock:
        sock.sendall(_put(b"a" * 1000)[:-400])
        sock.shutdown(socket.SHUT_WR)
        assert _responses(sock, 1) == [_expected(b"a" * 600, complete=False)]


def test_other_inputs_are_read_no_further_than_content_length() -> None:
    environ = {"wsgi.input": io.BytesIO(b"0123456789"), "CONTENT_LENGTH": "4"}
    body = request_body(environ)
    assert body.read(100) == b"0123"
    assert body.read(100) == b""
    assert body.complete


def test_other_inputs_without_length_are_read_to_their_end() -> None:
    body = request_body({"wsgi.input": io.BytesIO(b"0123456789")})
    buffer = memoryview(bytearray(3))
    assert body.readinto(buffer) == 3
    assert body.read() == b"3456789"
    assert body.complete
