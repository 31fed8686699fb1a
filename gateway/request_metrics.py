"""Counting every HTTP request the listeners serve, cheaply enough to do it for all of them.

``MeteredApplication`` wraps a listener's WSGI application. It records each request once,
when the server closes the response (after the last body byte was sent, or the send
failed), including requests the application failed on: an exception out of the
application counts as status 500. Requests cheroot rejects before any application sees
them (a malformed request line, headers too large) are not counted.

What is recorded per request:

- protocol: fixed per listener, or decided from the request (``http_protocol``);
- operation: what the application names in ``environ[OPERATION_KEY]`` (the S3 front end
  puts its operation name there, ``PutObject``), else the HTTP method (``PROPFIND``), a
  method outside the known set counting as ``OTHER``, so clients cannot make series up;
- the status code the application answered;
- the time from the call of the application to the close of the response;
- request body bytes received: for a Content-Length body, the bytes read, by the
  application or drained by the server before it answered; for a chunked body, the
  chunk data and chunk-size lines read (cheroot's own accounting, which
  ``gateway.request_body`` keeps up to date);
- response body bytes, counted block by block once each block has been sent, so a
  download cut short counts what went out, and nothing is buffered.

``RequestMetrics`` keeps plain numbers under one lock, one dictionary entry per
(protocol, operation, status) with its duration buckets, and turns them into Prometheus
families only when scraped: a request costs one lock round and a few additions, well
under what ``prometheus_client``'s labelled children cost.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[Any]]

OPERATION_KEY = "gateway.operation"
"""WSGI environ key in which an application names the operation it served.

The value becomes a label: it MUST come from a fixed set in code (S3 operation names,
``healthz``), never from the request."""

PROTOCOLS = ("s3", "webdav", "api", "internal")
"""Protocols whose byte counters and in-flight gauge are exported from the start (at 0)."""

DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
"""Upper bounds (seconds) of the request duration histogram; +Inf is added."""

METHODS = frozenset(
    {
        "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
    }
)  # fmt: skip
"""HTTP methods used as operation labels as they are; any other counts as ``OTHER``."""

# Positions in a series' list of numbers; the duration buckets follow _BUCKETS.
_COUNT, _SECONDS, _RECEIVED, _SENT, _BUCKETS = range(5)


class RequestMetrics(Collector):
    """Counters of the requests served, exported by ``collect``. Thread-safe."""

    def __init__(
        self, buckets: Sequence[float] = DURATION_BUCKETS, protocols: Iterable[str] = PROTOCOLS
    ) -> None:
        self._bounds = tuple(sorted(buckets))
        self._lock = threading.Lock()
        # (protocol, operation, code) -> [count, seconds, received, sent, *bucket counts]
        self._series: dict[tuple[str, str, str], list[float]] = {}
        self._in_flight: dict[str, int] = dict.fromkeys(protocols, 0)

    def instrument(self, app: WsgiApp, protocol: str | Callable[[Environ], str]) -> WsgiApp:
        """``app`` with every request it serves recorded under ``protocol`` (a fixed name,
        or a function of the request's environ giving one from a fixed set)."""
        return MeteredApplication(app, self, protocol)

    def started(self, protocol: str) -> None:
        """Count a request of ``protocol`` as in flight until ``finished``."""
        with self._lock:
            self._in_flight[protocol] = self._in_flight.get(protocol, 0) + 1

    def finished(
        self,
        protocol: str,
        operation: str,
        code: str,
        seconds: float,
        received: int,
        sent: int,
    ) -> None:
        """Record a request that ``started``: its labels, duration and body bytes."""
        key = (protocol, operation, code)
        bucket = _BUCKETS + bisect_left(self._bounds, seconds)
        with self._lock:
            self._in_flight[protocol] -= 1
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = [0.0] * (_BUCKETS + len(self._bounds) + 1)
            series[_COUNT] += 1
            series[_SECONDS] += seconds
            series[_RECEIVED] += received
            series[_SENT] += sent
            series[bucket] += 1

    def collect(self) -> Iterator[Metric]:
        """The request families, from a consistent snapshot of the counters."""
        with self._lock:
            snapshot = {key: list(numbers) for key, numbers in self._series.items()}
            in_flight = dict(self._in_flight)
        requests = CounterMetricFamily(
            "gateway_http_requests",
            "HTTP requests served, by protocol, operation and status code.",
            labels=["protocol", "operation", "code"],
        )
        received = CounterMetricFamily(
            "gateway_http_request_body_bytes",
            "Request body bytes received, by protocol.",
            labels=["protocol"],
        )
        sent = CounterMetricFamily(
            "gateway_http_response_body_bytes",
            "Response body bytes sent, by protocol.",
            labels=["protocol"],
        )
        duration = HistogramMetricFamily(
            "gateway_http_request_duration_seconds",
            "Time from receiving a request to sending the last byte of its answer.",
            labels=["protocol", "operation"],
        )
        bytes_in = dict.fromkeys(in_flight, 0.0)
        bytes_out = dict.fromkeys(in_flight, 0.0)
        histograms: dict[tuple[str, str], list[float]] = {}
        for (protocol, operation, code), numbers in sorted(snapshot.items()):
            requests.add_metric([protocol, operation, code], numbers[_COUNT])
            bytes_in[protocol] = bytes_in.get(protocol, 0.0) + numbers[_RECEIVED]
            bytes_out[protocol] = bytes_out.get(protocol, 0.0) + numbers[_SENT]
            merged = histograms.setdefault((protocol, operation), [0.0] * len(numbers))
            for index, value in enumerate(numbers):
                merged[index] += value
        for protocol in sorted(bytes_in):
            received.add_metric([protocol], bytes_in[protocol])
            sent.add_metric([protocol], bytes_out[protocol])
        for (protocol, operation), numbers in sorted(histograms.items()):
            duration.add_metric([protocol, operation], self._cumulative(numbers), numbers[_SECONDS])
        gauge = GaugeMetricFamily(
            "gateway_http_requests_in_flight",
            "Requests being served now, by protocol.",
            labels=["protocol"],
        )
        for protocol, count in sorted(in_flight.items()):
            gauge.add_metric([protocol], count)
        yield from (requests, duration, received, sent, gauge)

    def _cumulative(self, numbers: list[float]) -> list[tuple[str, float]]:
        """Prometheus buckets (``le`` bound, observations at most that long) of a series."""
        buckets: list[tuple[str, float]] = []
        total = 0.0
        for bound, count in zip((*self._bounds, float("inf")), numbers[_BUCKETS:], strict=True):
            total += count
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        return buckets


def _operation(environ: Environ) -> str:
    named = environ.get(OPERATION_KEY)
    if named:
        return str(named)
    method = str(environ.get("REQUEST_METHOD", ""))
    return method if method in METHODS else "OTHER"


def _received(stream: Any, length: int | None) -> int:
    """Body bytes read so far from cheroot's request body reader ``stream``."""
    remaining = getattr(stream, "remaining", None)
    if isinstance(remaining, int) and length is not None:
        return length - remaining
    read = getattr(stream, "bytes_read", None)
    return read if isinstance(read, int) else 0


class MeteredApplication:
    """WSGI middleware: serves through ``app`` and records each request in ``metrics``."""

    def __init__(
        self, app: WsgiApp, metrics: RequestMetrics, protocol: str | Callable[[Environ], str]
    ) -> None:
        self._app = app
        self._metrics = metrics
        self._protocol = protocol

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[Any]:
        protocol = self._protocol if isinstance(self._protocol, str) else self._protocol(environ)
        exchange = _Exchange(self._metrics, protocol, environ, start_response)
        try:
            exchange.body = self._app(environ, exchange.start_response)
        except BaseException:
            exchange.failed()
            raise
        return exchange


class _Exchange:
    """One request in progress: the response body as the server iterates it, and the
    record made when the server closes it."""

    __slots__ = (
        "_environ",
        "_length",
        "_metrics",
        "_protocol",
        "_recorded",
        "_sent",
        "_start_response",
        "_started",
        "_status",
        "_stream",
        "body",
    )

    def __init__(
        self,
        metrics: RequestMetrics,
        protocol: str,
        environ: Environ,
        start_response: StartResponse,
    ) -> None:
        self._started = time.perf_counter()
        self._metrics = metrics
        self._protocol = protocol
        self._environ = environ
        self._start_response = start_response
        # Kept now: applications may replace these entries of environ.
        self._stream = environ.get("wsgi.input")
        length = environ.get("CONTENT_LENGTH")
        self._length = int(length) if length and str(length).isdigit() else None
        self._status = "500"
        self._sent = 0
        self._recorded = False
        self.body: Iterable[Any] = ()
        metrics.started(protocol)

    def start_response(self, status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        """Note the status, then start the response as the server's ``start_response``."""
        self._status = status[:3]
        return self._start_response(status, headers, *exc_info)

    def failed(self) -> None:
        """Record the request as the server's 500, the application having raised."""
        self._status = "500"
        self.close()

    def __iter__(self) -> Iterator[Any]:
        for block in self.body:
            yield block
            # Resumed only once the server has sent the block.
            self._sent += len(block)

    def close(self) -> None:
        """Close the application's body, then record the request (once)."""
        if self._recorded:
            return
        self._recorded = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._metrics.finished(
                self._protocol,
                _operation(self._environ),
                self._status,
                time.perf_counter() - self._started,
                _received(self._stream, self._length),
                self._sent,
            )
