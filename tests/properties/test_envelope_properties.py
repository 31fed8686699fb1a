"""decode(encode(x)) == x, and any damage to an envelope raises ChunkIntegrityError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import envelope
from gateway.errors import ChunkIntegrityError

bodies = st.one_of(
    st.binary(max_size=4096),
    st.builds(lambda word, n: word * n, st.binary(min_size=1, max_size=16), st.integers(1, 2000)),
)


@settings(max_examples=200, deadline=None)
@given(body=bodies, level=st.integers(1, 19))
def test_round_trip(body: bytes, level: int) -> None:
    assert envelope.decode(envelope.encode(body, level)) == body


@settings(max_examples=300, deadline=None)
@given(body=bodies, data=st.data())
def test_any_single_byte_change_is_detected(body: bytes, data: st.DataObject) -> None:
    blob = bytearray(envelope.encode(body))
    position = data.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ChunkIntegrityError):
        envelope.decode(bytes(blob))


@settings(max_examples=100, deadline=None)
@given(body=bodies, data=st.data())
def test_truncation_is_detected(body: bytes, data: st.DataObject) -> None:
    blob = envelope.encode(body)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ChunkIntegrityError):
        envelope.decode(blob[:cut])


def test_compressible_chunks_shrink_and_random_ones_stay_raw() -> None:
    text = b"the quick brown fox jumps over the lazy dog\n" * 1000
    assert len(envelope.encode(text)) < len(text) // 10
    noise = bytes(range(256)) * 4
    import os

    random_bytes = os.urandom(4096)
    stored = envelope.encode(random_bytes)
    assert stored[5] & envelope.FLAG_ZSTD == 0
    assert len(stored) == envelope.HEADER.size + len(random_bytes)
    assert envelope.decode(envelope.encode(noise)) == noise


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (lambda b: b"XXXX" + b[4:], "bad magic"),
        (lambda b: b[:4] + b"\x09" + b[5:], "unsupported format version"),
        (lambda b: b[:5] + b"\x80" + b[6:], "unknown flags"),
        (lambda b: b[:10], "truncated header"),
    ],
)
def test_errors_name_the_problem(mutation: object, reason: str) -> None:
    blob = envelope.encode(b"payload" * 100)
    with pytest.raises(ChunkIntegrityError, match=reason):
        envelope.decode(mutation(blob))  # type: ignore[operator]
