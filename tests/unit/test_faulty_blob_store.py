"""FaultyBlobStore: injected failures, corruption and call counts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.blob import FaultyBlobStore, LocalBlobStore
from gateway.ports import BlobNotFound, BlobStoreUnavailable


@pytest.fixture
def inner(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path)


@pytest.fixture
def faulty(inner: LocalBlobStore) -> FaultyBlobStore:
    return FaultyBlobStore(inner)


def test_without_faults_it_delegates(faulty: FaultyBlobStore, inner: LocalBlobStore) -> None:
    faulty.put("k", b"v")
    assert inner.get("k") == b"v"
    assert faulty.get("k") == b"v"
    assert faulty.exists("k")
    assert list(faulty.iter_keys()) == ["k"]
    faulty.delete("k")
    with pytest.raises(BlobNotFound):
        faulty.get("k")


def test_fail_nth_fails_only_that_call(faulty: FaultyBlobStore, inner: LocalBlobStore) -> None:
    faulty.fail_nth("put", 2)
    faulty.put("one", b"1")
    with pytest.raises(BlobStoreUnavailable, match="injected fault"):
        faulty.put("two", b"2")
    faulty.put("three", b"3")
    assert sorted(inner.iter_keys()) == ["one", "three"]


def test_fail_nth_counts_from_when_it_is_armed(faulty: FaultyBlobStore) -> None:
    faulty.put("k", b"v")
    faulty.get("k")
    faulty.get("k")
    faulty.fail_nth("get")
    faulty.fail_nth("get", 3)
    with pytest.raises(BlobStoreUnavailable):
        faulty.get("k")
    faulty.get("k")
    with pytest.raises(BlobStoreUnavailable):
        faulty.get("k")
    faulty.get("k")
    faulty.put("k", b"other operations are unaffected")


def test_fail_nth_rejects_a_non_positive_n(faulty: FaultyBlobStore) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        faulty.fail_nth("get", 0)


def test_fail_nth_under_concurrency_fails_exactly_one_call(faulty: FaultyBlobStore) -> None:
    faulty.put("k", b"v")
    faulty.fail_nth("get", 50)

    def get_succeeded(_: int) -> bool:
        try:
            faulty.get("k")
        except BlobStoreUnavailable:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(get_succeeded, range(200)))
    assert results.count(False) == 1


def test_fail_when_fails_matching_keys_until_cleared(faulty: FaultyBlobStore) -> None:
    faulty.put("chunks/a", b"a")
    faulty.put("other/b", b"b")
    faulty.fail_when("get", lambda key: key.startswith("chunks/"))
    faulty.fail_when("delete", lambda key: key == "other/b")
    with pytest.raises(BlobStoreUnavailable):
        faulty.get("chunks/a")
    assert faulty.get("other/b") == b"b"
    with pytest.raises(BlobStoreUnavailable):
        faulty.delete("other/b")
    assert faulty.exists("other/b")
    faulty.clear_faults()
    assert faulty.get("chunks/a") == b"a"
    faulty.delete("other/b")


def test_fail_when_on_iter_keys_matches_the_prefix(faulty: FaultyBlobStore) -> None:
    faulty.put("chunks/a", b"a")
    faulty.fail_when("iter_keys", lambda prefix: prefix == "")
    with pytest.raises(BlobStoreUnavailable):
        faulty.iter_keys()
    assert list(faulty.iter_keys("chunks/")) == ["chunks/a"]


def test_corrupt_when_flips_one_byte_of_matching_keys(faulty: FaultyBlobStore) -> None:
    data = bytes(range(256)) * 4
    faulty.put("chunks/bad", data)
    faulty.put("chunks/good", data)
    faulty.put("chunks/empty", b"")
    faulty.corrupt_when(lambda key: key != "chunks/good")
    corrupted = faulty.get("chunks/bad")
    assert len(corrupted) == len(data)
    assert sum(a != b for a, b in zip(corrupted, data, strict=True)) == 1
    assert faulty.get("chunks/good") == data
    assert faulty.get("chunks/empty") == b""
    assert faulty.inner.get("chunks/bad") == data
    faulty.clear_faults()
    assert faulty.get("chunks/bad") == data


def test_corrupt_when_flips_one_byte_of_what_get_into_reads(faulty: FaultyBlobStore) -> None:
    data = bytes(range(256)) * 4
    faulty.put("chunks/bad", data)
    faulty.put("chunks/empty", b"")
    faulty.corrupt_when(lambda key: True)
    corrupted = faulty.get_into("chunks/bad", lambda size: memoryview(bytearray(size)))
    assert len(corrupted) == len(data)
    assert sum(a != b for a, b in zip(corrupted, data, strict=True)) == 1
    assert faulty.get_into("chunks/empty", lambda size: memoryview(bytearray(size))) == b""
    assert faulty.calls["get_into"] == 2


def test_calls_are_counted_per_operation_including_failures(faulty: FaultyBlobStore) -> None:
    faulty.put("a", b"1")
    faulty.put("b", b"2")
    faulty.fail_nth("get")
    with pytest.raises(BlobStoreUnavailable):
        faulty.get("a")
    faulty.get("b")
    faulty.exists("a")
    faulty.iter_keys()
    faulty.delete("a")
    faulty.close()
    assert faulty.calls == {
        "put": 2,
        "get": 2,
        "exists": 1,
        "iter_keys": 1,
        "delete": 1,
        "close": 1,
    }


def test_calls_is_a_snapshot_and_reset_calls_keeps_armed_faults(faulty: FaultyBlobStore) -> None:
    faulty.put("k", b"v")
    snapshot = faulty.calls
    faulty.fail_nth("get", 2)
    faulty.get("k")
    assert snapshot["get"] == 0
    faulty.reset_calls()
    assert faulty.calls == {}
    with pytest.raises(BlobStoreUnavailable):
        faulty.get("k")
    assert faulty.calls["get"] == 1
