"""The storage core: atomic commits, dedup, reference counts, GC safety, fsck."""

from __future__ import annotations

import io
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.bucket_access import Access
from gateway.core.chunk_store import new_backend_key
from gateway.core.fsck import fsck
from gateway.core.gc import collect_garbage
from gateway.errors import (
    AccessDeniedError,
    BucketNotEmptyError,
    ChecksumMismatchError,
    ChunkIntegrityError,
    IncompleteBodyError,
    ObjectNotFoundError,
)
from gateway.ports import BlobStoreUnavailable
from gateway.records import ObjectAttributes
from tests.support.core import CoreFixture


def _random(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def test_put_then_read_back(core: CoreFixture) -> None:
    data = _random(1_000_000)
    obj = core.put("k", data)
    assert obj.size == len(data)
    assert core.read(obj) == data
    assert core.storage.head_object(core.user, core.bucket, "k").etag == obj.etag


def test_same_content_is_stored_once(core: CoreFixture) -> None:
    data = _random(2_000_000)
    core.put("a", data)
    stored = core.metadata.stats().stored_bytes
    core.put("b", data)
    stats = core.metadata.stats()
    assert stats.stored_bytes == stored
    assert stats.logical_bytes == 2 * len(data)
    assert core.metadata.refcount_mismatches() == []


def test_failed_backend_write_leaves_previous_version(core: CoreFixture) -> None:
    old = _random(500_000, seed=2)
    core.put("k", old)
    core.blobs.fail_nth("put", 3)
    with pytest.raises(BlobStoreUnavailable):
        core.put("k", _random(1_000_000, seed=3))
    current = core.storage.head_object(core.user, core.bucket, "k")
    assert core.read(current) == old
    assert core.metadata.refcount_mismatches() == []


def test_failed_first_write_leaves_nothing_visible(core: CoreFixture) -> None:
    core.blobs.fail_nth("put", 2)
    with pytest.raises(BlobStoreUnavailable):
        core.put("new", _random(1_000_000, seed=4))
    with pytest.raises(ObjectNotFoundError):
        core.storage.head_object(core.user, core.bucket, "new")


def test_md5_and_length_checks_reject_before_commit(core: CoreFixture) -> None:
    body = b"payload"
    with pytest.raises(ChecksumMismatchError):
        core.storage.put_object(
            core.user,
            core.bucket,
            "k",
            io.BytesIO(body),
            ObjectAttributes(),
            core.actor,
            expected_md5=b"\0" * 16,
        )
    with pytest.raises(IncompleteBodyError):
        core.storage.put_object(
            core.user,
            core.bucket,
            "k",
            io.BytesIO(body),
            ObjectAttributes(),
            core.actor,
            length=100,
        )
    with pytest.raises(ObjectNotFoundError):
        core.storage.head_object(core.user, core.bucket, "k")


def test_overwrite_and_delete_adjust_refcounts(core: CoreFixture) -> None:
    core.put("k", _random(800_000, seed=5))
    core.put("k", _random(800_000, seed=6))
    core.put("copy", _random(800_000, seed=6))
    assert core.metadata.refcount_mismatches() == []
    core.storage.delete_object(core.user, core.bucket, "k", core.actor)
    core.storage.delete_object(core.user, core.bucket, "copy", core.actor)
    assert core.metadata.refcount_mismatches() == []
    assert all(c.refcount == 0 for c in core.metadata.iter_chunks())


def test_copy_shares_chunks(core: CoreFixture) -> None:
    data = _random(1_500_000, seed=7)
    core.put("src", data)
    before = core.backend_bytes()
    source = core.storage.head_object(core.user, core.bucket, "src")
    copied = core.storage.copy_object(core.user, source, core.bucket, "dst", None, core.actor)
    assert core.backend_bytes() == before
    core.storage.delete_object(core.user, core.bucket, "src", core.actor)
    assert core.read(copied) == data


def test_copy_refuses_a_source_version_that_was_replaced(core: CoreFixture) -> None:
    core.put("src", b"checked version")
    checked = core.storage.head_object(core.user, core.bucket, "src")
    core.put("src", b"newer version")
    with pytest.raises(ObjectNotFoundError):
        core.storage.copy_object(core.user, checked, core.bucket, "dst", None, core.actor)
    with pytest.raises(ObjectNotFoundError):
        core.storage.head_object(core.user, core.bucket, "dst")


def test_gc_respects_the_grace_period_and_references(core: CoreFixture) -> None:
    kept = core.put("kept", _random(300_000, seed=8))
    core.put("gone", _random(300_000, seed=9))
    core.storage.delete_object(core.user, core.bucket, "gone", core.actor)
    assert collect_garbage(core.metadata, core.blobs, 3600).chunks_deleted == 0
    report = collect_garbage(core.metadata, core.blobs, 0)
    assert report.chunks_deleted > 0
    assert core.read(kept) == _random(300_000, seed=8)
    assert fsck(core.metadata, core.storage.chunks).ok


def test_gc_spares_chunks_of_an_upload_in_flight(core: CoreFixture) -> None:
    writer = core.storage.new_writer()
    data = _random(600_000, seed=10)
    writer.write(data)
    written = writer.finish()
    # Chunks stored but not yet committed: refcount 0, freshly touched.
    assert collect_garbage(core.metadata, core.blobs, 60).chunks_deleted == 0
    bucket = core.storage.bucket(core.user, core.bucket, Access.OWNER)
    obj = core.metadata.commit_object(
        bucket, "late", written.entries, written.md5_hex, ObjectAttributes(), core.actor
    )
    assert core.read(obj) == data


def test_reusing_an_unreferenced_chunk_renews_its_grace(core: CoreFixture) -> None:
    data = _random(300_000, seed=11)
    core.put("a", data)
    core.storage.delete_object(core.user, core.bucket, "a", core.actor)
    time.sleep(1.2)
    cutoff = datetime.now(UTC) - timedelta(seconds=1)
    assert core.metadata.collectable_chunks(cutoff, 100), "unreferenced and past the grace"
    writer = core.storage.new_writer()
    writer.write(data)  # dedups against those chunks, which touches them
    written = writer.finish()
    assert core.metadata.collectable_chunks(cutoff, 100) == []
    assert collect_garbage(core.metadata, core.blobs, 1).chunks_deleted == 0
    bucket = core.storage.bucket(core.user, core.bucket, Access.OWNER)
    obj = core.metadata.commit_object(
        bucket, "again", written.entries, written.md5_hex, ObjectAttributes(), core.actor
    )
    assert core.read(obj) == data


def test_orphan_blobs_are_swept_only_when_old(core: CoreFixture) -> None:
    old_key = new_backend_key("ab" * 32, now=time.time() - 7200)
    new_key = new_backend_key("cd" * 32)
    core.blobs.put(old_key, b"orphan")
    core.blobs.put(new_key, b"orphan")
    report = collect_garbage(core.metadata, core.blobs, 3600)
    assert report.orphan_blobs_deleted == 1
    assert not core.blobs.exists(old_key)
    assert core.blobs.exists(new_key)


def test_corrupted_chunk_is_detected_on_read_and_by_fsck(core: CoreFixture) -> None:
    obj = core.put("k", _random(400_000, seed=12))
    victim = core.metadata.chunk_locations(obj.manifest_id, 0, 1)[0].backend_key
    core.blobs.corrupt_when(lambda key: key == victim)
    with pytest.raises(ChunkIntegrityError):
        core.read(obj)
    report = fsck(core.metadata, core.storage.chunks)
    assert report.corrupt == [victim]
    assert not report.ok


def test_fsck_reports_missing_chunks(core: CoreFixture) -> None:
    obj = core.put("k", _random(200_000, seed=13))
    victim = core.metadata.chunk_locations(obj.manifest_id, 0, 1)[0].backend_key
    core.blobs.inner.delete(victim)
    report = fsck(core.metadata, core.storage.chunks)
    assert report.missing == [victim]


def test_concurrent_writers_of_one_key_leave_one_consistent_version(core: CoreFixture) -> None:
    bodies = [_random(300_000, seed=20 + i) for i in range(6)]
    errors: list[BaseException] = []

    def write(body: bytes) -> None:
        try:
            core.put("contended", body)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = core.read(core.storage.head_object(core.user, core.bucket, "contended"))
    assert final in bodies
    assert core.metadata.stats().objects == 1
    assert core.metadata.refcount_mismatches() == []


def test_buckets_belong_to_their_creator(core: CoreFixture) -> None:
    from gateway.core.identity import hash_password
    from gateway.records import Actor

    bob = core.metadata.create_user("bob", hash_password("pw"))
    with pytest.raises(AccessDeniedError):
        core.storage.list_objects(bob, core.bucket)
    core.put("k", b"x")
    with pytest.raises(BucketNotEmptyError):
        core.storage.delete_bucket(core.user, core.bucket, Actor(core.user.id))


def test_listing_pages_with_delimiter_give_each_entry_once(core: CoreFixture) -> None:
    keys = [f"dir{i % 4}/file{i}" for i in range(20)] + [f"top{i}" for i in range(5)]
    for key in keys:
        core.put(key, b"")
    seen: list[str] = []
    after = None
    while True:
        page = core.storage.list_objects(
            core.user, core.bucket, delimiter="/", after=after, max_keys=2
        )
        seen += [o.key for o in page.objects] + list(page.common_prefixes)
        if not page.is_truncated:
            break
        after = page.next_after
    assert seen == sorted({"dir0/", "dir1/", "dir2/", "dir3/", *[f"top{i}" for i in range(5)]})


def test_chunks_are_flushed_before_the_commit(core: CoreFixture) -> None:
    core.blobs.reset_calls()
    core.put("k", _random(300_000, seed=30))
    assert core.blobs.calls["flush"] >= 1
    core.blobs.fail_nth("flush", 1)
    with pytest.raises(BlobStoreUnavailable):
        core.put("k2", _random(300_000, seed=31))
    with pytest.raises(ObjectNotFoundError):
        core.storage.head_object(core.user, core.bucket, "k2")
