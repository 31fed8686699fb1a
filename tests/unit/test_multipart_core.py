"""The storage core's multipart extras: UploadPartCopy's chunk sharing, the SQL-paged
upload listing and the expiry of abandoned uploads."""

from __future__ import annotations

import hashlib
import io
import random
import time
from typing import Any

import pytest

from gateway.core.fsck import fsck
from gateway.core.gc import collect_garbage
from gateway.core.storage import CompletedPart
from gateway.core.upload_expiry import UploadExpiry, expire_uploads
from gateway.errors import ObjectNotFoundError
from gateway.records import ObjectAttributes, Part, StoredObject
from tests.support.core import CoreFixture


def _random(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def _copy(
    core: CoreFixture, upload_id: str, number: int, source: StoredObject, a: int, b: int
) -> Part:
    return core.storage.upload_part_copy(
        core.user, core.bucket, "dst", upload_id, number, source, a, b, new_digest=_digest
    )


def _digest(algorithm: str) -> Any:
    assert algorithm == "sha256"
    return hashlib.sha256()


def _upload(core: CoreFixture, key: str = "dst", **options: Any) -> str:
    upload = core.storage.create_upload(
        core.user, core.bucket, key, ObjectAttributes(), core.actor, **options
    )
    return upload.upload_id


def _chunk_ids(core: CoreFixture, manifest_id: int, size: int) -> list[int]:
    return [e.chunk_id for e in core.metadata.manifest_entries(manifest_id, 0, size)]


def test_whole_object_copy_reads_and_writes_nothing(core: CoreFixture) -> None:
    data = _random(1_000_000)
    source = core.put("src", data)
    before = core.backend_bytes()
    core.blobs.reset_calls()
    part = _copy(core, _upload(core), 1, source, 0, source.size)
    assert not {"get", "get_into", "put"} & {op for op, n in core.blobs.calls.items() if n}
    assert (part.etag, part.size) == (source.etag, len(data))
    assert core.backend_bytes() == before
    assert _chunk_ids(core, part.manifest_id, part.size) == _chunk_ids(
        core, source.manifest_id, source.size
    )


def test_aligned_range_shares_chunks_and_stores_nothing(core: CoreFixture) -> None:
    data = _random(1_500_000)
    source = core.put("src", data)
    entries = core.metadata.manifest_entries(source.manifest_id, 0, source.size)
    assert len(entries) >= 6
    start, end = entries[1].offset, entries[-2].offset + entries[-2].length
    before = core.backend_bytes()
    core.blobs.reset_calls()
    part = _copy(core, _upload(core), 1, source, start, end)
    assert core.blobs.calls["put"] == 0
    assert core.backend_bytes() == before
    assert part.etag == hashlib.md5(data[start:end], usedforsecurity=False).hexdigest()
    assert _chunk_ids(core, part.manifest_id, part.size) == [e.chunk_id for e in entries[1:-1]]


@pytest.mark.parametrize("seed", range(5))
def test_unaligned_range_rewrites_only_the_edges(core: CoreFixture, seed: int) -> None:
    data = _random(1_500_000, seed)
    source = core.put("src", data)
    rng = random.Random(seed)
    start = rng.randrange(0, 200_000)
    end = rng.randrange(1_300_000, len(data) + 1)
    entries = core.metadata.manifest_entries(source.manifest_id, start, end)
    before = core.backend_bytes()
    upload_id = _upload(core, checksum_algorithm="sha256", checksum_type="COMPOSITE")
    part = _copy(core, upload_id, 1, source, start, end)
    edges = (entries[0].offset + entries[0].length - start) + (end - entries[-1].offset)
    assert core.backend_bytes() - before <= edges * 1.01 + 4096
    assert part.checksum is not None
    assert part.checksum.algorithm == "sha256"
    stored = core.storage.complete_upload(
        core.user,
        core.bucket,
        "dst",
        upload_id,
        [CompletedPart(1, part.etag, part.checksum.value)],
        core.actor,
    )
    assert core.read(stored) == data[start:end]
    assert fsck(core.metadata, core.storage.chunks).ok


def test_copy_of_a_source_deleted_meanwhile_fails_cleanly(core: CoreFixture) -> None:
    source = core.put("src", _random(300_000))
    upload_id = _upload(core)
    core.storage.delete_object(core.user, core.bucket, "src", core.actor)
    with pytest.raises(ObjectNotFoundError):
        _copy(core, upload_id, 1, source, 0, source.size)
    assert fsck(core.metadata, core.storage.chunks).ok


def test_upload_listing_pages_with_markers_and_prefixes(core: CoreFixture) -> None:
    keys = ["a/1", "a/2", "b", "b", "c/x/1", "d"]
    ids = [_upload(core, key) for key in keys]
    seen, marker, upload_marker = [], "", ""
    while True:
        page = core.storage.list_uploads(
            core.user,
            core.bucket,
            key_marker=marker,
            upload_id_marker=upload_marker,
            max_uploads=2,
        )
        seen += [u.upload_id for u in page.uploads]
        if not page.is_truncated:
            break
        marker, upload_marker = page.next_key or "", page.next_upload_id or ""
    assert seen == ids
    grouped = core.storage.list_uploads(core.user, core.bucket, delimiter="/", max_uploads=2)
    assert (grouped.common_prefixes, [u.key for u in grouped.uploads]) == (("a/",), ["b"])
    assert grouped.is_truncated
    rest = core.storage.list_uploads(
        core.user,
        core.bucket,
        delimiter="/",
        key_marker=grouped.next_key or "",
        upload_id_marker=grouped.next_upload_id or "",
    )
    assert (rest.common_prefixes, [u.key for u in rest.uploads]) == (("c/",), ["b", "d"])


def test_expired_upload_releases_its_chunks(core: CoreFixture) -> None:
    upload_id = _upload(core)
    core.storage.upload_part(
        core.user, core.bucket, "dst", upload_id, 1, io.BytesIO(_random(400_000, 3))
    )
    kept = _upload(core, "kept")
    assert expire_uploads(core.metadata, 3600) == 0
    time.sleep(0.05)
    assert expire_uploads(core.metadata, 0.01) == 2
    assert core.metadata.get_upload(upload_id) is None
    assert core.metadata.get_upload(kept) is None
    report = collect_garbage(core.metadata, core.blobs, 0)
    assert report.chunks_deleted > 0
    assert core.metadata.count_chunks() == 0
    assert fsck(core.metadata, core.storage.chunks).ok


def test_expiry_thread_sweeps_until_stopped(core: CoreFixture) -> None:
    upload_id = _upload(core)
    expiry = UploadExpiry(core.metadata, 0, interval=0.05)
    expiry.start()
    try:
        deadline = time.monotonic() + 5
        while core.metadata.get_upload(upload_id) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        expiry.stop()
    assert core.metadata.get_upload(upload_id) is None
