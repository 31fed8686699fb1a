"""Free loopback ports and polling until a server is ready."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable

LOOPBACK = "127.0.0.1"

# Ports handed out in this process, so two servers started back to back never get the same.
_handed_out: set[int] = set()


class NotReadyError(RuntimeError):
    """A server did not become ready in time, or its process exited while we waited."""


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port(*, also_free_at: tuple[int, ...] = ()) -> int:
    """A loopback TCP port that is free now, together with ``port + offset`` for each offset.

    Ports come from 20000-29999 so that offsets up to +10000 (SeaweedFS puts each gRPC
    port at its HTTP port + 10000) stay below the usual ephemeral range. A port is never
    returned twice by one process. Raises RuntimeError when none is found.
    """
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(20000, 30000)
        wanted = [port, *(port + offset for offset in also_free_at)]
        if any(p in _handed_out for p in wanted):
            continue
        if all(_bindable(p) for p in wanted):
            _handed_out.update(wanted)
            return port
    raise RuntimeError("no free loopback port found")


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    process: subprocess.Popen[bytes],
    timeout: float,
    interval: float = 0.2,
) -> None:
    """Call ``ready`` until it returns True.

    Raises NotReadyError when ``process`` exits first or ``timeout`` seconds pass.
    Exceptions from ``ready`` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise NotReadyError(f"{what}: process {process.pid} exited with code {code}")
        try:
            if ready():
                return
        except Exception as exc:  # any failure means "not ready yet"
            last_error = f" (last error: {type(exc).__name__}: {exc})"
        time.sleep(interval)
    raise NotReadyError(f"{what}: not ready after {timeout:.0f} s{last_error}")
