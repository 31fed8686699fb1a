"""The HTTP listener's application: ``/healthz``, ``/metrics``, the ``/v1`` API, and WebDAV
for everything else.

``GET /healthz`` is the readiness report (``gateway.health``): 200 when every required
component answers, 503 naming the ones that do not. Anyone may ask: load balancers do,
without credentials, and the report holds no secret.

``GET /metrics`` is the Prometheus exposition (``gateway.metrics``). Who may read it is
``MetricsAccess``'s decision: bearer token holders when a token is configured, else
clients on loopback only.

Neither is answered on the S3 listener, where ``/healthz`` is a legal bucket name; a load
balancer in front of the S3 port checks the HTTP port of the same process instead
(docs/observability.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any

from gateway.health import HealthChecks
from gateway.metrics import Metrics
from gateway.request_metrics import OPERATION_KEY
from gateway.s3.response import StartResponse

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
API_PREFIX = "/v1"
NO_STORE = ("Cache-Control", "no-store")


def http_protocol(environ: dict[str, Any]) -> str:
    """The protocol label of a request to the HTTP listener: ``internal`` for the health
    and metrics endpoints, ``api`` under ``/v1``, ``webdav`` for the rest."""
    path = environ.get("PATH_INFO", "")
    if path in (HEALTH_PATH, METRICS_PATH):
        return "internal"
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return "api"
    return "webdav"


class MetricsAccess:
    """Who may read ``/metrics``.

    With a ``token``: any client sending ``Authorization: Bearer <token>``, compared in
    constant time; everyone else gets 401. Without one: clients connecting from a
    loopback address (a Prometheus or an agent on the same host); everyone else gets
    403. Behind a reverse proxy on the same host every client looks local, so such
    set-ups MUST configure a token.
    """

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    def refusal(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]]] | None:
        """None when the request may read the metrics, else the status and headers of the
        refusal."""
        if self._token is not None:
            scheme, _, given = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self._token
            ):
                return None
            return "401 Unauthorized", [("WWW-Authenticate", 'Bearer realm="metrics"')]
        if _is_loopback(str(environ.get("REMOTE_ADDR", ""))):
            return None
        return "403 Forbidden", []


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class HttpApplication:
    """Serves ``/healthz`` and ``/metrics`` (GET and HEAD), hands ``/v1`` to the native
    API and every other request to the WebDAV front end."""

    def __init__(
        self,
        dav: WsgiApp,
        api: WsgiApp,
        health: HealthChecks,
        metrics: Metrics,
        access: MetricsAccess,
    ) -> None:
        self._dav = dav
        self._api = api
        self._health = health
        self._metrics = metrics
        self._access = access

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            environ[OPERATION_KEY] = "healthz"
            return self._healthz(environ, start_response)
        if path == METRICS_PATH:
            environ[OPERATION_KEY] = "metrics"
            return self._scrape(environ, start_response)
        if http_protocol(environ) == "api":
            return self._api(environ, start_response)
        return self._dav(environ, start_response)

    def _healthz(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        refused = self._method_refusal(environ, start_response)
        if refused is not None:
            return refused
        report = self._health.run()
        status = "200 OK" if report.ok else "503 Service Unavailable"
        body = json.dumps(report.to_json()).encode()
        return self._reply(environ, start_response, status, body, "application/json", [])

    def _scrape(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        refused = self._method_refusal(environ, start_response)
        if refused is not None:
            return refused
        refusal = self._access.refusal(environ)
        if refusal is not None:
            status, headers = refusal
            body = f"{status}: see docs/observability.md for access to metrics\n".encode()
            return self._reply(
                environ, start_response, status, body, "text/plain; charset=utf-8", headers
            )
        body, content_type = self._metrics.render(environ.get("HTTP_ACCEPT"))
        return self._reply(environ, start_response, "200 OK", body, content_type, [])

    def _method_refusal(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes] | None:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return None
        body = json.dumps({"error": "GET or HEAD only"}).encode()
        return self._reply(
            environ,
            start_response,
            "405 Method Not Allowed",
            body,
            "application/json",
            [("Allow", "GET, HEAD")],
        )

    @staticmethod
    def _reply(
        environ: dict[str, Any],
        start_response: StartResponse,
        status: str,
        body: bytes,
        content_type: str,
        headers: list[tuple[str, str]],
    ) -> list[bytes]:
        start_response(
            status,
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                NO_STORE,
                *headers,
            ],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
