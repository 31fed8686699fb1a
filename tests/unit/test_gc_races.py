"""GC against writers: a commit never names a collected chunk, fsck sees broken references."""

from __future__ import annotations

import random
import sqlite3
import time
from contextlib import closing

import pytest

from gateway.core.bucket_access import Access
from gateway.core.chunk_store import new_backend_key
from gateway.core.fsck import fsck
from gateway.core.gc import collect_garbage
from gateway.dav.resources import as_dav_error
from gateway.errors import ChunksCollectedError, ObjectNotFoundError
from gateway.records import ObjectAttributes
from gateway.s3.errormap import to_s3_error
from tests.support.core import CoreFixture


def _random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _commit(core: CoreFixture, key: str, data: bytes) -> None:
    """Store ``data``, let GC (grace 0) run between storing and committing, commit."""
    writer = core.storage.new_writer(owner_id=core.user.id)
    writer.write(data)
    written = writer.finish()
    assert collect_garbage(core.metadata, core.blobs, 0).chunks_deleted > 0
    bucket = core.storage.bucket(core.user, core.bucket, Access.OWNER)
    core.metadata.commit_object(
        bucket, key, written.entries, written.md5_hex, ObjectAttributes(), core.actor
    )


def test_commit_naming_a_collected_new_chunk_fails_and_changes_nothing(
    core: CoreFixture,
) -> None:
    core.put("k", b"previous")
    with pytest.raises(ChunksCollectedError):
        _commit(core, "k", _random(300_000, seed=1))
    assert core.read(core.storage.head_object(core.user, core.bucket, "k")) == b"previous"
    assert fsck(core.metadata, core.storage.chunks).ok


def test_commit_naming_a_collected_deduplicated_chunk_fails(core: CoreFixture) -> None:
    data = _random(300_000, seed=2)
    core.put("a", data)
    core.storage.delete_object(core.user, core.bucket, "a", core.actor)
    time.sleep(0.01)
    # The writer finds the unreferenced chunks (known_chunks) and touches them; GC with
    # grace 0 still takes them before the commit.
    with pytest.raises(ChunksCollectedError):
        _commit(core, "b", data)
    with pytest.raises(ObjectNotFoundError):
        core.storage.head_object(core.user, core.bucket, "b")
    assert fsck(core.metadata, core.storage.chunks).ok
    # Sent again, the write stores the content anew.
    assert core.read(core.put("b", data)) == data


def test_front_ends_answer_try_again_for_collected_chunks() -> None:
    error = to_s3_error(ChunksCollectedError(2))
    assert (error.status, error.code) == (503, "SlowDown")
    assert as_dav_error(ChunksCollectedError(2)).value == 503


def test_fresh_blobs_are_no_orphans_even_with_grace_zero(core: CoreFixture) -> None:
    fresh = new_backend_key("ef" * 32)
    core.blobs.put(fresh, b"row coming")
    assert collect_garbage(core.metadata, core.blobs, 0).orphan_blobs_deleted == 0
    assert core.blobs.exists(fresh)


def _unchecked_sql(core: CoreFixture, statement: str) -> None:
    """Run ``statement`` with SQLite's foreign keys off (sqlite3's default), to forge
    broken references."""
    with closing(sqlite3.connect(core.blob_root.parent / "meta.db")) as connection:
        connection.execute(statement)
        connection.commit()


def test_fsck_reports_a_version_without_manifest(core: CoreFixture) -> None:
    obj = core.put("k", _random(100_000, seed=3))
    _unchecked_sql(core, f"DELETE FROM manifest_entries WHERE manifest_id = {obj.manifest_id}")
    _unchecked_sql(core, f"DELETE FROM manifests WHERE id = {obj.manifest_id}")
    report = fsck(core.metadata, core.storage.chunks)
    assert not report.ok
    assert any(f"manifest {obj.manifest_id} is missing" in p for p in report.manifest_problems)


def test_fsck_reports_an_entry_naming_a_missing_chunk_row(core: CoreFixture) -> None:
    obj = core.put("k", _random(100_000, seed=4))
    _unchecked_sql(
        core,
        "DELETE FROM chunks WHERE id IN (SELECT chunk_id FROM manifest_entries"
        f" WHERE manifest_id = {obj.manifest_id})",
    )
    report = fsck(core.metadata, core.storage.chunks)
    assert any("chunk row" in p and "is missing" in p for p in report.manifest_problems)


def test_fsck_reports_a_partial_manifest(core: CoreFixture) -> None:
    obj = core.put("k", _random(400_000, seed=5))
    _unchecked_sql(
        core,
        f"DELETE FROM manifest_entries WHERE manifest_id = {obj.manifest_id} AND seq = 0",
    )
    report = fsck(core.metadata, core.storage.chunks)
    assert f"manifest {obj.manifest_id}: entries do not follow one another" in (
        report.manifest_problems
    )
    assert any(p.startswith(f"manifest {obj.manifest_id}: size") for p in report.manifest_problems)
    assert report.refcount_mismatches and not report.ok
