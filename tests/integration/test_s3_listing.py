"""Listing against the real gateway: V1 and V2, prefixes, delimiters, paging, encoding."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

import psycopg
import pytest

from tests.integration.test_s3_helpers import (
    NS,
    assert_s3_error,
    expect_error,
    parse_xml,
    raw_request,
    unique,
)
from tests.support.gateway_server import GatewayProcess, empty_bucket, launch

# Leading characters whose order differs between UTF-8 byte order and locale collation
# (which ignores punctuation and folds case): a listing sorted by the database's
# default collation on PostgreSQL would interleave them differently.
LEADS = [
    "!", "-", "~", "_", ".", "0", "9", "A", "Z", "a", "z", "a-", "a_", "a~", "a.", "aB", "ab",
    "B", "b", "é", "e", "E", "ü", "z~", "Ω", "日本", "🎉", " ", "a b", "a+b",
]  # fmt: skip
KEY_COUNT = 2500


def utf8_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def many_keys() -> list[str]:
    keys = [
        f"{lead}{index:03d}" + ("/x" if index % 25 == 0 else "")
        for index, lead in zip(range(KEY_COUNT), itertools.cycle(LEADS), strict=False)
    ]
    assert len(set(keys)) == KEY_COUNT
    return keys


def put_all(client: Any, bucket: str, keys: list[str], body: bytes = b"") -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=body), keys))


def _admin(server_url: str) -> psycopg.Connection[Any]:
    """An autocommit connection to the ``postgres`` database of ``server_url``."""
    user, _, hostport = server_url.split("://", 1)[1].partition("@")
    host, _, port = hostport.partition(":")
    return psycopg.connect(host=host, port=int(port), user=user, dbname="postgres", autocommit=True)


@pytest.fixture(scope="module")
def linguistic_gateway(
    postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway on a PostgreSQL database whose default collation is ICU ``en-US``.

    Under that collation punctuation is nearly ignored and case folded, so any key
    comparison that does not force byte order would list keys in another order. (The
    session's PostgreSQL databases use the server default, which may already be
    byte order, C.UTF-8, and would hide such a bug.)
    """
    name = f"gw_icu_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_server) as admin:
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    url = f"{postgres_server}/{name}"
    keys = many_keys()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as check:
        ordered = check.execute("SELECT k FROM unnest(%s::text[]) AS k ORDER BY k", [keys])
        database_order = [row[0] for row in ordered]
    assert database_order != utf8_order(keys), "the database collation would hide bugs"
    gateway = launch(tmp_path_factory.mktemp("icu"), {"GATEWAY_DATABASE_URL": url})
    yield gateway
    gateway.stop()
    with _admin(postgres_server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def big_bucket(linguistic_gateway: GatewayProcess) -> tuple[Any, str, list[str]]:
    """2500 keys in one bucket of a gateway on a linguistically collated PostgreSQL.

    This is where listing order is at risk; SQLite compares UTF-8 bytes with memcmp,
    and paging on every combination is covered by the smaller paged listings below.
    Creating 2500 keys costs the gateway tens of seconds, so it is done once.
    """
    client = linguistic_gateway.client(max_pool_connections=16)
    name = unique("list-many")
    client.create_bucket(Bucket=name)
    keys = many_keys()
    put_all(client, name, keys)
    return client, name, utf8_order(keys)


@pytest.mark.parametrize("page_size", [250, 333, 1000])
def test_v2_paginator_yields_every_key_once_in_utf8_order(
    big_bucket: tuple[Any, str, list[str]], page_size: int
) -> None:
    client, bucket, expected = big_bucket
    pages = list(
        client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": page_size}
        )
    )
    keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    assert keys == expected
    assert len(pages) == -(-KEY_COUNT // page_size)
    assert all(page["KeyCount"] == len(page.get("Contents", [])) for page in pages)
    assert all(page["KeyCount"] <= page_size for page in pages)
    assert [page["IsTruncated"] for page in pages] == [True] * (len(pages) - 1) + [False]


@pytest.mark.parametrize("page_size", [250, 999])
def test_v1_paginator_yields_every_key_once_in_utf8_order(
    big_bucket: tuple[Any, str, list[str]], page_size: int
) -> None:
    client, bucket, expected = big_bucket
    pages = list(
        client.get_paginator("list_objects").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": page_size}
        )
    )
    keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    assert keys == expected
    assert len(pages) == -(-KEY_COUNT // page_size)
    assert [page["IsTruncated"] for page in pages] == [True] * (len(pages) - 1) + [False]


def test_default_page_is_1000_keys(big_bucket: tuple[Any, str, list[str]]) -> None:
    client, bucket, expected = big_bucket
    first = client.list_objects_v2(Bucket=bucket)
    assert first["KeyCount"] == 1000
    assert first["IsTruncated"] is True
    assert [o["Key"] for o in first["Contents"]] == expected[:1000]
    capped = client.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert capped["KeyCount"] == 1000
    assert capped["IsTruncated"] is True


def test_delimiter_over_many_keys(big_bucket: tuple[Any, str, list[str]]) -> None:
    client, bucket, expected = big_bucket
    pages = list(
        client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 100}
        )
    )
    keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    assert keys == [k for k in expected if "/" not in k]
    assert prefixes == [k[:-1] for k in expected if k.endswith("/x")]
    assert len(prefixes) == len(set(prefixes))


def test_start_after(big_bucket: tuple[Any, str, list[str]]) -> None:
    client, bucket, expected = big_bucket
    pivot = expected[1234]
    response = client.list_objects_v2(Bucket=bucket, StartAfter=pivot, MaxKeys=10)
    assert [o["Key"] for o in response["Contents"]] == expected[1235:1245]
    assert response["StartAfter"] == pivot
    # A start-after that is not a key starts at the next key in order.
    between = expected[99] + "\x01"
    response = client.list_objects_v2(Bucket=bucket, StartAfter=between, MaxKeys=3)
    assert [o["Key"] for o in response["Contents"]] == expected[100:103]
    beyond = client.list_objects_v2(Bucket=bucket, StartAfter="\U0010ffff")
    assert beyond["KeyCount"] == 0
    assert beyond["IsTruncated"] is False


def test_v1_marker(big_bucket: tuple[Any, str, list[str]]) -> None:
    client, bucket, expected = big_bucket
    response = client.list_objects(Bucket=bucket, Marker=expected[2000], MaxKeys=600)
    assert [o["Key"] for o in response["Contents"]] == expected[2001:]
    assert response["IsTruncated"] is False


def test_prefix_over_many_keys(big_bucket: tuple[Any, str, list[str]]) -> None:
    client, bucket, expected = big_bucket
    for prefix in ("a", "日本", "~", "a-", "é"):
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 37}
        )
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        assert keys == [k for k in expected if k.startswith(prefix)], prefix


# --- small, structured buckets -------------------------------------------------------------

TREE = [
    "docs/x.txt",
    "photos",
    "photos/2023/a.jpg",
    "photos/2023/b.jpg",
    "photos/2024/c.jpg",
    "photos/2024/sub/d.jpg",
    "photos/e.jpg",
    "readme",
    "z/1",
]


@pytest.fixture
def tree(s3: Any) -> Iterator[str]:
    name = unique("tree")
    s3.create_bucket(Bucket=name)
    put_all(s3, name, TREE, b"t")
    yield name
    empty_bucket(s3, name)


def _contents(response: dict[str, Any]) -> list[str]:
    return [o["Key"] for o in response.get("Contents", [])]


def _prefixes(response: dict[str, Any]) -> list[str]:
    return [p["Prefix"] for p in response.get("CommonPrefixes", [])]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_prefix_and_delimiter(s3: Any, tree: str, version: str) -> None:
    listing = s3.list_objects if version == "v1" else s3.list_objects_v2
    top = listing(Bucket=tree, Delimiter="/")
    assert _contents(top) == ["photos", "readme"]
    assert _prefixes(top) == ["docs/", "photos/", "z/"]
    assert top["Delimiter"] == "/"
    photos = listing(Bucket=tree, Prefix="photos/", Delimiter="/")
    assert _contents(photos) == ["photos/e.jpg"]
    assert _prefixes(photos) == ["photos/2023/", "photos/2024/"]
    assert photos["Prefix"] == "photos/"
    deep = listing(Bucket=tree, Prefix="photos/2024/", Delimiter="/")
    assert _contents(deep) == ["photos/2024/c.jpg"]
    assert _prefixes(deep) == ["photos/2024/sub/"]
    flat = listing(Bucket=tree, Prefix="photos/")
    assert _contents(flat) == [k for k in TREE if k.startswith("photos/")]
    assert "CommonPrefixes" not in flat
    partial = listing(Bucket=tree, Prefix="pho", Delimiter="/")
    assert _contents(partial) == ["photos"]
    assert _prefixes(partial) == ["photos/"]
    nothing = listing(Bucket=tree, Prefix="nope/")
    assert _contents(nothing) == []
    assert nothing["IsTruncated"] is False


def test_multi_character_delimiter(s3: Any, tree: str) -> None:
    response = s3.list_objects_v2(Bucket=tree, Delimiter="20")
    assert _prefixes(response) == ["photos/20"]
    assert _contents(response) == ["docs/x.txt", "photos", "photos/e.jpg", "readme", "z/1"]


def test_list_entries_carry_size_etag_and_date(s3: Any, tree: str) -> None:
    response = s3.list_objects_v2(Bucket=tree, Prefix="readme")
    (entry,) = response["Contents"]
    assert entry["Size"] == 1
    assert entry["ETag"] == '"e358efa489f58062f10dd7316b65649e"'  # md5(b"t")
    assert entry["StorageClass"] == "STANDARD"
    assert entry["LastModified"] is not None


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_delimiter_listing_paged_by_one(gateway: GatewayProcess, version: str) -> None:
    """Paging a delimiter listing one entry at a time returns each common prefix once."""
    client = gateway.client()
    name = unique("paged")
    client.create_bucket(Bucket=name)
    keys = [
        "!bang/1", "!bang/2", "-dash/1", "a", "a/1", "a/2", "a/b/3", "ab", "b/1", "b/2",
        "b/3", "c", "é/1", "é/2", "z~", "~tilde/1", "日本/1", "日本/2",
    ]  # fmt: skip
    try:
        put_all(client, name, keys)
        operation = "list_objects" if version == "v1" else "list_objects_v2"
        pages = list(
            client.get_paginator(operation).paginate(
                Bucket=name, Delimiter="/", PaginationConfig={"PageSize": 1}
            )
        )
        entries = [
            entry
            for page in pages
            for entry in [o["Key"] for o in page.get("Contents", [])] + _prefixes(page)
        ]
        expected_prefixes = sorted(
            {k.split("/")[0] + "/" for k in keys if "/" in k}, key=str.encode
        )
        expected_keys = [k for k in keys if "/" not in k]
        assert entries == utf8_order(expected_prefixes + expected_keys)
        assert all(
            len(page.get("Contents", [])) + len(page.get("CommonPrefixes", [])) == 1
            for page in pages
        )
    finally:
        empty_bucket(client, name)


def test_encoding_type_url(gateway_sqlite_local: GatewayProcess, s3: Any) -> None:
    name = unique("encoded")
    s3.create_bucket(Bucket=name)
    keys = ["dir one/a+b c.txt", "dir one/ü日本.txt", "dir one/pct%41", "top&amp;<x>", "ctl\x01"]
    try:
        put_all(s3, name, keys)
        for query in (
            "list-type=2&encoding-type=url",
            "encoding-type=url",
            "list-type=2&encoding-type=url&prefix=dir%20one%2F&delimiter=%2F",
        ):
            response = raw_request(gateway_sqlite_local, "GET", f"/{name}", query=query)
            assert response.status_code == 200, response.text
            root = parse_xml(response.content)
            assert root.findtext(f"{NS}EncodingType") == "url"
            raw_keys = [k.text or "" for k in root.iter(f"{NS}Key")]
            for raw in raw_keys:
                assert all(c.isascii() and c not in " +&<>\x01" for c in raw), raw
            decoded = [unquote_plus(k) for k in raw_keys]
            if "prefix" in query:
                assert decoded == ["dir one/a+b c.txt", "dir one/pct%41", "dir one/ü日本.txt"]
                assert unquote_plus(root.findtext(f"{NS}Prefix") or "") == "dir one/"
            else:
                assert decoded == utf8_order(keys)
        # boto3 asks for url encoding itself and decodes: keys come back intact.
        assert _contents(s3.list_objects_v2(Bucket=name)) == utf8_order(keys)
        assert _contents(s3.list_objects(Bucket=name)) == utf8_order(keys)
        top = s3.list_objects_v2(Bucket=name, Delimiter="/")
        assert _prefixes(top) == ["dir one/"]
    finally:
        empty_bucket(s3, name)


def test_invalid_encoding_type(gateway_sqlite_local: GatewayProcess, tree: str) -> None:
    response = raw_request(
        gateway_sqlite_local, "GET", f"/{tree}", query="list-type=2&encoding-type=base64"
    )
    assert_s3_error(response, 400, "InvalidArgument")


def test_fetch_owner(s3: Any, tree: str) -> None:
    with_owner = s3.list_objects_v2(Bucket=tree, FetchOwner=True)
    owners = {(o["Owner"]["ID"], o["Owner"]["DisplayName"]) for o in with_owner["Contents"]}
    assert len(owners) == 1
    assert next(iter(owners))[1] == "admin"
    without = s3.list_objects_v2(Bucket=tree)
    assert all("Owner" not in o for o in without["Contents"])
    v1 = s3.list_objects(Bucket=tree)
    assert all(o["Owner"]["DisplayName"] == "admin" for o in v1["Contents"])


def test_max_keys_zero(s3: Any, tree: str) -> None:
    for response in (
        s3.list_objects_v2(Bucket=tree, MaxKeys=0),
        s3.list_objects(Bucket=tree, MaxKeys=0),
    ):
        assert "Contents" not in response
        assert "CommonPrefixes" not in response
        assert response["MaxKeys"] == 0
    assert s3.list_objects_v2(Bucket=tree, MaxKeys=0)["KeyCount"] == 0


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999999999999999999999x"])
def test_invalid_max_keys(gateway_sqlite_local: GatewayProcess, tree: str, value: str) -> None:
    for query in (f"list-type=2&max-keys={value}", f"max-keys={value}"):
        response = raw_request(gateway_sqlite_local, "GET", f"/{tree}", query=query)
        assert_s3_error(response, 400, "InvalidArgument")


@pytest.mark.parametrize("token", ["%21%21%21", "abc", "%FF%FE"])
def test_invalid_continuation_token(
    gateway_sqlite_local: GatewayProcess, tree: str, token: str
) -> None:
    response = raw_request(
        gateway_sqlite_local, "GET", f"/{tree}", query=f"list-type=2&continuation-token={token}"
    )
    assert_s3_error(response, 400, "InvalidArgument")


def test_continuation_token_round_trip(s3: Any, tree: str) -> None:
    first = s3.list_objects_v2(Bucket=tree, MaxKeys=4)
    assert first["IsTruncated"] is True
    second = s3.list_objects_v2(
        Bucket=tree, MaxKeys=100, ContinuationToken=first["NextContinuationToken"]
    )
    assert second["ContinuationToken"] == first["NextContinuationToken"]
    assert _contents(first) + _contents(second) == TREE
    assert second["IsTruncated"] is False
    assert "NextContinuationToken" not in second


def test_listing_reflects_deletes_and_overwrites(s3: Any, tree: str) -> None:
    s3.delete_object(Bucket=tree, Key="readme")
    s3.put_object(Bucket=tree, Key="photos/e.jpg", Body=b"longer body")
    response = s3.list_objects_v2(Bucket=tree)
    assert _contents(response) == [k for k in TREE if k != "readme"]
    sizes = {o["Key"]: o["Size"] for o in response["Contents"]}
    assert sizes["photos/e.jpg"] == len(b"longer body")


def test_list_empty_bucket(s3: Any) -> None:
    name = unique("empty")
    s3.create_bucket(Bucket=name)
    try:
        response = s3.list_objects_v2(Bucket=name)
        assert response["KeyCount"] == 0
        assert "Contents" not in response
        assert response["IsTruncated"] is False
        assert response["Name"] == name
    finally:
        s3.delete_bucket(Bucket=name)


def test_list_multipart_uploads_filters_by_prefix(s3: Any, tree: str) -> None:
    uploads = {
        key: s3.create_multipart_upload(Bucket=tree, Key=key)["UploadId"]
        for key in ("up/b", "up/a", "other")
    }
    try:
        listed = s3.list_multipart_uploads(Bucket=tree, Prefix="up/")
        assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [
            ("up/a", uploads["up/a"]),
            ("up/b", uploads["up/b"]),
        ]
        first = s3.list_multipart_uploads(Bucket=tree, MaxUploads=1)
        assert first["IsTruncated"] is True
        assert [u["Key"] for u in first["Uploads"]] == ["other"]
        rest = s3.list_multipart_uploads(
            Bucket=tree,
            KeyMarker=first["NextKeyMarker"],
            UploadIdMarker=first["NextUploadIdMarker"],
        )
        assert [u["Key"] for u in rest["Uploads"]] == ["up/a", "up/b"]
    finally:
        for key, upload_id in uploads.items():
            s3.abort_multipart_upload(Bucket=tree, Key=key, UploadId=upload_id)


def test_list_missing_bucket(s3: Any) -> None:
    expect_error("NoSuchBucket", 404, s3.list_objects_v2, Bucket=unique("absent"))
