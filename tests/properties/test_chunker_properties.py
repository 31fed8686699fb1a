"""The chunker's output depends on the bytes only, never on how they were pushed."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from pyfastcdc import FastCDC

from gateway.core.chunker import Chunker, ChunkSizes

SIZES = ChunkSizes.around(64 * 1024)


def _data(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _one_shot(data: bytes) -> list[bytes]:
    cdc = FastCDC(SIZES.normal, min_size=SIZES.minimum, max_size=SIZES.maximum)
    return [bytes(c.data) for c in cdc.cut_buf(data)]


def _pushed(data: bytes, cuts: list[int]) -> list[bytes]:
    chunker = Chunker(SIZES)
    out: list[bytes] = []
    previous = 0
    for cut in [*sorted(cuts), len(data)]:
        out += chunker.feed(data[previous:cut])
        previous = cut
    return out + chunker.finish()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 1_500_000),
    cuts=st.lists(st.floats(0, 1), max_size=40),
)
def test_any_split_yields_the_one_shot_chunks(seed: int, size: int, cuts: list[float]) -> None:
    data = _data(seed, size)
    pushed = _pushed(data, [int(c * size) for c in cuts])
    assert pushed == _one_shot(data)
    assert b"".join(pushed) == data


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32), piece=st.integers(1, 70_000))
def test_fixed_size_pushes_match(seed: int, piece: int) -> None:
    data = _data(seed, 900_000)
    chunker = Chunker(SIZES)
    out: list[bytes] = []
    for start in range(0, len(data), piece):
        out += chunker.feed(data[start : start + piece])
    assert out + chunker.finish() == _one_shot(data)


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
