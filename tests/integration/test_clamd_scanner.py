"""The clamd scanner against a real clamd: detection, limits, failures and recovery."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.scan import open_scanner
from bench.clamd_service import EICAR_REPORTED_NAMES, ClamdLimits, ClamdService, eicar
from bench.data import make_text
from bench.scan import file_pieces
from gateway.core.scanning import scan_object
from gateway.ports import ScannerUnavailable
from gateway.records import Verdict, VerdictKind
from tests.support.gateway_server import GatewayProcess

MIB = 1 << 20


def random_stream(mib: int, tail: bytes = b"") -> Iterator[bytes]:
    """``mib`` MiB of random bytes in 1 MiB pieces, then ``tail`` split across two pieces."""
    for _ in range(mib - 1):
        yield os.urandom(MIB)
    half = len(tail) // 2
    yield os.urandom(MIB) + tail[:half]
    yield tail[half:]


def file_stream(path: Path) -> Iterator[memoryview]:
    """The file's bytes in views of one reused buffer, as the read path hands them out."""
    return file_pieces(path)


def assert_eicar(verdict: Verdict) -> None:
    assert verdict.kind is VerdictKind.INFECTED, verdict
    assert verdict.signature in EICAR_REPORTED_NAMES


@pytest.mark.parametrize("url", ["unix_url", "tcp_url"])
def test_eicar_is_detected_by_name_over_unix_and_tcp(clamd_server: ClamdService, url: str) -> None:
    scanner = open_scanner(getattr(clamd_server, url), max_bytes=64 * MIB)
    scanner.ping()
    assert_eicar(scanner.scan([eicar()]))
    assert_eicar(scanner.scan([b"", bytearray(eicar()[:10]), memoryview(eicar())[10:]]))


def test_both_signature_files_are_loaded(clamd_server: ClamdService) -> None:
    assert "Loaded 2 signatures." in (clamd_server.root / "clamd.log").read_text()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_eicar_at_the_tail_of_60_mib_of_random_bytes_is_found(
    clamd_server: ClamdService, transport: str
) -> None:
    scanner = clamd_server.scanner("unix" if transport == "unix" else "tcp")
    assert_eicar(scanner.scan(random_stream(60, tail=eicar())))


def test_random_bytes_are_clean(clamd_server: ClamdService) -> None:
    assert clamd_server.scanner().scan(random_stream(8)) == Verdict.clean()


def test_text_scans_clean_and_quickly(clamd_server: ClamdService, tmp_path: Path) -> None:
    dataset = make_text(tmp_path / "text.log", 32 * MIB)
    started = time.monotonic()
    verdict = clamd_server.scanner("tcp").scan(file_stream(dataset.path))
    assert verdict == Verdict.clean()
    # Well under a second here; mail parsing (ScanMail) or a scan that reads the whole
    # object into memory at once would show as many times that.
    assert time.monotonic() - started < 20


def test_an_empty_object_is_clean(clamd_server: ClamdService) -> None:
    assert clamd_server.scanner().scan([]) == Verdict.clean()
    assert clamd_server.scanner().scan([b"", b""]) == Verdict.clean()


def test_concurrent_scans_each_get_their_own_verdict(clamd_server: ClamdService) -> None:
    scanner = clamd_server.scanner("tcp")
    verdicts: dict[int, Verdict] = {}

    def scan(index: int) -> None:
        tail = eicar() if index % 2 else b"nothing to see"
        verdicts[index] = scanner.scan(random_stream(4, tail=tail))

    threads = [threading.Thread(target=scan, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for index in range(6):
        if index % 2:
            assert_eicar(verdicts[index])
        else:
            assert verdicts[index] == Verdict.clean()


def test_stopped_clamd_is_an_error_and_a_restart_cures_it(
    clamd_restartable: ClamdService,
) -> None:
    scanners = [clamd_restartable.scanner("unix"), clamd_restartable.scanner("tcp")]
    clamd_restartable.stop()
    for scanner in scanners:
        verdict = scanner.scan([eicar()])
        assert verdict.kind is VerdictKind.ERROR
        assert "cannot connect to clamd" in (verdict.reason or "")
        assert scanner.scan(random_stream(2)).kind is VerdictKind.ERROR
        with pytest.raises(ScannerUnavailable):
            scanner.ping()
    clamd_restartable.start()
    for scanner in scanners:
        scanner.ping()
        assert_eicar(scanner.scan([eicar()]))
        assert scanner.scan([b"clean"]) == Verdict.clean()


def test_clamd_killed_mid_stream_is_an_error(clamd_restartable: ClamdService) -> None:
    scanner = clamd_restartable.scanner("tcp", timeout=10)

    def stream() -> Iterator[bytes]:
        yield os.urandom(MIB)
        clamd_restartable.stop()
        for _ in range(8):
            yield os.urandom(MIB)

    assert scanner.scan(stream()).kind is VerdictKind.ERROR


def test_an_object_over_the_limit_is_not_streamed(clamd_server: ClamdService) -> None:
    scanner = clamd_server.scanner(max_bytes=MIB)

    def must_not_open() -> Iterator[bytes]:
        raise AssertionError("an object over the limit was read")

    verdict = scan_object(scanner, MIB + 1, must_not_open)
    assert verdict.kind is VerdictKind.UNSCANNABLE
    assert scan_object(scanner, MIB, lambda: [os.urandom(MIB)]) == Verdict.clean()


def test_a_stream_that_outgrows_the_limit_is_cut_off(clamd_server: ClamdService) -> None:
    pulled = 0

    def stream() -> Iterator[bytes]:
        nonlocal pulled
        for _ in range(10):
            pulled += 1
            yield os.urandom(MIB // 2)
        yield eicar()

    verdict = clamd_server.scanner(max_bytes=MIB).scan(stream())
    assert verdict.kind is VerdictKind.UNSCANNABLE
    # Two pieces fill the limit; the third crosses it and is not sent.
    assert pulled == 3


def test_an_error_in_the_stream_propagates_and_clamd_carries_on(
    clamd_server: ClamdService,
) -> None:
    class ReadFailed(Exception):
        pass

    def broken() -> Iterator[bytes]:
        yield eicar()
        raise ReadFailed

    scanner = clamd_server.scanner()
    with pytest.raises(ReadFailed):
        scanner.scan(broken())
    assert_eicar(scanner.scan([eicar()]))


@pytest.fixture(scope="module")
def small_clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdService]:
    """A clamd with its limits set low: StreamMaxLength 2M, MaxFileSize 1M, MaxScanSize 1M."""
    limits = ClamdLimits(stream_max_length="2M", max_file_size="1M", max_scan_size="1M")
    with ClamdService(tmp_path_factory.mktemp("small-clamd"), limits=limits) as service:
        yield service


def test_a_stream_over_stream_max_length_is_an_error_never_clean(
    small_clamd: ClamdService,
) -> None:
    verdict = small_clamd.scanner().scan(random_stream(3))
    assert verdict.kind is VerdictKind.ERROR
    assert "StreamMaxLength" in (verdict.reason or "")


def test_a_file_over_max_file_size_is_unscannable_not_clean(small_clamd: ClamdService) -> None:
    # Without AlertExceedsMax clamd would scan the first MiB only and answer OK.
    pieces = [os.urandom(MIB), os.urandom(MIB // 2), eicar()]
    verdict = small_clamd.scanner("tcp").scan(pieces)
    assert verdict.kind is VerdictKind.UNSCANNABLE
    assert "Heuristics.Limits.Exceeded" in (verdict.reason or "")


def test_gateway_serve_names_its_scanner_and_checks_that_clamd_answers(
    clamd_server: ClamdService, start_gateway: Callable[..., GatewayProcess]
) -> None:
    gateway = start_gateway({"GATEWAY_SCANNER_URL": clamd_server.tcp_url})
    log = gateway.log()
    assert f"scanner       {clamd_server.tcp_url}   (objects up to 2097152000 bytes" in log
    assert "NOT ANSWERING" not in log


def test_gateway_serve_refuses_a_malformed_scanner_url(tmp_path: Path) -> None:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_SCANNER_URL": "clamd://h:x"}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "clamd scanner URL has a bad port" in result.stderr
