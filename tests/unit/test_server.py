"""gateway.server: what is left of a chunked request body the application did not read."""

from __future__ import annotations

import io

from cheroot.server import ChunkedRFile

from gateway.server import CHUNKED_DRAIN_LIMIT, drain_chunked


def _chunked(payload: bytes, chunk: int = 4096) -> ChunkedRFile:
    pieces = [payload[i : i + chunk] for i in range(0, len(payload), chunk)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    return ChunkedRFile(io.BytesIO(framed + b"0\r\n\r\nNEXT"), maxlen=0)


def test_a_short_rest_is_read_to_the_end() -> None:
    body = _chunked(b"x" * 100_000)
    body.read(10)
    assert drain_chunked(body)
    assert body.closed


def test_a_long_rest_is_given_up() -> None:
    assert not drain_chunked(_chunked(b"x" * (CHUNKED_DRAIN_LIMIT + 200_000)))


def test_a_malformed_rest_is_given_up() -> None:
    assert not drain_chunked(ChunkedRFile(io.BytesIO(b"zz\r\nbroken"), maxlen=0))
