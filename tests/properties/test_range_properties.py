"""Every range read equals the slice of the original; Range parsing agrees with slicing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.s3.ranges import UnsatisfiableRange, parse_range
from tests.support.core import build_core

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
    assert core.blobs.calls["get"] == 1
    core.storage.close()
