"""The Scanner contract (``gateway.ports.Scanner``), run against every adapter.

What holds for any scanner: it is one, it answers ping, it judges clean data clean
whatever the pieces look like, and it never raises for the scanner's own failures.
What only a real scanner promises (detection, limits) is in
tests/integration/test_clamd_scanner.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from adapters.scan import open_scanner
from bench.clamd_service import ClamdService
from gateway.ports import Scanner
from gateway.records import Verdict

ADAPTERS = ["none", "clamd-unix", "clamd-tcp"]


@pytest.fixture(params=ADAPTERS)
def scanner(request: pytest.FixtureRequest) -> Scanner:
    if request.param == "none":
        return open_scanner("none")
    clamd: ClamdService = request.getfixturevalue("clamd_server")
    url = clamd.unix_url if request.param == "clamd-unix" else clamd.tcp_url
    return open_scanner(url, max_bytes=16 << 20)


def test_implements_the_port(scanner: Scanner) -> None:
    assert isinstance(scanner, Scanner)
    assert scanner.max_bytes is None or scanner.max_bytes > 0


def test_ping_answers(scanner: Scanner) -> None:
    scanner.ping()


@pytest.mark.parametrize(
    "pieces",
    [
        [],
        [b""],
        [b"plain text\n" * 1000],
        [bytearray(b"a" * 10), memoryview(b"b" * 10), b"", b"c"],
        [memoryview(bytearray(os.urandom(3 << 20)))],
    ],
    ids=["nothing", "one-empty-piece", "text", "mixed-buffers", "one-large-view"],
)
def test_clean_data_is_clean(scanner: Scanner, pieces: list[bytes]) -> None:
    assert scanner.scan(pieces) == Verdict.clean()


class CountedIterable:
    """Pieces that count how often they are iterated."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = pieces
        self.iterations = 0

    def __iter__(self) -> Iterator[bytes]:
        self.iterations += 1
        return iter(self.pieces)


def test_the_stream_is_iterated_at_most_once(scanner: Scanner) -> None:
    stream = CountedIterable(b"once", b" and only once")
    assert scanner.scan(stream) == Verdict.clean()
    assert stream.iterations <= 1
