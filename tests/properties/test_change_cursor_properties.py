"""Change-feed cursors: every cursor given out decodes to its id; anything else is a 400."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.api.change_routes import decode_cursor, encode_cursor
from gateway.api.problem import ApiError


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_a_cursor_decodes_to_its_id(feed_id: int) -> None:
    assert decode_cursor(encode_cursor(feed_id)) == feed_id


@given(st.text(max_size=40))
def test_only_cursors_given_out_are_accepted(text: str) -> None:
    try:
        feed_id = decode_cursor(text)
    except ApiError as error:
        assert error.status == 400 and error.code == "invalid_cursor"
    else:
        assert encode_cursor(feed_id) == text


def test_an_id_beyond_the_database_range_is_refused() -> None:
    with pytest.raises(ApiError) as refused:
        decode_cursor(encode_cursor(2**63))
    assert refused.value.status == 400
