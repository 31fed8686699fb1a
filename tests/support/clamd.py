"""Pytest plugin: a real clamd (Debian's clamav-daemon) on loopback, shared by the session.

clamd loads a signature database the suite writes itself, which detects the EICAR test
file (``bench.clamd_service.eicar()``) as a whole and inside larger objects, and runs
with the limits docs/scanning.md recommends. The launching code is
``bench.clamd_service``, which the benchmarks use too.

Fixtures:

``clamd_server`` (session)
    A running ``ClamdService``: ``unix_url`` and ``tcp_url`` are its scanner URLs
    (``clamd:///.../clamd.sock``, ``clamd://127.0.0.1:PORT``), ``socket_path`` and
    ``tcp_port`` its addresses, ``scanner("unix" | "tcp", ...)`` a ``ClamdScanner`` of it.
    Tests that use it MUST NOT stop it.
``clamd_restartable`` (function)
    The same clamd, for a test that stops it (``stop()``) and starts it again
    (``start()``, on the same socket and port); it is running again after the test
    whatever the test did.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.clamd_service import ClamdService


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdService]:
    """Start a private clamd; yield it running; stop it by PID at the end of the session."""
    service = ClamdService(tmp_path_factory.mktemp("clamd"))
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def clamd_restartable(clamd_server: ClamdService) -> Iterator[ClamdService]:
    """The session's clamd for a test that stops it; restarted afterwards if need be."""
    yield clamd_server
    if not clamd_server.running:
        clamd_server.start()
