"""Object operations against the real gateway: put/get/head, ranges, conditions, copy,
presigned URLs and virtual-hosted-style addressing."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_s3_helpers import (
    NS,
    assert_s3_error,
    backend_bytes,
    expect_error,
    parse_xml,
    raw_request,
    unique,
)
from tests.support.gateway_server import GatewayProcess, empty_bucket, make_client

# Every test that reaches the gateway through ``s3_gateway`` (or ``s3`` / ``bkt``) runs over
# plain HTTP and over HTTPS; see tests/integration/conftest.py.
pytestmark = pytest.mark.schemes("http", "https")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


# --- put, get, head ----------------------------------------------------------------------


def test_put_get_head_with_metadata_and_headers(s3: Any, bkt: str) -> None:
    body = os.urandom(300_000)
    expires = datetime(2031, 5, 17, 8, 30, tzinfo=UTC)
    put = s3.put_object(
        Bucket=bkt,
        Key="doc.bin",
        Body=body,
        Metadata={"color": "blue", "Owner-Name": "Zoe Example"},
        ContentType="application/x-custom; charset=utf-8",
        CacheControl="max-age=60, private",
        ContentDisposition='attachment; filename="doc.bin"',
        ContentEncoding="identity",
        ContentLanguage="de-CH",
        Expires=expires,
    )
    assert put["ETag"] == f'"{md5_hex(body)}"'
    for response in (
        s3.get_object(Bucket=bkt, Key="doc.bin"),
        s3.head_object(Bucket=bkt, Key="doc.bin"),
    ):
        assert response["ETag"] == f'"{md5_hex(body)}"'
        assert response["ContentLength"] == len(body)
        assert response["ContentType"] == "application/x-custom; charset=utf-8"
        assert response["CacheControl"] == "max-age=60, private"
        assert response["ContentDisposition"] == 'attachment; filename="doc.bin"'
        assert response["ContentEncoding"] == "identity"
        assert response["ContentLanguage"] == "de-CH"
        assert response["Expires"] == expires
        assert response["Metadata"] == {"color": "blue", "owner-name": "Zoe Example"}
        assert response["AcceptRanges"] == "bytes"
        assert abs(response["LastModified"] - datetime.now(UTC)) < timedelta(minutes=2)
    assert s3.get_object(Bucket=bkt, Key="doc.bin")["Body"].read() == body


def test_default_content_type(s3_gateway: GatewayProcess, bkt: str) -> None:
    put = raw_request(s3_gateway, "PUT", f"/{bkt}/plain", body=b"abc")
    assert put.status_code == 200, put.text
    got = raw_request(s3_gateway, "GET", f"/{bkt}/plain")
    assert got.content == b"abc"
    assert got.headers["content-type"] == "binary/octet-stream"


def test_gzip_content_encoding_is_stored_not_applied(
    s3_gateway: GatewayProcess, s3: Any, bkt: str
) -> None:
    body = gzip.compress(b"hello " * 1000)
    s3.put_object(Bucket=bkt, Key="page.gz", Body=body, ContentEncoding="gzip")
    assert s3.head_object(Bucket=bkt, Key="page.gz")["ContentEncoding"] == "gzip"
    raw = raw_request(s3_gateway, "GET", f"/{bkt}/page.gz")
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["content-length"] == str(len(body))
    assert gzip.decompress(body) == raw.content  # httpx decoded exactly what was stored


def test_get_and_head_missing_key(s3: Any, bkt: str) -> None:
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="absent")
    expect_error("404", 404, s3.head_object, Bucket=bkt, Key="absent")


def test_error_document_format(s3_gateway: GatewayProcess, bkt: str) -> None:
    response = raw_request(s3_gateway, "GET", f"/{bkt}/no/such/key")
    fields = assert_s3_error(response, 404, "NoSuchKey")
    assert fields["Resource"] == f"/{bkt}/no/such/key"
    assert len(fields["RequestId"]) >= 8
    # Every request has its own id.
    again = raw_request(s3_gateway, "GET", f"/{bkt}/no/such/key")
    assert again.headers["x-amz-request-id"] != response.headers["x-amz-request-id"]


def test_head_error_has_no_body_but_request_id(s3_gateway: GatewayProcess, bkt: str) -> None:
    response = raw_request(s3_gateway, "HEAD", f"/{bkt}/absent")
    assert response.status_code == 404
    assert response.content == b""
    assert response.headers["x-amz-request-id"]


def test_metadata_larger_than_2_kib_is_rejected(s3: Any, bkt: str) -> None:
    expect_error(
        "InvalidArgument",
        400,
        s3.put_object,
        Bucket=bkt,
        Key="fat",
        Body=b"x",
        Metadata={"big": "v" * 2100},
    )
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="fat")


# --- Content-MD5 -----------------------------------------------------------------------


def test_correct_content_md5_is_accepted(s3: Any, bkt: str) -> None:
    body = os.urandom(50_000)
    s3.put_object(Bucket=bkt, Key="k", Body=body, ContentMD5=md5_b64(body))
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == body


def test_wrong_content_md5_is_bad_digest_and_keeps_previous_version(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"version one")
    expect_error(
        "BadDigest",
        400,
        s3.put_object,
        Bucket=bkt,
        Key="k",
        Body=b"version two",
        ContentMD5=md5_b64(b"something else"),
    )
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"version one"
    expect_error(
        "BadDigest",
        400,
        s3.put_object,
        Bucket=bkt,
        Key="new",
        Body=b"data",
        ContentMD5=md5_b64(b"other"),
    )
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="new")


@pytest.mark.parametrize("digest", ["not base64!!", base64.b64encode(b"short").decode(), ""])
def test_malformed_content_md5_is_invalid_digest(
    s3_gateway: GatewayProcess, bkt: str, digest: str
) -> None:
    response = raw_request(
        s3_gateway, "PUT", f"/{bkt}/k", body=b"data", headers={"Content-MD5": digest}
    )
    assert_s3_error(response, 400, "InvalidDigest")
    missing = raw_request(s3_gateway, "HEAD", f"/{bkt}/k")
    assert missing.status_code == 404


# --- ranges ------------------------------------------------------------------------------

RANGE_SIZE = 3 * 1024 * 1024 + 12345


@pytest.fixture(scope="module")
def ranged(gateway_sqlite_local: GatewayProcess) -> Iterator[tuple[Any, str, bytes]]:
    """One multi-chunk object shared by the range tests: (client, bucket, body)."""
    client = gateway_sqlite_local.client()
    name = unique("ranges")
    client.create_bucket(Bucket=name)
    body = os.urandom(RANGE_SIZE)
    client.put_object(Bucket=name, Key="blob", Body=body)
    yield client, name, body
    empty_bucket(client, name)


def _get_range(client: Any, bucket: str, header: str) -> tuple[bytes, dict[str, Any]]:
    response = client.get_object(Bucket=bucket, Key="blob", Range=header)
    return response["Body"].read(), response


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=0-99", 0, 100),
        ("bytes=1048000-2097700", 1048000, 2097701),
        ("bytes=-500", RANGE_SIZE - 500, RANGE_SIZE),
        ("bytes=-1", RANGE_SIZE - 1, RANGE_SIZE),
        (f"bytes=-{RANGE_SIZE + 10}", 0, RANGE_SIZE),
        (f"bytes={RANGE_SIZE - 10}-", RANGE_SIZE - 10, RANGE_SIZE),
        ("bytes=2000000-", 2000000, RANGE_SIZE),
        (f"bytes={RANGE_SIZE - 5}-{RANGE_SIZE + 1000}", RANGE_SIZE - 5, RANGE_SIZE),
        (f"bytes={RANGE_SIZE - 1}-{RANGE_SIZE - 1}", RANGE_SIZE - 1, RANGE_SIZE),
        (f"bytes=0-{RANGE_SIZE - 1}", 0, RANGE_SIZE),
    ],
)
def test_range(ranged: tuple[Any, str, bytes], header: str, start: int, stop: int) -> None:
    client, bucket, body = ranged
    data, response = _get_range(client, bucket, header)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert data == body[start:stop]
    assert response["ContentLength"] == stop - start
    assert response["ContentRange"] == f"bytes {start}-{stop - 1}/{RANGE_SIZE}"
    assert response["ETag"] == f'"{md5_hex(body)}"'


@pytest.mark.parametrize(
    "header",
    [f"bytes={RANGE_SIZE}-", f"bytes={RANGE_SIZE + 5}-{RANGE_SIZE + 10}", "bytes=-0"],
)
def test_unsatisfiable_range(ranged: tuple[Any, str, bytes], header: str) -> None:
    client, bucket, _ = ranged
    error = expect_error(
        "InvalidRange", 416, client.get_object, Bucket=bucket, Key="blob", Range=header
    )
    assert error.response["Error"]["ActualObjectSize"] == str(RANGE_SIZE)


@pytest.mark.parametrize("header", ["bytes=5-2", "chars=0-10", "bytes=abc", "bytes=0-1,5-9"])
def test_unusable_range_returns_whole_object(ranged: tuple[Any, str, bytes], header: str) -> None:
    client, bucket, body = ranged
    response = client.get_object(Bucket=bucket, Key="blob", Range=header)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "ContentRange" not in response
    assert response["Body"].read() == body


def test_range_on_head(ranged: tuple[Any, str, bytes]) -> None:
    client, bucket, _ = ranged
    response = client.head_object(Bucket=bucket, Key="blob", Range="bytes=10-19")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert response["ContentLength"] == 10
    assert response["ContentRange"] == f"bytes 10-19/{RANGE_SIZE}"


_ranges = st.one_of(
    st.tuples(st.just("span"), st.integers(0, RANGE_SIZE - 1), st.integers(0, RANGE_SIZE + 5000)),
    st.tuples(st.just("suffix"), st.integers(1, RANGE_SIZE + 5000), st.just(0)),
    st.tuples(st.just("open"), st.integers(0, RANGE_SIZE - 1), st.just(0)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=_ranges)
def test_random_ranges_equal_the_slice(
    ranged: tuple[Any, str, bytes], spec: tuple[str, int, int]
) -> None:
    client, bucket, body = ranged
    kind, a, b = spec
    if kind == "span":
        first, last = min(a, b), max(a, b)
        header, expected_start, expected_stop = (
            f"bytes={first}-{last}",
            first,
            min(last + 1, RANGE_SIZE),
        )
    elif kind == "suffix":
        header, expected_start, expected_stop = f"bytes=-{a}", max(RANGE_SIZE - a, 0), RANGE_SIZE
    else:
        header, expected_start, expected_stop = f"bytes={a}-", a, RANGE_SIZE
    data, response = _get_range(client, bucket, header)
    assert data == body[expected_start:expected_stop], header
    assert response["ContentRange"] == (
        f"bytes {expected_start}-{expected_stop - 1}/{RANGE_SIZE}"
    ), header


# --- conditional requests ----------------------------------------------------------------


@pytest.fixture
def conditional(s3: Any, bkt: str) -> tuple[str, str]:
    """An object to test preconditions on: (bucket, etag with quotes)."""
    etag = s3.put_object(Bucket=bkt, Key="cond", Body=b"conditional body")["ETag"]
    return bkt, etag


def _http_date(delta: timedelta) -> str:
    return format_datetime(datetime.now(UTC) + delta, usegmt=True)


def test_if_match(s3: Any, conditional: tuple[str, str]) -> None:
    bucket, etag = conditional
    assert s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag)["Body"].read() == (
        b"conditional body"
    )
    assert s3.get_object(Bucket=bucket, Key="cond", IfMatch="*")["ETag"] == etag
    expect_error(
        "PreconditionFailed", 412, s3.get_object, Bucket=bucket, Key="cond", IfMatch='"0123"'
    )
    expect_error("412", 412, s3.head_object, Bucket=bucket, Key="cond", IfMatch='"0123"')


def test_if_none_match(s3_gateway: GatewayProcess, s3: Any, conditional: tuple[str, str]) -> None:
    bucket, etag = conditional
    expect_error("304", 304, s3.get_object, Bucket=bucket, Key="cond", IfNoneMatch=etag)
    expect_error("304", 304, s3.head_object, Bucket=bucket, Key="cond", IfNoneMatch=etag)
    response = s3.get_object(Bucket=bucket, Key="cond", IfNoneMatch='"other"')
    assert response["Body"].read() == b"conditional body"
    raw = raw_request(s3_gateway, "GET", f"/{bucket}/cond", headers={"If-None-Match": etag})
    assert raw.status_code == 304
    assert raw.content == b""
    assert raw.headers["etag"] == etag


def test_if_modified_since(s3: Any, conditional: tuple[str, str]) -> None:
    bucket, _ = conditional
    future = datetime.now(UTC) + timedelta(hours=1)
    past = datetime.now(UTC) - timedelta(hours=1)
    expect_error("304", 304, s3.get_object, Bucket=bucket, Key="cond", IfModifiedSince=future)
    assert s3.get_object(Bucket=bucket, Key="cond", IfModifiedSince=past)["ContentLength"] == 16


def test_conditional_dates_on_the_wire(
    s3_gateway: GatewayProcess, conditional: tuple[str, str]
) -> None:
    bucket, _ = conditional
    path = f"/{bucket}/cond"
    cases = [
        ({"If-Modified-Since": _http_date(timedelta(hours=1))}, 304),
        ({"If-Modified-Since": _http_date(timedelta(hours=-1))}, 200),
        ({"If-Unmodified-Since": _http_date(timedelta(hours=-1))}, 412),
        ({"If-Unmodified-Since": _http_date(timedelta(hours=1))}, 200),
        # An unparsable date is ignored, as RFC 9110 requires.
        ({"If-Modified-Since": "not a date"}, 200),
        ({"If-Unmodified-Since": "yesterday-ish"}, 200),
    ]
    for headers, status in cases:
        response = raw_request(s3_gateway, "GET", path, headers=headers)
        assert response.status_code == status, headers
        if status == 200:
            assert response.content == b"conditional body"


def test_if_unmodified_since(s3: Any, conditional: tuple[str, str]) -> None:
    bucket, etag = conditional
    future = datetime.now(UTC) + timedelta(hours=1)
    past = datetime.now(UTC) - timedelta(hours=1)
    expect_error(
        "PreconditionFailed",
        412,
        s3.get_object,
        Bucket=bucket,
        Key="cond",
        IfUnmodifiedSince=past,
    )
    assert s3.get_object(Bucket=bucket, Key="cond", IfUnmodifiedSince=future)["ETag"] == etag
    # A matching If-Match makes If-Unmodified-Since irrelevant (RFC 9110 13.2.2).
    assert (
        s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag, IfUnmodifiedSince=past)["ETag"]
        == etag
    )


def test_last_modified_round_trips_as_precondition(s3: Any, conditional: tuple[str, str]) -> None:
    """The Last-Modified a client saw is 'not modified since' for If-Modified-Since."""
    bucket, _ = conditional
    seen = s3.head_object(Bucket=bucket, Key="cond")["LastModified"]
    expect_error("304", 304, s3.get_object, Bucket=bucket, Key="cond", IfModifiedSince=seen)
    assert s3.get_object(Bucket=bucket, Key="cond", IfUnmodifiedSince=seen)["ContentLength"] == 16


# --- response overrides, overwrite, delete ------------------------------------------------


def test_response_header_overrides(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="data.json", Body=b"{}", ContentType="text/plain")
    response = s3.get_object(
        Bucket=bkt,
        Key="data.json",
        ResponseContentType="application/json",
        ResponseContentDisposition='attachment; filename="x.json"',
        ResponseCacheControl="no-cache",
        ResponseContentLanguage="fr",
    )
    assert response["ContentType"] == "application/json"
    assert response["ContentDisposition"] == 'attachment; filename="x.json"'
    assert response["CacheControl"] == "no-cache"
    assert response["ContentLanguage"] == "fr"
    assert response["Body"].read() == b"{}"
    stored = s3.head_object(Bucket=bkt, Key="data.json")
    assert stored["ContentType"] == "text/plain"
    assert "ContentDisposition" not in stored


def test_overwrite_replaces_content(s3: Any, bkt: str) -> None:
    first = os.urandom(2 * 1024 * 1024)
    s3.put_object(Bucket=bkt, Key="k", Body=first, Metadata={"v": "1"}, ContentType="a/b")
    s3.put_object(Bucket=bkt, Key="k", Body=b"short")
    response = s3.get_object(Bucket=bkt, Key="k")
    assert response["Body"].read() == b"short"
    assert response["Metadata"] == {}
    assert response["ContentType"] == "binary/octet-stream"
    listed = s3.list_objects_v2(Bucket=bkt)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        ("k", 5, f'"{md5_hex(b"short")}"')
    ]


def test_delete_object(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="gone", Body=b"x")
    assert s3.delete_object(Bucket=bkt, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="gone")
    response = s3.delete_object(Bucket=bkt, Key="never-existed")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204


@pytest.mark.parametrize("quiet", [False, True])
def test_delete_objects(s3: Any, bkt: str, quiet: bool) -> None:
    for key in ("a", "b", "c", "keep"):
        s3.put_object(Bucket=bkt, Key=key, Body=key.encode())
    response = s3.delete_objects(
        Bucket=bkt,
        Delete={"Objects": [{"Key": k} for k in ("a", "b", "c", "missing")], "Quiet": quiet},
    )
    assert response.get("Errors", []) == []
    deleted = sorted(d["Key"] for d in response.get("Deleted", []))
    assert deleted == ([] if quiet else ["a", "b", "c", "missing"])
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bkt)["Contents"]]
    assert remaining == ["keep"]


def test_delete_objects_keeps_whitespace_in_keys(s3: Any, bkt: str) -> None:
    """Keys are taken verbatim: `` lead`` is not ``lead``, and ``lead`` must survive."""
    for key in (" lead", "trail ", "lead", "trail", "\tTab"):
        s3.put_object(Bucket=bkt, Key=key, Body=key.encode())
    response = s3.delete_objects(
        Bucket=bkt, Delete={"Objects": [{"Key": k} for k in (" lead", "trail ", "\tTab")]}
    )
    assert sorted(d["Key"] for d in response.get("Deleted", [])) == ["\tTab", " lead", "trail "]
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bkt)["Contents"]]
    assert remaining == ["lead", "trail"]


def test_delete_objects_with_too_many_keys_is_malformed(
    s3_gateway: GatewayProcess, bkt: str
) -> None:
    objects = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1001))
    response = raw_request(
        s3_gateway,
        "POST",
        f"/{bkt}",
        query="delete",
        body=f"<Delete>{objects}</Delete>".encode(),
    )
    assert_s3_error(response, 400, "MalformedXML")


def test_empty_object(s3: Any, bkt: str) -> None:
    put = s3.put_object(Bucket=bkt, Key="empty", Body=b"")
    assert put["ETag"] == f'"{md5_hex(b"")}"'
    response = s3.get_object(Bucket=bkt, Key="empty")
    assert response["Body"].read() == b""
    assert response["ContentLength"] == 0
    assert s3.head_object(Bucket=bkt, Key="empty")["ContentLength"] == 0
    assert s3.list_objects_v2(Bucket=bkt)["Contents"][0]["Size"] == 0
    expect_error("InvalidRange", 416, s3.get_object, Bucket=bkt, Key="empty", Range="bytes=0-")


# --- keys ----------------------------------------------------------------------------------

ODD_KEYS = [
    "with space.txt",
    "plus+sign",
    "percent%20literal",
    "100%",
    "ünïcödé/日本語/файл.txt",
    "emoji-🎉.bin",
    "a?b#c&d=e",
    "dir//double/./dot/../x",
    "tilde~star*quote'paren()",
    "semi;colon:at@dollar$comma,",
    " leading and trailing ",
    "back\\slash",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_round_trip(s3: Any, bkt: str, key: str) -> None:
    body = key.encode() * 3
    s3.put_object(Bucket=bkt, Key=key, Body=body)
    assert s3.get_object(Bucket=bkt, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bkt, Key=key)["ContentLength"] == len(body)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bkt)["Contents"]] == [key]
    s3.delete_object(Bucket=bkt, Key=key)
    assert s3.list_objects_v2(Bucket=bkt)["KeyCount"] == 0


def test_plus_in_path_is_not_a_space(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="a+b", Body=b"plus")
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="a b")
    assert s3.get_object(Bucket=bkt, Key="a+b")["Body"].read() == b"plus"


@pytest.mark.parametrize("key", ["k" * 1024, "é" * 512, "x" + "日" * 341])
def test_key_of_1024_bytes_is_accepted(s3: Any, bkt: str, key: str) -> None:
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bkt, Key=key, Body=b"long")
    assert s3.get_object(Bucket=bkt, Key=key)["Body"].read() == b"long"
    assert s3.list_objects_v2(Bucket=bkt)["Contents"][0]["Key"] == key


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 512 + "x", "日" * 342])
def test_key_over_1024_bytes_is_too_long(s3: Any, bkt: str, key: str) -> None:
    assert len(key.encode()) > 1024
    expect_error("KeyTooLongError", 400, s3.put_object, Bucket=bkt, Key=key, Body=b"x")
    expect_error("KeyTooLongError", 400, s3.create_multipart_upload, Bucket=bkt, Key=key)
    assert s3.list_objects_v2(Bucket=bkt)["KeyCount"] == 0


# --- copy ----------------------------------------------------------------------------------


def test_copy_with_copy_directive_keeps_metadata(s3: Any, bkt: str) -> None:
    s3.put_object(
        Bucket=bkt,
        Key="src",
        Body=b"source bytes",
        Metadata={"origin": "source"},
        ContentType="text/x-source",
        CacheControl="max-age=5",
    )
    result = s3.copy_object(
        Bucket=bkt,
        Key="dst",
        CopySource={"Bucket": bkt, "Key": "src"},
        Metadata={"ignored": "yes"},
        ContentType="text/ignored",
    )
    assert result["CopyObjectResult"]["ETag"] == f'"{md5_hex(b"source bytes")}"'
    copied = s3.get_object(Bucket=bkt, Key="dst")
    assert copied["Body"].read() == b"source bytes"
    assert copied["Metadata"] == {"origin": "source"}
    assert copied["ContentType"] == "text/x-source"
    assert copied["CacheControl"] == "max-age=5"


def test_copy_with_replace_directive_replaces_metadata(s3: Any, bkt: str) -> None:
    s3.put_object(
        Bucket=bkt,
        Key="src",
        Body=b"source bytes",
        Metadata={"origin": "source"},
        ContentType="text/x-source",
        CacheControl="max-age=5",
    )
    s3.copy_object(
        Bucket=bkt,
        Key="dst",
        CopySource={"Bucket": bkt, "Key": "src"},
        MetadataDirective="REPLACE",
        Metadata={"new": "meta"},
        ContentType="text/replaced",
    )
    copied = s3.get_object(Bucket=bkt, Key="dst")
    assert copied["Body"].read() == b"source bytes"
    assert copied["Metadata"] == {"new": "meta"}
    assert copied["ContentType"] == "text/replaced"
    assert "CacheControl" not in copied
    source = s3.head_object(Bucket=bkt, Key="src")
    assert source["Metadata"] == {"origin": "source"}
    assert source["ContentType"] == "text/x-source"


def test_copy_onto_itself(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="self", Body=b"me", Metadata={"v": "1"})
    expect_error(
        "InvalidRequest",
        400,
        s3.copy_object,
        Bucket=bkt,
        Key="self",
        CopySource={"Bucket": bkt, "Key": "self"},
    )
    s3.copy_object(
        Bucket=bkt,
        Key="self",
        CopySource={"Bucket": bkt, "Key": "self"},
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    response = s3.get_object(Bucket=bkt, Key="self")
    assert response["Body"].read() == b"me"
    assert response["Metadata"] == {"v": "2"}


def test_copy_source_preconditions(s3: Any, bkt: str) -> None:
    etag = s3.put_object(Bucket=bkt, Key="src", Body=b"payload")["ETag"]
    expect_error(
        "PreconditionFailed",
        412,
        s3.copy_object,
        Bucket=bkt,
        Key="dst",
        CopySource={"Bucket": bkt, "Key": "src"},
        CopySourceIfMatch='"deadbeef"',
    )
    expect_error(
        "PreconditionFailed",
        412,
        s3.copy_object,
        Bucket=bkt,
        Key="dst",
        CopySource={"Bucket": bkt, "Key": "src"},
        CopySourceIfNoneMatch=etag,
    )
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="dst")
    s3.copy_object(
        Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"}, CopySourceIfMatch=etag
    )
    assert s3.get_object(Bucket=bkt, Key="dst")["Body"].read() == b"payload"


def test_copy_of_missing_source(s3: Any, bkt: str) -> None:
    expect_error(
        "NoSuchKey",
        404,
        s3.copy_object,
        Bucket=bkt,
        Key="dst",
        CopySource={"Bucket": bkt, "Key": "nothing"},
    )


def test_copy_source_with_special_characters(s3: Any, bkt: str) -> None:
    key = "dir with space/ü+%.txt"
    s3.put_object(Bucket=bkt, Key=key, Body=b"odd")
    s3.copy_object(Bucket=bkt, Key="plain", CopySource={"Bucket": bkt, "Key": key})
    assert s3.get_object(Bucket=bkt, Key="plain")["Body"].read() == b"odd"


def test_large_copy_shares_chunks(gateway: GatewayProcess, s3_client: Any, bucket: str) -> None:
    """A copy of a 20 MiB object stores nothing new and survives deleting its source."""
    body = os.urandom(20 * 1024 * 1024)
    s3_client.put_object(Bucket=bucket, Key="big", Body=body)
    before = backend_bytes(gateway)
    other = unique("copy-target")
    s3_client.create_bucket(Bucket=other)
    try:
        result = s3_client.copy_object(
            Bucket=other, Key="big-copy", CopySource={"Bucket": bucket, "Key": "big"}
        )
        s3_client.copy_object(Bucket=bucket, Key="same-bucket-copy", CopySource=f"{bucket}/big")
        assert result["CopyObjectResult"]["ETag"] == f'"{md5_hex(body)}"'
        assert backend_bytes(gateway) == before
        s3_client.delete_object(Bucket=bucket, Key="big")
        copied = s3_client.get_object(Bucket=other, Key="big-copy")["Body"].read()
        assert hashlib.sha256(copied).digest() == hashlib.sha256(body).digest()
        same = s3_client.get_object(Bucket=bucket, Key="same-bucket-copy", Range="bytes=-1000")
        assert same["Body"].read() == body[-1000:]
    finally:
        empty_bucket(s3_client, other)


# --- presigned URLs ------------------------------------------------------------------------


@pytest.fixture
def presigner(s3_gateway: GatewayProcess) -> Any:
    """A client whose presigned URLs use SigV4 (boto3 presigns SigV2 by default for S3)."""
    return s3_gateway.client(signature_version="s3v4")


def test_presigned_get(s3_gateway: GatewayProcess, s3: Any, presigner: Any, bkt: str) -> None:
    body = os.urandom(10_000)
    s3.put_object(Bucket=bkt, Key="shared file.bin", Body=body)
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bkt, "Key": "shared file.bin"}, ExpiresIn=300
    )
    response = httpx.get(url, verify=s3_gateway.ssl_context)
    assert response.status_code == 200
    assert response.content == body


def test_presigned_put(s3_gateway: GatewayProcess, s3: Any, presigner: Any, bkt: str) -> None:
    url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bkt, "Key": "uploaded"}, ExpiresIn=300
    )
    response = httpx.put(url, content=b"via presigned url", verify=s3_gateway.ssl_context)
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=bkt, Key="uploaded")["Body"].read() == b"via presigned url"


def test_expired_presigned_url_is_denied(
    s3_gateway: GatewayProcess, s3: Any, presigner: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bkt, "Key": "k"}, ExpiresIn=1
    )
    time.sleep(2.2)
    response = httpx.get(url, verify=s3_gateway.ssl_context)
    assert response.status_code == 403
    assert "Request has expired" in response.text
    assert parse_xml(response.content).findtext("Code") == "AccessDenied"


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    pairs = [(n, changes.get(n, v)) for n, v in parse_qsl(parts.query, keep_blank_values=True)]
    return parts._replace(query=urlencode(pairs, quote_via=quote)).geturl()


def test_tampered_presigned_url_is_rejected(
    s3_gateway: GatewayProcess, s3: Any, presigner: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x")
    s3.put_object(Bucket=bkt, Key="other", Body=b"y")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bkt, "Key": "k"}, ExpiresIn=60
    )
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for tampered in (
        _with_query(url, **{"X-Amz-Signature": flipped}),
        _with_query(url, **{"X-Amz-Expires": "3600"}),
        url.replace(f"/{bkt}/k?", f"/{bkt}/other?"),
    ):
        response = httpx.get(tampered, verify=s3_gateway.ssl_context)
        assert response.status_code == 403, tampered
        assert parse_xml(response.content).findtext("Code") == ("SignatureDoesNotMatch")


def test_sigv2_presigned_url_is_refused(s3_gateway: GatewayProcess, s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bkt, "Key": "k"})
    assert "AWSAccessKeyId=" in url
    response = httpx.get(url, verify=s3_gateway.ssl_context)
    assert response.status_code == 400
    assert parse_xml(response.content).findtext("Code") == "InvalidRequest"


# --- virtual-hosted-style addressing -------------------------------------------------------


def test_virtual_hosted_style_raw(s3_gateway: GatewayProcess, s3: Any, bkt: str) -> None:
    port = urlsplit(s3_gateway.s3_url).port
    host = f"{bkt}.localhost:{port}"
    put = raw_request(s3_gateway, "PUT", "/dir/vhost.txt", host=host, body=b"vhost")
    assert put.status_code == 200, put.text
    assert s3.get_object(Bucket=bkt, Key="dir/vhost.txt")["Body"].read() == b"vhost"
    got = raw_request(s3_gateway, "GET", "/dir/vhost.txt", host=host)
    assert got.status_code == 200
    assert got.content == b"vhost"
    listing = raw_request(s3_gateway, "GET", "/", query="list-type=2", host=host)
    assert listing.status_code == 200, listing.text
    root = parse_xml(listing.content)
    assert root.findtext(f"{NS}Name") == bkt
    assert [k.text for k in root.iter(f"{NS}Key")] == ["dir/vhost.txt"]
    missing = raw_request(s3_gateway, "GET", "/nope", host=host)
    assert_s3_error(missing, 404, "NoSuchKey")


# Over HTTPS a client would check bkt.localhost against the certificate, and no certificate
# can name *.localhost (OpenSSL refuses a wildcard right below a single-label name).
@pytest.mark.schemes("http")
def test_virtual_hosted_style_with_boto3(
    s3_gateway: GatewayProcess, bkt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 in virtual addressing mode, with ``*.localhost`` resolving to loopback."""
    real_getaddrinfo = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    port = urlsplit(s3_gateway.s3_url).port
    seen_hosts: list[str] = []
    client = make_client(
        f"http://localhost:{port}",
        s3_gateway.access_key,
        s3_gateway.secret_key,
        s3={"addressing_style": "virtual"},
    )
    client.meta.events.register(
        "before-send.s3", lambda request, **_: seen_hosts.append(urlsplit(request.url).netloc)
    )
    client.put_object(Bucket=bkt, Key="v/key with space", Body=b"virtual")
    assert client.get_object(Bucket=bkt, Key="v/key with space")["Body"].read() == b"virtual"
    listed = client.list_objects_v2(Bucket=bkt, Prefix="v/")["Contents"]
    assert [o["Key"] for o in listed] == ["v/key with space"]
    client.delete_object(Bucket=bkt, Key="v/key with space")
    assert client.list_objects_v2(Bucket=bkt)["KeyCount"] == 0
    assert seen_hosts
    assert set(seen_hosts) == {f"{bkt}.localhost:{port}"}


def test_path_style_still_works_with_localhost_host(s3_gateway: GatewayProcess, bkt: str) -> None:
    """``Host: localhost`` (no bucket label) keeps path-style addressing."""
    url = urlsplit(s3_gateway.s3_url)
    client = make_client(
        f"{url.scheme}://localhost:{url.port}",
        s3_gateway.access_key,
        s3_gateway.secret_key,
        verify=s3_gateway.verify,
    )
    client.put_object(Bucket=bkt, Key="p", Body=b"path")
    assert client.get_object(Bucket=bkt, Key="p")["Body"].read() == b"path"
