"""``python -m bench.metrics_overhead``: what counting a request costs, in microseconds.

Calls a trivial WSGI application (one small body block) directly and through
``gateway.request_metrics.MeteredApplication``, the way cheroot's gateway does (call,
iterate, close), and prints the difference per request: the cost the request metrics
add to every request, without any network or server in the way. Best of several
rounds, so a busy machine inflates the figure as little as possible.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Iterable
from typing import Any

from gateway.metrics import Metrics
from gateway.request_metrics import OPERATION_KEY

BODY = [b"x" * 64]


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ[OPERATION_KEY] = "GetObject"
    start_response("200 OK", [("Content-Length", "64")])
    return BODY


def _start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> None:
    return None


def _serve(app: Callable[..., Iterable[bytes]], requests: int) -> float:
    """Seconds to serve ``requests`` requests through ``app``, as a WSGI server would."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/bucket/key",
        "CONTENT_LENGTH": "",
        "wsgi.input": io.BytesIO(),
    }
    started = time.perf_counter()
    for _ in range(requests):
        body = app(dict(environ), _start_response)
        for _block in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return time.perf_counter() - started


def measure(requests: int, rounds: int) -> tuple[float, float]:
    """Microseconds per request, plain and metered (best of ``rounds``)."""
    metered = Metrics(process=False).instrument(_app, "s3")
    plain = min(_serve(_app, requests) for _ in range(rounds)) / requests
    counted = min(_serve(metered, requests) for _ in range(rounds)) / requests
    return plain * 1e6, counted * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plain, counted = measure(args.requests, args.rounds)
    print(f"plain   {plain:.2f} us/request")
    print(f"metered {counted:.2f} us/request")
    print(f"cost    {counted - plain:.2f} us/request")


if __name__ == "__main__":
    main()
