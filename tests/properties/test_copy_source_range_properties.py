"""``x-amz-copy-source-range``: valid ranges give their bytes, anything else an S3 error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.s3.copy_source import copy_source_range
from gateway.s3.errors import InvalidArgument, InvalidRange


@given(size=st.integers(1, 10**12), data=st.data())
def test_a_range_inside_the_source_selects_its_bytes(size: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(0, size - 1))
    last = data.draw(st.integers(first, size - 1))
    assert copy_source_range(f"bytes={first}-{last}", size) == (first, last + 1)


@given(size=st.integers(0, 10**6), first=st.integers(0, 10**7), extra=st.integers(0, 10**7))
def test_a_range_past_the_end_is_invalid_range(size: int, first: int, extra: int) -> None:
    last = max(first, size) + extra
    try:
        copy_source_range(f"bytes={first}-{last}", size)
    except InvalidRange:
        return
    raise AssertionError("a range past the end was accepted")


@given(header=st.text(max_size=30), size=st.integers(0, 10**6))
def test_any_header_is_a_range_or_an_s3_error(header: str, size: int) -> None:
    try:
        start, end = copy_source_range(header, size)
    except (InvalidArgument, InvalidRange):
        return
    assert 0 <= start < end <= size


def test_no_header_selects_the_whole_source() -> None:
    assert copy_source_range(None, 42) == (0, 42)
