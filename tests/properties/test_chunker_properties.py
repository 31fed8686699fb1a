"""The chunker's output depends on the bytes only, never on how they were pushed."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from pyfastcdc import FastCDC

from gateway.core.chunker import Chunker, ChunkSizes, Cut

SIZES = ChunkSizes.around(64 * 1024)
# Small blocks, so tests cross many block boundaries and reuse released blocks.
BLOCK = 2 * SIZES.maximum


def _data(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _one_shot(data: bytes) -> list[bytes]:
    cdc = FastCDC(SIZES.normal, min_size=SIZES.minimum, max_size=SIZES.maximum)
    return [bytes(c.data) for c in cdc.cut_buf(data)]


def _copied(chunker: Chunker, *cuts: Cut) -> list[bytes]:
    """The chunks' bytes, releasing the views as a consumer would."""
    out: list[bytes] = []
    for cut in cuts:
        assert bytes(cut.data) == b"".join(bytes(c) for c in cut.chunks())
        out += [bytes(c) for c in cut.chunks()]
        chunker.release(len(cut.lengths))
    return out


def _pushed(data: bytes, cuts: list[int], first_block: int | None = None) -> list[bytes]:
    chunker = Chunker(SIZES, block_size=BLOCK, first_block=first_block)
    out: list[bytes] = []
    previous = 0
    for cut in [*sorted(cuts), len(data)]:
        out += _copied(chunker, *chunker.feed(data[previous:cut]))
        previous = cut
    return out + _copied(chunker, chunker.finish())


def _received(data: bytes, reads: list[int]) -> list[bytes]:
    """Bytes written into ``space`` in reads of the given sizes, as a socket would."""
    chunker = Chunker(SIZES, block_size=BLOCK)
    out: list[bytes] = []
    position, turn = 0, 0
    while position < len(data):
        space = chunker.space()
        count = min(len(space), reads[turn % len(reads)], len(data) - position)
        space[:count] = data[position : position + count]
        position += count
        turn += 1
        out += _copied(chunker, chunker.commit(count))
    return out + _copied(chunker, chunker.finish())


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 1_500_000),
    cuts=st.lists(st.floats(0, 1), max_size=40),
    first_block=st.one_of(st.none(), st.integers(1, 2 * BLOCK)),
)
def test_any_split_yields_the_one_shot_chunks(
    seed: int, size: int, cuts: list[float], first_block: int | None
) -> None:
    data = _data(seed, size)
    pushed = _pushed(data, [int(c * size) for c in cuts], first_block)
    assert pushed == _one_shot(data)
    assert b"".join(pushed) == data


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 1_500_000),
    reads=st.lists(st.integers(1, 300_000), min_size=1, max_size=20),
)
def test_any_reads_into_space_yield_the_one_shot_chunks(
    seed: int, size: int, reads: list[int]
) -> None:
    data = _data(seed, size)
    assert _received(data, reads) == _one_shot(data)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32), piece=st.integers(1, 70_000))
def test_fixed_size_pushes_match(seed: int, piece: int) -> None:
    data = _data(seed, 900_000)
    chunker = Chunker(SIZES, block_size=BLOCK)
    out: list[bytes] = []
    for start in range(0, len(data), piece):
        out += _copied(chunker, *chunker.feed(data[start : start + piece]))
    assert out + _copied(chunker, chunker.finish()) == _one_shot(data)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), lag=st.integers(0, 12))
def test_views_stay_intact_until_released(seed: int, lag: int) -> None:
    """A consumer that releases chunks late still reads every chunk as it was cut."""
    data = _data(seed, 2_000_000)
    chunker = Chunker(SIZES, block_size=BLOCK)
    held: list[memoryview] = []
    out: list[bytes] = []

    def take(*cuts: Cut) -> None:
        for cut in cuts:
            held.extend(cut.chunks())
        while len(held) > lag:
            out.append(bytes(held.pop(0)))
            chunker.release(1)

    for start in range(0, len(data), 100_000):
        take(*chunker.feed(data[start : start + 100_000]))
    take(chunker.finish())
    out += [bytes(v) for v in held]
    assert out == _one_shot(data)


@settings(max_examples=30, deadline=None)
@given(
    runs=st.lists(st.tuples(st.integers(0, 255), st.integers(1, 700_000)), min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
    cuts=st.lists(st.floats(0, 1), max_size=20),
)
def test_runs_of_one_byte_split_anywhere(
    runs: list[tuple[int, int]], seed: int, cuts: list[float]
) -> None:
    """Long runs give chunks of maximum size, which are final without a cut point."""
    data = b"".join(bytes([value]) * length + _data(seed, 5_000) for value, length in runs)
    assert _pushed(data, [int(c * len(data)) for c in cuts]) == _one_shot(data)


def test_chunks_are_read_only_views() -> None:
    chunker = Chunker(SIZES, block_size=BLOCK)
    cuts = [*chunker.feed(_data(3, 600_000)), chunker.finish()]
    assert all(cut.data.readonly for cut in cuts)
    assert all(c.readonly for cut in cuts for c in cut.chunks())


def test_chunk_sizes_respect_bounds_and_average() -> None:
    data = _data(7, 8 * 1024 * 1024)
    chunks = _pushed(data, [])
    assert all(len(c) <= SIZES.maximum for c in chunks)
    assert all(len(c) >= SIZES.minimum for c in chunks[:-1])
    average = len(data) / len(chunks)
    assert 0.6 * 64 * 1024 < average < 1.6 * 64 * 1024


def test_an_insertion_changes_only_nearby_chunks() -> None:
    data = _data(11, 4 * 1024 * 1024)
    edited = data[:2_000_000] + b"inserted bytes" + data[2_000_000:]
    before, after = set(_pushed(data, [])), set(_pushed(edited, []))
    assert len(before - after) <= 3
