"""The HTTP listener's application: ``/healthz``, and WebDAV for everything else."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from gateway.core.storage import Storage
from gateway.s3.response import StartResponse


class HttpApplication:
    """Serves ``GET /healthz`` (200 when the metadata database answers, 503 otherwise) and
    hands every other request to the WebDAV front end."""

    def __init__(
        self,
        storage: Storage,
        dav: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
    ) -> None:
        self._storage = storage
        self._dav = dav

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != "/healthz":
            return self._dav(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self._reply(start_response, "405 Method Not Allowed", {"error": "GET only"})
        try:
            self._storage.metadata.ping()
        except Exception as exc:  # any failure means "not healthy", with the reason shown
            return self._reply(
                start_response,
                "503 Service Unavailable",
                {"status": "unhealthy", "error": type(exc).__name__},
            )
        return self._reply(start_response, "200 OK", {"status": "ok"})

    @staticmethod
    def _reply(start_response: StartResponse, status: str, payload: dict[str, str]) -> list[bytes]:
        body = json.dumps(payload).encode()
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]
