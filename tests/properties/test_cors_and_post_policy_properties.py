"""Properties of the CORS wildcard matcher and configuration parser, of POST policy
conditions, and of the streaming form reader."""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.s3 import cors
from gateway.s3.errors import AccessDenied, InvalidPolicyDocument, S3Error
from gateway.s3.form import read_form
from gateway.s3.post_policy import decode_policy
from gateway.s3.xml import serialize

text = st.text(alphabet="ab.*:/-", max_size=12)
plain = st.text(alphabet="ab.:/-", max_size=12)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


@given(pattern=text.filter(lambda p: p.count("*") <= 1), value=plain)
def test_wildcard_matches_like_a_single_star_glob(pattern: str, value: str) -> None:
    expected = re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), value, re.DOTALL)
    assert cors.wildcard_match(pattern, value) == (expected is not None)
    assert cors.wildcard_match(pattern, value) == fnmatch.fnmatchcase(
        value, pattern.replace("[", "[[]")
    )


@given(head=plain, middle=plain, tail=plain)
def test_star_matches_any_middle(head: str, middle: str, tail: str) -> None:
    assert cors.wildcard_match(f"{head}*{tail}", head + middle + tail)
    assert cors.wildcard_match("*", head + middle + tail)


origin = plain.filter(bool) | st.builds(lambda a, b: f"{a}*{b}", plain, plain)
header_pattern = st.from_regex(r"[a-z-]{1,8}\*?", fullmatch=True)
rule_strategy = st.builds(
    cors.CorsRule,
    allowed_origins=st.lists(origin, min_size=1, max_size=3).map(tuple),
    allowed_methods=st.lists(
        st.sampled_from(cors.METHODS), min_size=1, max_size=5, unique=True
    ).map(tuple),
    allowed_headers=st.lists(header_pattern, max_size=3).map(tuple),
    expose_headers=st.lists(st.from_regex(r"[A-Za-z-]{1,8}", fullmatch=True), max_size=3).map(
        tuple
    ),
    max_age_seconds=st.none() | st.integers(0, 10**6),
    id=st.none() | st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True),
)


@given(rules=st.lists(rule_strategy, min_size=1, max_size=5))
def test_configuration_survives_xml_and_storage(rules: list[cors.CorsRule]) -> None:
    parsed = cors.parse_configuration(serialize(cors.configuration_document(rules)))
    assert parsed == tuple(rules)
    assert cors.loads(cors.dumps(parsed)) == parsed


@given(body=st.binary(max_size=300))
def test_parser_never_fails_unexpectedly(body: bytes) -> None:
    with contextlib.suppress(S3Error):
        cors.parse_configuration(body)


def _policy(conditions: list[object], expires: datetime = NOW + timedelta(hours=1)) -> str:
    document = {"expiration": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "conditions": conditions}
    return base64.b64encode(json.dumps(document).encode()).decode()


@given(prefix=plain, value=plain)
def test_starts_with_holds_exactly_for_prefixes(prefix: str, value: str) -> None:
    policy = decode_policy(_policy([["starts-with", "$key", prefix]]))
    if value.startswith(prefix):
        policy.check({"key": value}, NOW)
    else:
        with pytest.raises(AccessDenied):
            policy.check({"key": value}, NOW)


@given(expected=plain, value=plain)
def test_eq_and_object_form_agree(expected: str, value: str) -> None:
    for condition in ({"key": expected}, ["eq", "$key", expected]):
        policy = decode_policy(_policy([condition]))
        if value == expected:
            policy.check({"key": value}, NOW)
        else:
            with pytest.raises(AccessDenied):
                policy.check({"key": value}, NOW)


def test_expired_and_extra_fields() -> None:
    with pytest.raises(AccessDenied, match="Policy expired"):
        decode_policy(_policy([], NOW - timedelta(seconds=1))).check({}, NOW)
    with pytest.raises(AccessDenied, match="Extra input fields: x-amz-meta-a"):
        decode_policy(_policy([])).check({"x-amz-meta-a": "1", "x-ignore-b": "2"}, NOW)


@given(low=st.integers(0, 10**9), high=st.integers(0, 10**9))
def test_length_range_is_read(low: int, high: int) -> None:
    assert decode_policy(_policy([["content-length-range", low, high]])).length_range == (low, high)


@given(encoded=st.text(max_size=200))
def test_any_policy_text_decodes_or_is_invalid(encoded: str) -> None:
    with contextlib.suppress(InvalidPolicyDocument):
        decode_policy(encoded)


field_name = st.from_regex(r"[a-z][a-z-]{0,10}", fullmatch=True).filter(lambda n: n != "file")


@given(
    fields=st.dictionaries(field_name, plain, max_size=5),
    content=st.binary(max_size=5000),
    read_size=st.integers(1, 700),
)
def test_form_reader_returns_fields_and_exact_file(
    fields: dict[str, str], content: bytes, read_size: int
) -> None:
    boundary = "XyZ123boundary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    body += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    got_fields, upload = read_form(io.BytesIO(body), boundary, len(body))
    assert got_fields == fields
    assert upload.filename == "f.bin"
    received = b""
    while chunk := upload.stream.read(read_size):
        assert len(chunk) <= read_size
        received += chunk
    assert received == content
