"""Every range read equals the slice of the original; Range parsing agrees with slicing."""

from __future__ import annotations

import io
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.buffer_pool import BufferPool, Lease
from gateway.core.reader import PIECE, RangeReader
from gateway.errors import ChunkIntegrityError
from gateway.s3.ranges import UnsatisfiableRange, parse_range
from tests.support.core import CoreFixture, build_core

SIZE = 700_000


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    core = build_core(tmp_path_factory.mktemp("ranges"))
    data = random.Random(3).randbytes(SIZE)
    obj = core.put("object", data)
    yield core, obj, data
    core.storage.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(start=st.integers(0, SIZE), length=st.integers(0, SIZE))
def test_range_read_equals_slice(stored, start: int, length: int) -> None:  # type: ignore[no-untyped-def]
    core, obj, data = stored
    end = min(start + length, SIZE)
    assert core.read(obj, start, end) == data[start:end]


_stream_steps = st.lists(
    st.one_of(
        st.tuples(st.just("seek"), st.integers(0, SIZE + 10)),
        st.tuples(st.just("read"), st.integers(0, 3 * PIECE)),
        st.tuples(st.just("readinto"), st.integers(0, 200_000)),
    ),
    max_size=12,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=_stream_steps)
def test_object_stream_reads_equal_the_file(stored, steps: list[tuple[str, int]]) -> None:  # type: ignore[no-untyped-def]
    core, obj, data = stored
    reference = io.BytesIO(data)
    with core.storage.open_object(obj) as stream:
        for op, number in steps:
            if op == "seek":
                assert stream.seek(number) == reference.seek(number)
                continue
            position = stream.tell()
            if op == "read":
                got = stream.read(number)
                assert len(got) <= PIECE
            else:
                buffer = bytearray(number)
                got = bytes(buffer[: stream.readinto(buffer)])
            # Raw streams may return less than asked, but never nothing before the end.
            assert got == data[position : position + len(got)]
            assert bool(got) == (number > 0 and position < SIZE)
            assert stream.tell() == position + len(got)
            reference.seek(position + len(got))
        rest = stream.read()
        assert rest == data[stream.tell() - len(rest) :]


class CountingPool(BufferPool):
    """A pool that remembers every distinct buffer it handed out."""

    def __init__(self) -> None:
        super().__init__()
        self.buffers: list[bytearray] = []

    def lease(self, size: int) -> Lease:
        lease = super().lease(size)
        buffer = lease.view.obj
        assert isinstance(buffer, bytearray)
        if not any(buffer is seen for seen in self.buffers):
            self.buffers.append(buffer)
        return lease


@pytest.fixture
def big(tmp_path: Path):  # type: ignore[no-untyped-def]
    core = build_core(tmp_path)
    data = random.Random(7).randbytes(4 * 1024 * 1024)
    obj = core.put("big", data)
    yield core, obj, data
    core.storage.close()


def _reader(core: CoreFixture, pool: BufferPool, executor: ThreadPoolExecutor) -> RangeReader:
    return RangeReader(core.metadata, core.storage.chunks, executor, prefetch=3, pool=pool)


def test_streaming_cycles_through_a_few_buffers(big) -> None:  # type: ignore[no-untyped-def]
    core, obj, data = big
    pool = CountingPool()
    with ThreadPoolExecutor(4) as executor:
        views = _reader(core, pool, executor).iter_range(obj.manifest_id, 0, obj.size)
        assert b"".join(map(bytes, views)) == data
    chunks = len(core.metadata.chunk_locations(obj.manifest_id, 0, obj.size))
    assert chunks > 40
    # At most four are in use at once (three loading ahead, one being sent); as chunk
    # sizes vary the pool keeps a few more, but never one per chunk.
    assert len(pool.buffers) <= 12


def test_a_view_is_released_when_the_next_is_requested(big) -> None:  # type: ignore[no-untyped-def]
    core, obj, data = big
    views = core.storage.read_range(obj, 0, obj.size)
    first = next(views)
    assert first == data[: len(first)]
    next(views)
    with pytest.raises(ValueError):
        bytes(first)
    views.close()


def test_closing_early_gives_every_buffer_back(big) -> None:  # type: ignore[no-untyped-def]
    core, obj, _ = big
    pool = CountingPool()
    with ThreadPoolExecutor(4) as executor:
        views = _reader(core, pool, executor).iter_range(obj.manifest_id, 0, obj.size)
        next(views)
        views.close()
    assert pool.idle_bytes == sum(len(buffer) for buffer in pool.buffers)


@pytest.mark.parametrize("victim_index", [0, 5])
def test_a_corrupted_chunk_stops_the_stream_before_any_wrong_byte(big, victim_index: int) -> None:  # type: ignore[no-untyped-def]
    core, obj, data = big
    locations = core.metadata.chunk_locations(obj.manifest_id, 0, obj.size)
    victim = locations[victim_index]
    core.blobs.corrupt_when(lambda key: key == victim.backend_key)
    served = bytearray()
    with pytest.raises(ChunkIntegrityError):
        for view in core.storage.read_range(obj, 0, obj.size):
            served += view
    assert served == data[: victim.offset]


def test_a_range_across_chunk_boundaries_reads_only_its_chunks(big) -> None:  # type: ignore[no-untyped-def]
    core, obj, data = big
    locations = core.metadata.chunk_locations(obj.manifest_id, 0, obj.size)
    start, end = locations[3].offset - 1, locations[6].offset + 1
    core.blobs.reset_calls()
    assert core.read(obj, start, end) == data[start:end]
    assert core.blobs.calls["get_into"] == 5


@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 10_000), first=st.integers(0, 12_000), last=st.integers(0, 12_000))
def test_closed_range_matches_python_slicing(size: int, first: int, last: int) -> None:
    header = f"bytes={first}-{last}"
    if last < first:
        assert parse_range(header, size) is None
        return
    if first >= size:
        with pytest.raises(UnsatisfiableRange):
            parse_range(header, size)
        return
    selected = parse_range(header, size)
    assert selected is not None
    assert (selected.start, selected.end) == (first, min(last + 1, size))
    assert selected.content_range == f"bytes {first}-{min(last, size - 1)}/{size}"


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 10_000), suffix=st.integers(1, 12_000))
def test_suffix_range_selects_the_tail(size: int, suffix: int) -> None:
    selected = parse_range(f"bytes=-{suffix}", size)
    assert selected is not None
    assert (selected.start, selected.end) == (max(size - suffix, 0), size)


@pytest.mark.parametrize(
    "header", ["items=0-1", "bytes=0-1,5-6", "bytes=abc", "bytes=-", "", "bytes 0-1"]
)
def test_unusable_headers_mean_whole_object(header: str) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=-0", 100), ("bytes=0-", 0), ("bytes=100-", 100)]
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, size)


def test_range_reads_fetch_only_overlapping_chunks(tmp_path: Path) -> None:
    core = build_core(tmp_path)
    data = random.Random(5).randbytes(4 * 1024 * 1024)
    obj = core.put("big", data)
    chunks = core.metadata.chunk_locations(obj.manifest_id, 0, obj.size)
    assert len(chunks) > 20
    target = chunks[10]
    core.blobs.reset_calls()
    start = target.offset + 10
    assert core.read(obj, start, start + 100) == data[start : start + 100]
    assert core.blobs.calls["get_into"] == 1
    core.storage.close()
