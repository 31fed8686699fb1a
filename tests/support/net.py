"""Loopback networking helpers for fixtures that start real servers."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The port is released before returning, so another process could take it
    before the caller binds it; servers started on it should fail loudly.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(
    url: str, timeout: float = 30.0, *, context: ssl.SSLContext | None = None
) -> None:
    """Return once ``url`` answers HTTP with any status; raise ``TimeoutError`` after ``timeout`` s.

    An error status (404, 403, ...) counts as an answer: the server is up. ``context``
    verifies an ``https`` server (for instance one trusting a self-signed certificate).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1.0, context=context):
                return
        except urllib.error.HTTPError:
            return
        except OSError as exc:  # URLError and refused/reset connections alike.
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s: {exc}") from exc
        time.sleep(0.1)
