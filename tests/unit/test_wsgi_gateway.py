"""DirectWriteGateway on a real cheroot server: blocks of any buffer type, each sent before
the next is asked for, chunked bodies, and bodies that overrun their Content-Length."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from cheroot.wsgi import Server

from gateway.wsgi_gateway import DirectWriteGateway
from tests.support.net import free_port

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[Any]]
BLOCK = 256 * 1024
BLOCKS = 12


def _reused_buffer_body() -> Iterator[memoryview]:
    """The same buffer every time, overwritten as soon as the gateway asks for more."""
    buffer = bytearray(BLOCK)
    for index in range(BLOCKS):
        buffer[:] = bytes([index]) * BLOCK
        with memoryview(buffer) as view:
            yield view


def _expected() -> bytes:
    return b"".join(bytes([index]) * BLOCK for index in range(BLOCKS))


def sized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
    start_response("200 OK", [("Content-Length", str(BLOCK * BLOCKS))])
    return _reused_buffer_body()


def chunked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
    start_response("200 OK", [])
    return [bytearray(b"chunked "), memoryview(b"body")]


def overrun(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
    start_response("200 OK", [("Content-Length", "5")])
    return [b"abc", memoryview(b"defgh")]


@pytest.fixture
def serve() -> Iterator[Callable[[App], http.client.HTTPConnection]]:
    servers: list[Server] = []

    def start(app: App) -> http.client.HTTPConnection:
        port = free_port()
        server = Server(("127.0.0.1", port), app, numthreads=2)
        server.gateway = DirectWriteGateway
        server.prepare()
        threading.Thread(target=server.serve, daemon=True).start()
        servers.append(server)
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    yield start
    for server in servers:
        server.stop()


def test_each_block_is_sent_before_the_next_is_requested(serve: Any) -> None:
    connection = serve(sized)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 200
    assert response.read() == _expected()


def test_a_body_without_length_is_sent_chunked(serve: Any) -> None:
    connection = serve(chunked)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == b"chunked body"


def test_a_body_longer_than_its_length_is_cut_at_the_length(serve: Any) -> None:
    connection = serve(overrun)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.getheader("Content-Length") == "5"
    with pytest.raises(http.client.IncompleteRead) as raised:
        response.read()
    assert raised.value.partial == b"abc"
