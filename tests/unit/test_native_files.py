"""The native-API file core and its ingest stage in-process: limits, ingest redone after
a crash, raw parts changed behind the gateway's back, expiry of abandoned uploads."""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from adapters.sql.files import SqlFileStore
from adapters.sql.metadata import SqlMetadata
from gateway.core.bucket_access import Access
from gateway.core.files import (
    LEFTOVER_RAW_AGE,
    FileLimits,
    FileRequest,
    Files,
    choose_part_size,
    expire_files,
    part_key,
    sweep_leftover_raw,
)
from gateway.core.pipeline.ingest import IngestStage
from gateway.core.storage import Storage
from gateway.errors import (
    ConflictError,
    FileRejectedError,
    IncompleteBodyError,
    QuarantinedError,
    QuotaExceededError,
    ScanPendingError,
)
from gateway.records import EMPTY_MD5, NativeFile, ObjectAttributes
from tests.support.core import CoreFixture

SMALL_PART = 64 * 1024


@dataclass
class Setup:
    core: CoreFixture
    files: Files
    ingest: IngestStage


def make(core: CoreFixture, **limits: object) -> Setup:
    store = SqlFileStore(core.metadata.engine)
    options: dict[str, object] = {"max_file_size": 1 << 30, "min_part_size": SMALL_PART}
    chosen = FileLimits(**{**options, **limits})  # type: ignore[arg-type]
    return Setup(core, Files(core.storage, store, chosen), IngestStage(core.storage, store))


def announce(setup: Setup, key: str, size: int, **extra: str) -> NativeFile:
    (result,) = setup.files.announce(
        setup.core.user, [FileRequest(setup.core.bucket, key, size, **extra)]
    )
    assert isinstance(result, NativeFile), result
    return result


def send_all(setup: Setup, file: NativeFile, data: bytes) -> str:
    for number in range(1, file.part_count + 1):
        low = (number - 1) * file.part_size
        setup.files.receive_part(file, number, io.BytesIO(data[low : low + file.part_size]))
    sha = hashlib.sha256(data).hexdigest()
    setup.files.finalize(setup.core.user, file.id, len(data), sha)
    return sha


def test_part_sizes_keep_to_10000_parts_of_at_least_5_mib() -> None:
    assert choose_part_size(0) == choose_part_size(80 * 1024 * 1024) == 8 * 1024 * 1024
    for size in (80_000 * 1024 * 1024 + 1, 5 * 1024**4):
        part = choose_part_size(size)
        assert -(-size // part) <= 10_000 and part >= 5 * 1024 * 1024


def test_limits_are_checked_before_any_byte(core: CoreFixture) -> None:
    setup = make(core, quota_bytes=100, allowed_content_types=("image/*", "text/csv"))
    requests = [
        FileRequest(core.bucket, "a.png", 60, "image/png"),
        FileRequest(core.bucket, "b.png", 60, "image/png"),
        FileRequest(core.bucket, "c.txt", 10, "text/plain"),
        FileRequest(core.bucket, "d.csv", 40, "text/csv; charset=utf-8"),
        FileRequest(core.bucket, "e.png", 1 << 31, "image/png"),
    ]
    results = setup.files.announce(core.user, requests)
    assert isinstance(results[0], NativeFile) and isinstance(results[3], NativeFile)
    assert isinstance(results[1], QuotaExceededError)
    assert isinstance(results[2], FileRejectedError)
    assert isinstance(results[4], FileRejectedError)


def test_a_part_of_the_wrong_size_is_not_recorded(core: CoreFixture) -> None:
    setup = make(core)
    file = announce(setup, "f", SMALL_PART + 10)
    setup.files.receive_part(file, 2, io.BytesIO(b"x" * 10))
    with pytest.raises(IncompleteBodyError):
        setup.files.receive_part(file, 2, io.BytesIO(b"y" * 11))
    with pytest.raises(IncompleteBodyError):
        setup.files.receive_part(file, 1, io.BytesIO(b"y" * 5))
    _, parts, missing = setup.files.upload_state(core.user, file.id)
    assert [(p.number, p.sha256) for p in parts] == [(2, hashlib.sha256(b"x" * 10).hexdigest())]
    assert missing == [1]
    assert core.blobs.get(part_key(file, 2)) == b"x" * 10
    assert not core.blobs.exists(part_key(file, 1))


def test_ingest_redone_after_a_crash_before_the_raw_parts_went(core: CoreFixture) -> None:
    setup = make(core)
    data = random.Random(4).randbytes(3 * SMALL_PART + 7)
    file = announce(setup, "dir/f.bin", len(data))
    send_all(setup, file, data)
    core.blobs.fail_when("delete", lambda key: key.startswith("raw/"))
    with pytest.raises(Exception, match="injected"):
        setup.ingest({"file_id": file.id})
    # Committed, though the job failed: the file reads from its version already.
    view = setup.files.view(core.user, file.id)
    assert view.version is not None and view.version.version_id == file.id
    core.blobs.clear_faults()
    core.blobs.delete(part_key(file, 2))  # one raw part already gone is fine
    setup.ingest({"file_id": file.id})
    setup.ingest({"file_id": file.id})
    assert list(core.blobs.iter_keys("raw/")) == []
    obj = core.storage.head_object(core.user, core.bucket, "dir/f.bin")
    assert obj.version_id == file.id and core.read(obj) == data
    bucket = core.storage.bucket(core.user, core.bucket, Access.READ)
    assert len(core.metadata.list_versions(bucket, "dir/f.bin", None, None, 10)) == 1
    assert setup.files.view(core.user, file.id).status == "ready"


def test_raw_parts_changed_after_finalize_fail_the_file(core: CoreFixture) -> None:
    setup = make(core)
    data = random.Random(5).randbytes(SMALL_PART + 1)
    file = announce(setup, "changed", len(data))
    send_all(setup, file, data)
    core.blobs.put(part_key(file, 2), b"!")
    setup.ingest({"file_id": file.id})
    view = setup.files.view(core.user, file.id)
    assert view.version is None and view.status == "failed"
    assert (
        core.metadata.get_object(
            core.storage.bucket(core.user, core.bucket, Access.READ).id, "changed"
        )
        is None
    )


def test_abandoned_uploads_expire_with_their_raw_parts(core: CoreFixture) -> None:
    setup = make(core, upload_expiry_seconds=-1.0)
    file = announce(setup, "abandoned", SMALL_PART + 3)
    setup.files.receive_part(file, 1, io.BytesIO(b"a" * SMALL_PART))
    kept = make(core)
    live = announce(kept, "live", 3)
    kept.files.receive_part(live, 1, io.BytesIO(b"abc"))
    assert expire_files(core.storage, setup.files.store) == 1
    assert setup.files.store.get_file(file.id) is None
    assert list(core.blobs.iter_keys("raw/")) == [part_key(live, 1)]


def test_a_second_commit_with_the_same_version_id_is_refused(core: CoreFixture) -> None:
    first = core.put("k", b"one")
    bucket = core.storage.bucket(core.user, core.bucket, Access.READ)
    with pytest.raises(ConflictError):
        core.metadata.commit_object(
            bucket,
            "other",
            (),
            EMPTY_MD5,
            ObjectAttributes(),
            core.actor,
            version_id=first.version_id,
        )
    assert core.metadata.get_object(bucket.id, "other") is None


def test_an_ingested_files_status_follows_its_scan(core: CoreFixture) -> None:
    scanning = SqlMetadata(core.metadata.engine, scanning=True)
    storage = Storage(scanning, core.blobs, chunk_avg_size=SMALL_PART)
    store = SqlFileStore(core.metadata.engine)
    files = Files(storage, store, FileLimits(max_file_size=1 << 20, min_part_size=SMALL_PART))
    setup = Setup(core, files, IngestStage(storage, store))
    data = b"scan me" * 100
    file = announce(setup, "scanned.txt", len(data))
    send_all(setup, file, data)
    assert files.view(core.user, file.id).status == "processing"
    assert b"".join(files.read(files.view(core.user, file.id), 0, 7)) == b"scan me"
    setup.ingest({"file_id": file.id})
    view = files.view(core.user, file.id)
    assert view.version is not None and view.status == "processing"
    storage.set_scan_policy(core.bucket, "strict", core.actor)
    with pytest.raises(ScanPendingError):
        files.check_readable(files.view(core.user, file.id))
    scanning.record_verdict(file.id, "infected", "Eicar", quarantined=True, actor=core.actor)
    view = files.view(core.user, file.id)
    assert view.status == "quarantined"
    with pytest.raises(QuarantinedError):
        files.read(view, 0, 1)


def test_leftover_raw_objects_are_swept_once_their_file_settled(core: CoreFixture) -> None:
    setup = make(core)
    data = random.Random(9).randbytes(SMALL_PART + 5)
    done = announce(setup, "done", len(data))
    send_all(setup, done, data)
    setup.ingest({"file_id": done.id})
    pending = announce(setup, "pending", 3)
    setup.files.receive_part(pending, 1, io.BytesIO(b"abc"))
    leftover, orphan = part_key(done, 1), "raw/no-such-file/00001"
    for key in (leftover, orphan):
        core.blobs.put(key, b"left behind")
    store = setup.files.store
    now = datetime.now(UTC)
    assert sweep_leftover_raw(core.storage, store, now) == 1
    assert sorted(core.blobs.iter_keys("raw/")) == sorted([leftover, part_key(pending, 1)])
    later = now + LEFTOVER_RAW_AGE + timedelta(seconds=1)
    assert sweep_leftover_raw(core.storage, store, later) == 1
    assert list(core.blobs.iter_keys("raw/")) == [part_key(pending, 1)]
