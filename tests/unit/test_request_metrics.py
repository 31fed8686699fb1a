"""gateway.request_metrics on a real cheroot server: each request counted once with its
labels, duration and body bytes, errors included."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from cheroot.wsgi import Server
from prometheus_client import CollectorRegistry, generate_latest

from gateway.request_body import request_body
from gateway.request_metrics import OPERATION_KEY, RequestMetrics
from gateway.wsgi_gateway import DirectWriteGateway
from tests.support.metrics import Exposition
from tests.support.net import free_port

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[Any]]
REQUESTS = "gateway_http_requests_total"
RECEIVED = "gateway_http_request_body_bytes_total"
SENT = "gateway_http_response_body_bytes_total"
DURATION = "gateway_http_request_duration_seconds"


def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
    """Reads the whole body (as the front ends do) and answers it back in two blocks."""
    environ[OPERATION_KEY] = "Echo"
    data = request_body(environ).read()
    start_response("200 OK", [("Content-Length", str(len(data) * 2))])
    return [data, memoryview(data)]


def ignores_body(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
    start_response("403 Forbidden", [("Content-Length", "6")])
    return [b"denied"]


def raises(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
    raise RuntimeError("application bug")


def breaks_off(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
    def body() -> Iterator[bytes]:
        yield b"12345"
        raise RuntimeError("the backend went away")

    start_response("200 OK", [("Content-Length", "10")])
    return body()


class Served:
    """A cheroot server of one metered application, and the metrics it records."""

    def __init__(self, app: App) -> None:
        self.metrics = RequestMetrics()
        self.port = free_port()
        self.server = Server(
            ("127.0.0.1", self.port), self.metrics.instrument(app, "s3"), numthreads=2
        )
        self.server.gateway = DirectWriteGateway
        self.server.prepare()
        threading.Thread(target=self.server.serve, daemon=True).start()

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def scrape(self, requests: int) -> Exposition:
        """The metrics once ``requests`` requests are recorded: a request is recorded when
        the server closes its response, a moment after the client has read it."""
        registry = CollectorRegistry()
        registry.register(self.metrics)
        deadline = time.monotonic() + 10
        while True:
            scraped = Exposition.parse(generate_latest(registry).decode())
            if scraped.total(REQUESTS) >= requests or time.monotonic() > deadline:
                assert scraped.total(REQUESTS) == requests
                return scraped
            time.sleep(0.01)


@pytest.fixture
def serve() -> Iterator[Callable[[App], Served]]:
    started: list[Served] = []

    def start(app: App) -> Served:
        served = Served(app)
        started.append(served)
        return served

    yield start
    for served in started:
        served.server.stop()


def test_each_request_is_counted_with_its_bytes(serve: Callable[[App], Served]) -> None:
    served = serve(echo)
    connection = served.connect()
    for size in (0, 1000, 70_000):
        connection.request("PUT", "/b/k", body=b"x" * size)
        response = connection.getresponse()
        assert response.read() == b"x" * size * 2
    scraped = served.scrape(3)
    assert scraped.value(REQUESTS, protocol="s3", operation="Echo", code="200") == 3
    assert scraped.value(RECEIVED, protocol="s3") == 71_000
    assert scraped.value(SENT, protocol="s3") == 142_000
    assert scraped.value(f"{DURATION}_count", protocol="s3", operation="Echo") == 3
    assert scraped.value(f"{DURATION}_bucket", protocol="s3", operation="Echo", le="+Inf") == 3
    assert scraped.value("gateway_http_requests_in_flight", protocol="s3") == 0
    assert scraped.types[DURATION] == "histogram"


def test_a_chunked_body_is_counted_as_received(serve: Callable[[App], Served]) -> None:
    served = serve(echo)
    connection = served.connect()
    pieces = [b"a" * 5000, b"b" * 3000]
    connection.request("PUT", "/b/k", body=iter(pieces), encode_chunked=True)
    assert connection.getresponse().read() == b"".join(pieces) * 2
    received = served.scrape(1).value(RECEIVED, protocol="s3")
    # The chunk data and the chunk-size lines ("1388\r\n", "bb8\r\n", "0\r\n", "\r\n").
    assert received == 8000 + 6 + 5 + 3 + 2


def test_a_body_the_application_left_unread_counts_once_drained(
    serve: Callable[[App], Served],
) -> None:
    served = serve(ignores_body)
    connection = served.connect()
    connection.request("PUT", "/b/k", body=b"y" * 4096)
    response = connection.getresponse()
    assert response.status == 403
    assert response.read() == b"denied"
    scraped = served.scrape(1)
    assert scraped.value(REQUESTS, protocol="s3", operation="PUT", code="403") == 1
    assert scraped.value(RECEIVED, protocol="s3") == 4096
    assert scraped.value(SENT, protocol="s3") == 6


def test_an_application_error_counts_as_500(serve: Callable[[App], Served]) -> None:
    served = serve(raises)
    connection = served.connect()
    connection.request("GET", "/b/k")
    assert connection.getresponse().status == 500
    scraped = served.scrape(1)
    assert scraped.value(REQUESTS, protocol="s3", operation="GET", code="500") == 1
    assert scraped.value("gateway_http_requests_in_flight", protocol="s3") == 0


def test_a_body_that_breaks_off_counts_what_was_sent(serve: Callable[[App], Served]) -> None:
    served = serve(breaks_off)
    connection = served.connect()
    connection.request("GET", "/b/k")
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    scraped = served.scrape(1)
    assert scraped.value(REQUESTS, protocol="s3", operation="GET", code="200") == 1
    assert scraped.value(SENT, protocol="s3") == 5


def test_unknown_methods_share_one_label(serve: Callable[[App], Served]) -> None:
    served = serve(ignores_body)
    connection = served.connect()
    for method in ("BREW", "WHEN", "PROPFIND"):
        connection.request(method, "/")
        connection.getresponse().read()
    scraped = served.scrape(3)
    assert scraped.value(REQUESTS, protocol="s3", operation="OTHER", code="403") == 2
    assert scraped.value(REQUESTS, protocol="s3", operation="PROPFIND", code="403") == 1


def test_the_protocol_can_depend_on_the_request() -> None:
    metrics = RequestMetrics()

    def protocol(environ: dict[str, Any]) -> str:
        return "internal" if environ["PATH_INFO"] == "/metrics" else "webdav"

    app = metrics.instrument(ignores_body, protocol)
    for path in ("/metrics", "/dav/x", "/dav/y"):
        body = app({"REQUEST_METHOD": "GET", "PATH_INFO": path}, lambda *args: None)
        assert list(body) == [b"denied"]
        close = getattr(body, "close")  # noqa: B009
        close()
        close()  # a second close records nothing
    registry = CollectorRegistry()
    registry.register(metrics)
    scraped = Exposition.parse(generate_latest(registry).decode())
    assert scraped.value(REQUESTS, protocol="internal", operation="GET", code="403") == 1
    assert scraped.value(REQUESTS, protocol="webdav", operation="GET", code="403") == 2


def test_durations_fall_into_their_buckets() -> None:
    metrics = RequestMetrics(buckets=(0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 5.0):
        metrics.started("s3")
        metrics.finished("s3", "GetObject", "200", seconds, 0, 0)
    registry = CollectorRegistry()
    registry.register(metrics)
    scraped = Exposition.parse(generate_latest(registry).decode())
    labels = {"protocol": "s3", "operation": "GetObject"}
    assert scraped.value(f"{DURATION}_bucket", le="0.1", **labels) == 2
    assert scraped.value(f"{DURATION}_bucket", le="1.0", **labels) == 3
    assert scraped.value(f"{DURATION}_bucket", le="+Inf", **labels) == 4
    assert scraped.value(f"{DURATION}_sum", **labels) == pytest.approx(5.65)
