"""Properties of the ``x-amz-tagging`` header parser and of multipart checksums."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.checksums import digest, multipart_checksum
from gateway.s3.errors import BadRequest, InvalidTag
from gateway.s3.tagging import MAX_TAGS, tags_from_header

_TAG_TEXT = st.text(
    alphabet=st.characters(categories=["L", "N", "Zs"]) | st.sampled_from("+-=._:/@"),
    max_size=20,
)
TAG_SETS = st.dictionaries(
    _TAG_TEXT.filter(lambda k: bool(k) and not k.lower().startswith("aws:")),
    _TAG_TEXT,
    max_size=MAX_TAGS,
)


@given(TAG_SETS)
def test_any_valid_tag_set_round_trips_through_the_header(tags: dict[str, str]) -> None:
    assert tags_from_header(urlencode(tags)) == tags


@given(st.text(max_size=200))
def test_any_header_parses_or_fails_with_an_s3_error(header: str) -> None:
    try:
        tags = tags_from_header(header)
    except (InvalidTag, BadRequest):
        return
    assert len(tags) <= MAX_TAGS


@given(TAG_SETS.filter(bool), st.data())
def test_a_repeated_key_is_invalid(tags: dict[str, str], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(tags)))
    header = urlencode(tags) + "&" + urlencode({key: "again"})
    with pytest.raises(InvalidTag):
        tags_from_header(header)


@given(
    st.sampled_from(["crc32", "crc32c", "crc64nvme"]),
    st.lists(st.binary(max_size=300), min_size=1, max_size=6),
)
def test_combined_part_crcs_equal_the_crc_of_the_whole(algorithm: str, parts: list[bytes]) -> None:
    values = [(base64.b64encode(digest(algorithm, p)).decode(), len(p)) for p in parts]
    combined = multipart_checksum(algorithm, "FULL_OBJECT", values)
    assert base64.b64decode(combined.value) == digest(algorithm, b"".join(parts))
