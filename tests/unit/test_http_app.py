"""gateway.http_app: routing of /healthz and /metrics, methods, and who may read metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from gateway.health import HealthChecks
from gateway.http_app import HttpApplication, MetricsAccess, http_protocol
from gateway.metrics import Metrics

TOKEN = "t0ken-for-the-metrics-endpoint"


class Recorded:
    """What an application answered through ``start_response``."""

    status = ""
    headers: dict[str, str]

    def __call__(self, status: str, headers: list[tuple[str, str]], *exc_info: Any) -> None:
        self.status = status
        self.headers = dict(headers)


def dav(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("207 Multi-Status", [])
    return [b"dav"]


def api(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [])
    return [b"api"]


def call(app: HttpApplication, method: str, path: str, **environ: str) -> tuple[Recorded, bytes]:
    recorded = Recorded()
    base = {"REQUEST_METHOD": method, "PATH_INFO": path, "REMOTE_ADDR": "127.0.0.1"}
    body = b"".join(app({**base, **environ}, recorded))
    return recorded, body


def application(token: str | None = None, *, healthy: bool = True) -> HttpApplication:
    health = HealthChecks()

    def check() -> None:
        if not healthy:
            raise OSError("no")

    health.register("database", check)
    return HttpApplication(dav, api, health, Metrics(process=False), MetricsAccess(token))


def test_healthz_reports_the_checks() -> None:
    recorded, body = call(application(), "GET", "/healthz")
    assert recorded.status == "200 OK"
    assert recorded.headers["Content-Type"] == "application/json"
    assert recorded.headers["Cache-Control"] == "no-store"
    assert json.loads(body)["components"]["database"]["status"] == "ok"
    recorded, body = call(application(healthy=False), "GET", "/healthz")
    assert recorded.status == "503 Service Unavailable"
    assert json.loads(body)["failed"] == ["database"]


def test_head_answers_the_status_without_a_body() -> None:
    recorded, body = call(application(healthy=False), "HEAD", "/healthz")
    assert recorded.status == "503 Service Unavailable"
    assert body == b""
    assert int(recorded.headers["Content-Length"]) > 0


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_other_methods_are_refused(path: str) -> None:
    recorded, _ = call(application(), "POST", path)
    assert recorded.status == "405 Method Not Allowed"
    assert recorded.headers["Allow"] == "GET, HEAD"


def test_everything_else_goes_to_webdav() -> None:
    for path in ("/", "/dav/bucket/file", "/healthz/", "/metricsx", "/v10"):
        recorded, body = call(application(), "PROPFIND", path)
        assert (recorded.status, body) == ("207 Multi-Status", b"dav")


def test_v1_goes_to_the_native_api() -> None:
    for path in ("/v1", "/v1/files", "/v1/auth/token"):
        recorded, body = call(application(), "POST", path)
        assert (recorded.status, body) == ("200 OK", b"api")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.1.2.3", False),
        ("192.168.0.7", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("", False),
        ("unix-socket", False),
    ],
)
def test_without_a_token_only_loopback_clients_read_metrics(address: str, allowed: bool) -> None:
    recorded, body = call(application(), "GET", "/metrics", REMOTE_ADDR=address)
    if allowed:
        assert recorded.status == "200 OK"
        assert b"gateway_http_requests_in_flight" in body
    else:
        assert recorded.status == "403 Forbidden"
        assert b"gateway_" not in body


@pytest.mark.parametrize(
    ("authorization", "allowed"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (None, False),
        (f"Bearer {TOKEN}x", False),
        (f"Bearer {TOKEN[:-1]}", False),
        (f"Basic {TOKEN}", False),
        ("Bearer", False),
    ],
)
def test_with_a_token_only_its_holders_read_metrics(
    authorization: str | None, allowed: bool
) -> None:
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    # The client's address does not matter once a token is configured.
    recorded, body = call(application(TOKEN), "GET", "/metrics", REMOTE_ADDR="10.0.0.9", **extra)
    if allowed:
        assert recorded.status == "200 OK"
        assert recorded.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    else:
        assert recorded.status == "401 Unauthorized"
        assert recorded.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"gateway_" not in body
    loopback, _ = call(application(TOKEN), "GET", "/metrics", **extra)
    assert loopback.status == recorded.status


@pytest.mark.parametrize(
    ("path", "protocol"),
    [
        ("/healthz", "internal"),
        ("/metrics", "internal"),
        ("/v1", "api"),
        ("/v1/files/3", "api"),
        ("/v10", "webdav"),
        ("/dav/b/k", "webdav"),
        ("/", "webdav"),
    ],
)
def test_requests_are_labelled_by_protocol(path: str, protocol: str) -> None:
    assert http_protocol({"PATH_INFO": path}) == protocol
