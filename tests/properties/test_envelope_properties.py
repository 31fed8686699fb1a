"""decode(encode(x)) == x, and any damage to an envelope raises ChunkIntegrityError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.blob.local import LocalBlobStore
from gateway.core import envelope
from gateway.core.chunk_store import ChunkStore, content_id
from gateway.errors import ChunkIntegrityError


def _stored(body: bytes, level: int = 3) -> bytes:
    """The envelope's bytes as a blob store keeps them: header, then payload."""
    return b"".join(envelope.encode(body, level))


bodies = st.one_of(
    st.binary(max_size=4096),
    st.builds(lambda word, n: word * n, st.binary(min_size=1, max_size=16), st.integers(1, 2000)),
)


@settings(max_examples=200, deadline=None)
@given(body=bodies, level=st.integers(1, 19))
def test_round_trip(body: bytes, level: int) -> None:
    assert envelope.decode(_stored(body, level)) == body


@settings(max_examples=300, deadline=None)
@given(body=bodies, data=st.data())
def test_any_single_byte_change_is_detected(body: bytes, data: st.DataObject) -> None:
    blob = bytearray(_stored(body))
    position = data.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ChunkIntegrityError):
        envelope.decode(bytes(blob))


@settings(max_examples=100, deadline=None)
@given(body=bodies, data=st.data())
def test_truncation_is_detected(body: bytes, data: st.DataObject) -> None:
    blob = _stored(body)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ChunkIntegrityError):
        envelope.decode(blob[:cut])


def test_compressible_chunks_shrink_and_random_ones_stay_raw() -> None:
    text = b"the quick brown fox jumps over the lazy dog\n" * 1000
    assert len(_stored(text)) < len(text) // 10
    noise = bytes(range(256)) * 4
    import os

    random_bytes = os.urandom(4096)
    stored = _stored(random_bytes)
    assert stored[5] & envelope.FLAG_ZSTD == 0
    assert len(stored) == envelope.HEADER.size + len(random_bytes)
    assert envelope.decode(_stored(noise)) == noise


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
    blob = _stored(b"payload" * 100)
    with pytest.raises(ChunkIntegrityError, match=reason):
        envelope.decode(mutation(blob))  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(body=bodies, level=st.integers(1, 19))
def test_decode_into_given_buffers_without_the_crc_round_trips(body: bytes, level: int) -> None:
    blob = _stored(body, level)
    buffers: list[bytearray] = []

    def allocate(size: int) -> memoryview:
        buffers.append(bytearray(size + 10))
        return memoryview(buffers[-1])[:size]

    plain = envelope.decode(blob, allocate=allocate, check_crc=False)
    assert plain == body
    compressed = blob[5] & envelope.FLAG_ZSTD
    assert plain.obj is (buffers[0] if compressed else blob), "decoded in place, no copy"
    assert len(buffers) == (1 if compressed else 0)


@pytest.mark.parametrize("lie", [-1, 1], ids=["smaller", "larger"])
def test_a_plain_size_that_does_not_match_the_frame_is_detected(lie: int) -> None:
    blob = bytearray(_stored(b"compressible " * 1000))
    assert blob[5] & envelope.FLAG_ZSTD
    size = int.from_bytes(blob[8:12], "big") + lie
    blob[8:12] = size.to_bytes(4, "big")
    with pytest.raises(ChunkIntegrityError, match="decoded to"):
        envelope.decode(bytes(blob), check_crc=False)


@pytest.fixture(scope="module")
def chunk_store(tmp_path_factory: pytest.TempPathFactory) -> ChunkStore:
    """A chunk store over a local directory; ``load`` needs no metadata."""
    return ChunkStore(LocalBlobStore(tmp_path_factory.mktemp("chunks")), metadata=None)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(body=bodies, data=st.data())
def test_load_serves_the_original_bytes_or_raises_whatever_the_damage(
    chunk_store: ChunkStore, body: bytes, data: st.DataObject
) -> None:
    """``load`` skips the CRC, as the BLAKE3 id covers it: damage it does not notice (the
    CRC field, framing zstd can do without) leaves exactly the stored bytes."""
    blob = bytearray(_stored(body))
    position = data.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= data.draw(st.integers(1, 255))
    chunk_store._blobs.put("chunks/damaged", bytes(blob))
    try:
        plain = chunk_store.load(content_id(body), "chunks/damaged")
    except ChunkIntegrityError:
        return
    assert plain == body
