"""The BlobStore contract (``gateway.ports.BlobStore``), run against every adapter.

The first part holds for every adapter; later sections pin down what only one
adapter promises (on-disk layout, S3 retries) and how URLs pick adapters.
"""

from __future__ import annotations

import errno
import os
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ResponseStreamingError
from botocore.stub import Stubber

from adapters.blob import FaultyBlobStore, LocalBlobStore, S3BlobStore, open_blob_store
from adapters.blob.local import TEMP_PREFIX
from gateway.ports import BlobNotFound, BlobStore, BlobStoreUnavailable, DirectUploads
from tests.support.net import free_port

ADAPTERS = ["local", "s3", "faulty-local"]


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """A fresh, empty store of each adapter kind."""
    blob_store: BlobStore
    if request.param == "local":
        blob_store = LocalBlobStore(tmp_path / "blobs")
    elif request.param == "s3":
        blob_store = open_blob_store(request.getfixturevalue("s3_backend_url"))
    else:
        blob_store = FaultyBlobStore(LocalBlobStore(tmp_path / "blobs"))
    yield blob_store
    blob_store.close()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalBlobStore]:
    store = LocalBlobStore(tmp_path / "blobs")
    yield store
    store.close()


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


# --- every adapter ---------------------------------------------------------


def test_implements_the_port(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", random.Random(1).randbytes(5 * 1024 * 1024)],
    ids=["empty", "one-byte", "5MiB-random"],
)
def test_put_then_get_returns_the_same_bytes(store: BlobStore, data: bytes) -> None:
    store.put("chunks/0123456789abcdef", data)
    assert store.get("chunks/0123456789abcdef") == data


def test_put_stores_its_parts_one_after_the_other(store: BlobStore) -> None:
    payload = bytearray(random.Random(3).randbytes(1024 * 1024 + 3))
    parts = (b"header", memoryview(payload)[1:].toreadonly(), b"", bytearray(b"end"))
    store.put("chunks/parts", *parts)
    assert store.get("chunks/parts") == b"".join(parts)


class Buffers:
    """An ``Allocate`` that hands out buffers larger than asked and records the sizes."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, size: int) -> memoryview:
        self.sizes.append(size)
        return memoryview(bytearray(size + 100))[:size]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", random.Random(2).randbytes(3 * 1024 * 1024 + 7)],
    ids=["empty", "one-byte", "3MiB-random"],
)
def test_get_into_fills_the_buffer_it_was_given(store: BlobStore, data: bytes) -> None:
    store.put("chunks/into", data)
    buffers = Buffers()
    view = store.get_into("chunks/into", buffers)
    assert buffers.sizes == [len(data)]
    assert view == data
    assert len(view) == len(data)


def test_get_into_missing_key_raises_blob_not_found(store: BlobStore) -> None:
    buffers = Buffers()
    with pytest.raises(BlobNotFound) as raised:
        store.get_into("chunks/missing", buffers)
    assert raised.value.key == "chunks/missing"
    assert buffers.sizes == []


def test_flush_keeps_every_put_readable(store: BlobStore) -> None:
    for index in range(5):
        store.put(f"chunks/flushed{index:02d}", bytes([index]) * 1000)
    store.flush()
    store.flush()
    assert [store.get(f"chunks/flushed{i:02d}") for i in range(5)] == [
        bytes([i]) * 1000 for i in range(5)
    ]


def test_local_flush_failure_raises_unavailable(
    local: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.put("chunks/abcdef", b"data")

    def broken_open(*args: object, **kwargs: object) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "open", broken_open)
    with pytest.raises(BlobStoreUnavailable, match="cannot flush"):
        local.flush()


def test_put_overwrites(store: BlobStore) -> None:
    store.put("k/overwritten", b"first version, longer")
    store.put("k/overwritten", b"second")
    assert store.get("k/overwritten") == b"second"
    assert list(store.iter_keys()) == ["k/overwritten"]


def test_get_missing_key_raises_blob_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound) as raised:
        store.get("chunks/missing")
    assert raised.value.key == "chunks/missing"


def test_delete_removes_the_object(store: BlobStore) -> None:
    store.put("chunks/doomed", b"data")
    store.delete("chunks/doomed")
    assert not store.exists("chunks/doomed")
    with pytest.raises(BlobNotFound):
        store.get("chunks/doomed")
    assert list(store.iter_keys()) == []


def test_delete_missing_key_succeeds(store: BlobStore) -> None:
    store.delete("chunks/never-stored")
    store.delete("never/stored/either")


def test_exists(store: BlobStore) -> None:
    assert not store.exists("chunks/abcd")
    store.put("chunks/abcd", b"")
    assert store.exists("chunks/abcd")
    assert not store.exists("chunks/abc")
    assert not store.exists("chunks")


def test_ping_answers_and_changes_nothing(store: BlobStore) -> None:
    store.ping()
    store.put("a/b", b"v")
    store.ping()
    assert sorted(store.iter_keys()) == ["a/b"]
    assert store.get("a/b") == b"v"


def test_local_ping_fails_when_the_root_is_gone(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    root.rename(tmp_path / "moved")
    with pytest.raises(BlobStoreUnavailable, match="cannot list"):
        store.ping()
    root.write_bytes(b"not a directory")
    with pytest.raises(BlobStoreUnavailable):
        store.ping()
    root.unlink()
    (tmp_path / "moved").rename(root)
    store.ping()


def test_faulty_ping_can_fail(tmp_path: Path) -> None:
    store = FaultyBlobStore(LocalBlobStore(tmp_path / "blobs"))
    store.fail_nth("ping")
    with pytest.raises(BlobStoreUnavailable, match="injected"):
        store.ping()
    store.ping()
    assert store.calls["ping"] == 2


def test_iter_keys_lists_every_key_including_nested_ones(store: BlobStore) -> None:
    keys = {"a", "abcdef", "x/y", "x/y/z", "deep/er/and/deeper/key", "chunks/ab/cd/abcd"}
    for key in keys:
        store.put(key, key.encode())
    assert sorted(store.iter_keys()) == sorted(keys)
    assert sorted(store.iter_keys("")) == sorted(keys)


def test_iter_keys_prefix_is_a_plain_string_prefix(store: BlobStore) -> None:
    for key in ["a/b", "a/b/1", "a/bc/2", "a/bcd", "ab/3", "a.b", "b/a/b"]:
        store.put(key, b"")
    assert sorted(store.iter_keys("a/b")) == ["a/b", "a/b/1", "a/bc/2", "a/bcd"]
    assert sorted(store.iter_keys("a/b/")) == ["a/b/1"]
    assert sorted(store.iter_keys("a")) == ["a.b", "a/b", "a/b/1", "a/bc/2", "a/bcd", "ab/3"]
    assert sorted(store.iter_keys("a/bc")) == ["a/bc/2", "a/bcd"]
    assert list(store.iter_keys("a/b/1")) == ["a/b/1"]
    assert list(store.iter_keys("nothing")) == []
    assert list(store.iter_keys("nothing/here/")) == []


def test_concurrent_puts_of_different_keys(store: BlobStore) -> None:
    blobs = {f"chunks/{i:04x}{i:060x}": random.Random(i).randbytes(10_000) for i in range(64)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda item: store.put(*item), blobs.items()))
    assert sorted(store.iter_keys()) == sorted(blobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(store.get, blobs)) == list(blobs.values())


@pytest.mark.parametrize(
    "key", ["a.b-c_d/e.f", "_x", "-y", ".z", "a..b", "x/...", "A-Z_09/.hidden.dot"]
)
def test_keys_with_dots_dashes_and_underscores(store: BlobStore, key: str) -> None:
    store.put(key, key.encode())
    assert store.exists(key)
    assert store.get(key) == key.encode()
    assert list(store.iter_keys()) == [key]
    store.delete(key)
    assert not store.exists(key)


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize(
    "length", [0, 1, 9 * 1024 * 1024 + 7], ids=["empty", "one-byte", "over-one-s3-part"]
)
def test_put_stream_then_read_stream_returns_the_same_bytes(store: BlobStore, length: int) -> None:
    data = random.Random(length).randbytes(length)
    store.put_stream("raw/f/00001", _pieces(data, 300_001))
    assert store.get("raw/f/00001") == data
    assert b"".join(store.read_stream("raw/f/00001")) == data


def test_read_stream_yields_the_range_asked_for(store: BlobStore) -> None:
    data = random.Random(5).randbytes(3 * 1024 * 1024 + 11)
    store.put("raw/r", data)
    for start, end in [
        (0, 1),
        (5, 2 * 1024 * 1024 + 3),
        (len(data) - 1, None),
        (7, len(data) + 50),
    ]:
        assert b"".join(store.read_stream("raw/r", start, end)) == data[start:end]
    assert b"".join(store.read_stream("raw/r", len(data) + 5)) == b""


def test_read_stream_of_a_missing_key_raises_blob_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        next(store.read_stream("raw/missing"))


class StreamBroke(Exception):
    """Raised by a test's stream halfway."""


def test_put_stream_that_raises_leaves_the_previous_object(store: BlobStore) -> None:
    store.put("raw/keep", b"previous")

    def broken() -> Iterator[bytes]:
        yield b"x" * (9 * 1024 * 1024)
        raise StreamBroke

    with pytest.raises(StreamBroke):
        store.put_stream("raw/keep", broken())
    with pytest.raises(StreamBroke):
        store.put_stream("raw/new", broken())
    assert store.get("raw/keep") == b"previous"
    assert not store.exists("raw/new")


# --- LocalBlobStore --------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs",
        "trailing/",
        "a//b",
        "..",
        "../escape",
        "a/../../escape",
        ".",
        "a/./b",
        "with space",
        "back\\slash",
        "new\nline",
        "tilde~",
        "ünïcode",
        "x" * 256,
    ],
)
def test_local_rejects_unsafe_keys(local: LocalBlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        local.put(key, b"data")
    for operation in (local.get, local.delete, local.exists):
        with pytest.raises(ValueError, match="invalid blob key"):
            operation(key)
    assert files_under(local.root.parent) == []


def test_local_creates_a_missing_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "not" / "yet")
    store.put("k", b"v")
    assert (tmp_path / "not" / "yet").is_dir()


def test_local_fans_out_the_last_segment(local: LocalBlobStore) -> None:
    local.put("chunks/abcdef0123", b"long")
    local.put("chunks/xyz", b"short")
    local.put("q", b"tiny")
    local.put("x/...", b"dots")
    assert (local.root / "chunks/ab/cd/abcdef0123").read_bytes() == b"long"
    assert (local.root / "chunks/xy/z~/xyz").read_bytes() == b"short"
    assert (local.root / "q~/~~/q").read_bytes() == b"tiny"
    assert (local.root / "x/~~/~~/...").read_bytes() == b"dots"
    assert local.path_of("chunks/abcdef0123") == local.root / "chunks/ab/cd/abcdef0123"
    assert sorted(local.iter_keys()) == ["chunks/abcdef0123", "chunks/xyz", "q", "x/..."]


def test_local_leaves_no_temporary_files(local: LocalBlobStore) -> None:
    for i in range(20):
        local.put(f"chunks/{i:08x}", b"x" * i)
    local.put("chunks/00000001", b"overwritten")
    assert all(not path.name.startswith(TEMP_PREFIX) for path in files_under(local.root))
    assert len(files_under(local.root)) == 20


def test_local_never_lists_temporary_files(local: LocalBlobStore) -> None:
    local.put("chunks/abcdef", b"real")
    (local.root / "chunks/ab/cd" / f"{TEMP_PREFIX}abcdef01").write_bytes(b"in flight")
    (local.root / "chunks/ab/cd" / f"{TEMP_PREFIX}x").write_bytes(b"in flight")
    assert list(local.iter_keys()) == ["chunks/abcdef"]
    assert list(local.iter_keys("chunks/ab")) == ["chunks/abcdef"]


def test_local_skips_files_outside_the_layout(local: LocalBlobStore) -> None:
    local.put("chunks/abcdef", b"real")
    (local.root / "chunks/stray").write_bytes(b"not at a fan-out position")
    (local.root / "chunks/ab/cd/zzzz").write_bytes(b"wrong fan-out directories")
    assert list(local.iter_keys()) == ["chunks/abcdef"]


def test_local_crash_mid_write_leaves_the_key_absent(local: LocalBlobStore) -> None:
    # What a crash between writing the temporary file and renaming it leaves behind.
    target = local.path_of("chunks/abcdef0123")
    target.parent.mkdir(parents=True)
    (target.parent / f"{TEMP_PREFIX}k3j4h5").write_bytes(b"partial da")
    with pytest.raises(BlobNotFound):
        local.get("chunks/abcdef0123")
    assert not local.exists("chunks/abcdef0123")
    assert list(local.iter_keys()) == []
    local.put("chunks/abcdef0123", b"partial data, written again")
    assert local.get("chunks/abcdef0123") == b"partial data, written again"


def test_local_failed_write_raises_unavailable_and_cleans_up(
    local: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.put("chunks/abcdef", b"old")

    def broken_replace(source: str, target: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(BlobStoreUnavailable, match="No space left"):
        local.put("chunks/abcdef", b"new")
    monkeypatch.undo()
    assert local.get("chunks/abcdef") == b"old"
    assert [path.name for path in files_under(local.root)] == ["abcdef"]


def test_local_read_error_raises_unavailable(
    local: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.put("chunks/abcdef", b"data")

    def broken_read(self: Path) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(Path, "read_bytes", broken_read)
    with pytest.raises(BlobStoreUnavailable):
        local.get("chunks/abcdef")


def test_local_get_into_read_error_raises_unavailable(
    local: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.put("chunks/abcdef", b"data")

    def broken_readv(fd: int, buffers: object) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "readv", broken_readv)
    with pytest.raises(BlobStoreUnavailable, match="cannot read"):
        local.get_into("chunks/abcdef", Buffers())


def test_local_get_into_of_a_directory_is_not_found(local: LocalBlobStore) -> None:
    local.path_of("x/abcd").mkdir(parents=True)
    with pytest.raises(BlobNotFound):
        local.get_into("x/abcd", Buffers())


def test_local_prefix_cannot_list_outside_the_root(tmp_path: Path) -> None:
    LocalBlobStore(tmp_path).put("outside/abcd", b"not in the store")
    store = LocalBlobStore(tmp_path / "store")
    assert list(store.iter_keys("../outside/")) == []
    assert list(store.iter_keys("/")) == []


def test_local_key_colliding_with_another_keys_file_is_rejected(local: LocalBlobStore) -> None:
    local.put("x/abcd", b"file at x/ab/cd/abcd")
    with pytest.raises(ValueError, match="collides"):
        local.put("x/ab/cd/abcd/y", b"needs x/ab/cd/abcd as a directory")
    with pytest.raises(BlobNotFound):
        local.get("x/ab/cd/abcd/y")
    assert not local.exists("x/ab/cd/abcd/y")
    local.delete("x/ab/cd/abcd/y")
    assert list(local.iter_keys()) == ["x/abcd"]


# --- S3BlobStore -----------------------------------------------------------


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for stores that never reach a real server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.mark.usefixtures("fake_credentials")
def test_s3_unreachable_endpoint_raises_unavailable() -> None:
    url = (
        f"s3://bucket/blobs?endpoint_url=http://127.0.0.1:{free_port()}"
        "&region=us-east-1&max_attempts=2&connect_timeout=0.5"
    )
    store = open_blob_store(url)
    try:
        with pytest.raises(BlobStoreUnavailable):
            store.put("k", b"v")
        with pytest.raises(BlobStoreUnavailable):
            store.get("k")
        with pytest.raises(BlobStoreUnavailable):
            store.exists("k")
        with pytest.raises(BlobStoreUnavailable):
            store.delete("k")
        with pytest.raises(BlobStoreUnavailable):
            list(store.iter_keys())
    finally:
        store.close()


def test_s3_missing_bucket_raises_unavailable(moto_endpoint: str) -> None:
    store = S3BlobStore("no-such-bucket", endpoint_url=moto_endpoint, region="us-east-1")
    try:
        with pytest.raises(BlobStoreUnavailable, match="NoSuchBucket"):
            store.put("k", b"v")
        with pytest.raises(BlobStoreUnavailable, match="NoSuchBucket"):
            list(store.iter_keys())
    finally:
        store.close()


def test_s3_ping_fails_for_a_missing_bucket(moto_endpoint: str) -> None:
    store = S3BlobStore("no-such-bucket", endpoint_url=moto_endpoint, region="us-east-1")
    try:
        with pytest.raises(BlobStoreUnavailable, match="NoSuchBucket"):
            store.ping()
    finally:
        store.close()


@pytest.mark.usefixtures("fake_credentials")
def test_s3_ping_of_an_unreachable_endpoint_fails_at_once() -> None:
    # The store's own retries (8 attempts, with back-off) do not apply to the probe.
    store = open_blob_store(
        f"s3://bucket/blobs?endpoint_url=http://127.0.0.1:{free_port()}&region=us-east-1"
    )
    try:
        started = time.monotonic()
        with pytest.raises(BlobStoreUnavailable):
            store.ping()
        assert time.monotonic() - started < 3
    finally:
        store.close()


def test_s3_keeps_keys_under_its_prefix(s3_backend_url: str, moto_endpoint: str) -> None:
    store = open_blob_store(s3_backend_url)
    assert isinstance(store, S3BlobStore)
    sibling = S3BlobStore(store.bucket, "blobs-other", moto_endpoint, "us-east-1")
    client = boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1"
    )
    try:
        store.put("chunks/abcd", b"mine")
        sibling.put("chunks/abcd", b"theirs")
        listed = client.list_objects_v2(Bucket=store.bucket)["Contents"]
        assert sorted(obj["Key"] for obj in listed) == [
            "blobs-other/chunks/abcd",
            "blobs/chunks/abcd",
        ]
        assert list(store.iter_keys()) == ["chunks/abcd"]
        assert store.get("chunks/abcd") == b"mine"
    finally:
        client.close()
        sibling.close()
        store.close()


class _OkBody:
    """A response body that reads in full."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, amt: int | None = None) -> bytes:
        return self._data


class _BrokenBody:
    """A response body whose connection drops mid-read."""

    def read(self, amt: int | None = None) -> bytes:
        raise ResponseStreamingError(error="connection reset by peer")


@pytest.mark.usefixtures("fake_credentials")
@pytest.mark.parametrize(
    ("failures", "succeeds"), [(1, True), (2, True), (3, False)], ids=["1", "2", "3"]
)
def test_s3_retries_a_body_that_breaks_off(failures: int, succeeds: bool) -> None:
    store = S3BlobStore("bucket", endpoint_url="http://127.0.0.1:9", max_attempts=3)
    params: dict[str, Any] = {"Bucket": "bucket", "Key": "k"}
    with Stubber(store._client) as stub:
        for _ in range(failures):
            stub.add_response("get_object", {"Body": _BrokenBody()}, params)
        if succeeds:
            stub.add_response("get_object", {"Body": _OkBody(b"whole")}, params)
            assert store.get("k") == b"whole"
        else:
            with pytest.raises(BlobStoreUnavailable, match="connection reset"):
                store.get("k")
        stub.assert_no_pending_responses()


@pytest.mark.usefixtures("fake_credentials")
@pytest.mark.parametrize(("failures", "succeeds"), [(2, True), (3, False)], ids=["2", "3"])
def test_s3_retries_an_upload_corrupted_in_transit(failures: int, succeeds: bool) -> None:
    store = S3BlobStore("bucket", endpoint_url="http://127.0.0.1:9", max_attempts=3)
    with Stubber(store._client) as stub:
        for _ in range(failures):
            stub.add_client_error("put_object", "BadDigest", http_status_code=400)
        if succeeds:
            stub.add_response(
                "put_object",
                {},
                {
                    "Bucket": "bucket",
                    "Key": "k",
                    "Body": b"data",
                    # base64(md5(b"data")): the server can check what it received.
                    "ContentMD5": "jXd/OF09/siBXSD3SWAm3A==",
                },
            )
            store.put("k", b"data")
        else:
            with pytest.raises(BlobStoreUnavailable, match="BadDigest"):
                store.put("k", b"data")
        stub.assert_no_pending_responses()


# --- URL registry ----------------------------------------------------------


def test_file_url_opens_a_local_store(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path}/blobs")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"


@pytest.mark.usefixtures("fake_credentials")
def test_s3_url_opens_an_s3_store() -> None:
    store = open_blob_store(
        "s3://bucket/some/prefix/?endpoint_url=http://127.0.0.1:9&region=eu-west-1"
    )
    try:
        assert isinstance(store, S3BlobStore)
        assert (store.bucket, store.prefix) == ("bucket", "some/prefix/")
    finally:
        store.close()
    bare = open_blob_store("s3://bucket")
    try:
        assert isinstance(bare, S3BlobStore)
        assert (bare.bucket, bare.prefix) == ("bucket", "")
    finally:
        bare.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs://bucket", "unsupported blob store URL scheme 'gs'"),
        ("/just/a/path", "unsupported blob store URL scheme ''"),
        ("file://host/path", "must not name a host"),
        ("file:relative/path", "absolute path"),
        ("file:///path?x=1", "no query"),
        ("s3:///prefix", "needs a bucket name"),
        ("s3://bucket:9000/prefix", "needs a bucket name"),
        ("s3://AKIA:secret@bucket/prefix", "must not carry credentials"),
        ("s3://bucket/a//b", "empty segment"),
        ("s3://bucket?colour=blue", "unknown s3 blob store URL parameter"),
        ("s3://bucket?region=a&region=b", "exactly one value"),
        ("s3://bucket?region=", "exactly one value"),
        ("s3://bucket?endpoint_url=ftp://host", "http"),
        ("s3://bucket?endpoint_url=http://user:pw@host", "must not carry credentials"),
        ("s3://bucket?max_attempts=0", "max_attempts must be a positive int"),
        ("s3://bucket?max_attempts=many", "max_attempts must be a positive int"),
        ("s3://bucket?connect_timeout=-1", "connect_timeout must be a positive float"),
        ("s3://bucket#fragment", "no fragment"),
    ],
)
def test_malformed_urls_are_rejected(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        open_blob_store(url)
    assert "secret" not in str(raised.value)
    assert "pw" not in str(raised.value)


class _PiecewiseBody:
    """A response body that hands out its bytes a few at a time, then b""."""

    def __init__(self, data: bytes) -> None:
        self._rest = data

    def read(self, amt: int | None = None) -> bytes:
        piece, self._rest = self._rest[:3], self._rest[3:]
        return piece


@pytest.mark.usefixtures("fake_credentials")
def test_s3_get_into_retries_a_body_that_breaks_off_into_a_new_buffer() -> None:
    store = S3BlobStore("bucket", endpoint_url="http://127.0.0.1:9", max_attempts=3)
    params: dict[str, Any] = {"Bucket": "bucket", "Key": "k"}
    buffers = Buffers()
    with Stubber(store._client) as stub:
        stub.add_response("get_object", {"Body": _BrokenBody(), "ContentLength": 5}, params)
        stub.add_response(
            "get_object", {"Body": _PiecewiseBody(b"whole"), "ContentLength": 5}, params
        )
        assert store.get_into("k", buffers) == b"whole"
        stub.assert_no_pending_responses()
    assert buffers.sizes == [5, 5]


@pytest.mark.usefixtures("fake_credentials")
@pytest.mark.parametrize("body", [b"shor", b"longer"], ids=["short", "long"])
def test_s3_get_into_rejects_a_body_of_another_length(body: bytes) -> None:
    store = S3BlobStore("bucket", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    params: dict[str, Any] = {"Bucket": "bucket", "Key": "k"}
    with Stubber(store._client) as stub:
        stub.add_response("get_object", {"Body": _PiecewiseBody(body), "ContentLength": 5}, params)
        with pytest.raises(BlobStoreUnavailable):
            store.get_into("k", Buffers())


def test_s3_direct_uploads_take_parts_from_presigned_urls(s3_backend_url: str) -> None:
    store = open_blob_store(s3_backend_url)
    assert isinstance(store, DirectUploads)
    first, last = random.Random(9).randbytes(5 * 1024 * 1024), b"tail"
    upload_id = store.start_upload("raw/direct")
    for number, body in ((1, first), (2, last)):
        url = store.part_url("raw/direct", upload_id, number, 60)
        assert httpx.put(url, content=body).status_code == 200
    parts = store.uploaded_parts("raw/direct", upload_id)
    assert [(p.number, p.size) for p in parts] == [(1, len(first)), (2, len(last))]
    store.complete_upload("raw/direct", upload_id, parts)
    assert store.get("raw/direct") == first + last
    with pytest.raises(BlobNotFound):
        store.uploaded_parts("raw/direct", upload_id)
    other = store.start_upload("raw/aborted")
    store.abort_upload("raw/aborted", other)
    store.abort_upload("raw/aborted", other)
    assert not store.exists("raw/aborted")
    store.close()
