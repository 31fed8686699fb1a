"""adapters.scan: scanner URLs, the none scanner, clamd replies and timeouts (no clamd needed)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.scan import ClamdScanner, NoScanner, TcpSocket, UnixSocket, open_scanner
from adapters.scan.clamd import parse_reply
from gateway.cli import _scanner_line
from gateway.ports import Scanner, ScannerUnavailable
from gateway.records import Verdict, VerdictKind
from gateway.settings import load_settings
from gateway.workers import scanner_from_settings


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("clamd:///run/clamav/clamd.ctl", UnixSocket("/run/clamav/clamd.ctl")),
        ("clamd:///tmp/with%20space.sock", UnixSocket("/tmp/with space.sock")),
        ("clamd://127.0.0.1:3311", TcpSocket("127.0.0.1", 3311)),
        ("clamd://scanner.internal", TcpSocket("scanner.internal", 3310)),
        ("clamd://[::1]:3310/", TcpSocket("::1", 3310)),
    ],
)
def test_clamd_urls(url: str, address: UnixSocket | TcpSocket) -> None:
    scanner = open_scanner(url, max_bytes=1234)
    assert isinstance(scanner, ClamdScanner)
    assert scanner.address == address
    assert scanner.max_bytes == 1234


def test_timeouts_in_the_url() -> None:
    scanner = open_scanner("clamd://127.0.0.1:3310?connect_timeout=0.5&timeout=30")
    assert isinstance(scanner, ClamdScanner)
    assert repr(scanner) == "ClamdScanner(tcp:127.0.0.1:3310, max_bytes=None)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:3310", "unsupported scanner URL"),
        ("clamav:///x.sock", "unsupported scanner URL"),
        ("clamd://", "absolute path"),
        ("clamd:///dir/", "absolute path"),
        ("clamd://host:port", "bad port"),
        ("clamd://host:99999", "bad port"),
        ("clamd://host:3310/some.sock", "names a host and a path"),
        ("clamd://user:pw@host:3310", "credentials"),
        ("clamd://host?timeout=0", "timeout must be"),
        ("clamd://host?timeout=inf", "timeout must be"),
        ("clamd://host?timeout=1&timeout=2", "timeout must be"),
        ("clamd://host?connect_timeout=", "connect_timeout must be"),
        ("clamd://host?retries=3", "unknown clamd scanner URL parameter"),
        ("clamd://host#x", "fragment"),
    ],
)
def test_bad_scanner_urls_are_rejected_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_scanner(url)


def test_none_scans_nothing_and_judges_everything_clean() -> None:
    scanner = open_scanner("none", max_bytes=10)
    assert isinstance(scanner, NoScanner)
    assert isinstance(scanner, Scanner)
    assert scanner.max_bytes is None
    scanner.ping()

    def unread() -> Iterator[bytes]:
        raise AssertionError("the none scanner read the stream")
        yield b""

    assert scanner.scan(unread()) == Verdict.clean()


def test_the_server_builds_the_scanner_from_settings() -> None:
    assert isinstance(scanner_from_settings(load_settings(None, environ={})), NoScanner)
    environ = {"GATEWAY_SCANNER_URL": "clamd:///run/clamd.sock", "GATEWAY_SCAN_MAX_BYTES": "999"}
    scanner = scanner_from_settings(load_settings(None, environ=environ))
    assert isinstance(scanner, ClamdScanner)
    assert scanner.address == UnixSocket("/run/clamd.sock")
    assert scanner.max_bytes == 999


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"stream: OK\0", Verdict.clean()),
        (b"stream: OK", Verdict.clean()),
        (b"stream: Eicar-Test-Signature FOUND\0", Verdict.infected("Eicar-Test-Signature")),
        (
            b"stream: Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68) FOUND\0",
            Verdict.infected("Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68)"),
        ),
    ],
)
def test_replies(reply: bytes, expected: Verdict) -> None:
    assert parse_reply(reply) == expected


@pytest.mark.parametrize(
    ("reply", "kind", "reason"),
    [
        (b"INSTREAM size limit exceeded. ERROR\0", VerdictKind.ERROR, "StreamMaxLength"),
        (b"stream: Can't allocate memory ERROR\0", VerdictKind.ERROR, "Can't allocate"),
        (b"UNKNOWN COMMAND\0", VerdictKind.ERROR, "unexpected reply"),
        (b"stream: OK stream: OK\0", VerdictKind.ERROR, "unexpected reply"),
        (b"\0", VerdictKind.ERROR, "unexpected reply"),
        (
            b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0",
            VerdictKind.UNSCANNABLE,
            "MaxFileSize",
        ),
        (
            b"stream: Heuristics.Limits.Exceeded.MaxScanTime FOUND\0",
            VerdictKind.UNSCANNABLE,
            "MaxScanTime",
        ),
    ],
)
def test_replies_that_are_not_a_scan_result(reply: bytes, kind: VerdictKind, reason: str) -> None:
    verdict = parse_reply(reply)
    assert verdict.kind is kind
    assert reason in (verdict.reason or "")


class SilentServer:
    """A unix socket that accepts connections, reads everything, and never answers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(4)
        self.received = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection:
            while data := connection.recv(1 << 16):
                self.received += len(data)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def silent_server(tmp_path: Path) -> Iterator[SilentServer]:
    server = SilentServer(tmp_path / "silent.sock")
    yield server
    server.close()


def test_a_scanner_that_never_answers_is_an_error_after_the_timeout(
    silent_server: SilentServer,
) -> None:
    scanner = ClamdScanner(UnixSocket(str(silent_server.path)), timeout=0.3)
    started = time.monotonic()
    verdict = scanner.scan([b"x" * 100_000])
    assert verdict.kind is VerdictKind.ERROR
    assert "no verdict within 0.3 s" in (verdict.reason or "")
    assert time.monotonic() - started < 5


def test_ping_of_a_silent_scanner_raises(silent_server: SilentServer) -> None:
    scanner = ClamdScanner(UnixSocket(str(silent_server.path)), connect_timeout=0.3)
    with pytest.raises(ScannerUnavailable, match="did not answer"):
        scanner.ping()


def test_nothing_listening_is_an_error_verdict_and_ping_raises(tmp_path: Path) -> None:
    scanner = ClamdScanner(UnixSocket(str(tmp_path / "absent.sock")))
    verdict = scanner.scan([b"data"])
    assert verdict.kind is VerdictKind.ERROR
    assert "cannot connect" in (verdict.reason or "")
    with pytest.raises(ScannerUnavailable):
        scanner.ping()


def test_invalid_scanner_options() -> None:
    with pytest.raises(ValueError):
        ClamdScanner(TcpSocket("127.0.0.1"), max_bytes=-1)
    with pytest.raises(ValueError):
        ClamdScanner(TcpSocket("127.0.0.1"), timeout=0)


def test_the_serve_banner_tells_how_objects_are_scanned(tmp_path: Path) -> None:
    disabled = load_settings(None, environ={})
    assert "scanning disabled" in _scanner_line(disabled, scanner_from_settings(disabled))
    environ = {
        "GATEWAY_SCANNER_URL": f"clamd://{tmp_path}/absent.sock",
        "GATEWAY_SCAN_MAX_BYTES": "1000",
        "GATEWAY_SCAN_OVERSIZE_POLICY": "flag",
    }
    absent = load_settings(None, environ=environ)
    line = _scanner_line(absent, scanner_from_settings(absent))
    assert "objects up to 1000 bytes; larger ones served flagged as unscanned" in line
    assert "NOT ANSWERING" in line
