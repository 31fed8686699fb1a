"""Bucket versioning in the storage core: versions, delete markers, the file tree's view of
them, and chunk reference counts as versions come and go."""

from __future__ import annotations

import os

import pytest

from gateway.core import versions
from gateway.core.fsck import fsck
from gateway.core.gc import collect_garbage
from gateway.core.tree import FileTree
from gateway.errors import DeleteMarkerError, ObjectNotFoundError, VersionNotFoundError
from tests.support.core import CoreFixture


def enable(core: CoreFixture, status: str = "Enabled") -> None:
    versions.set_versioning(core.storage, core.user, core.bucket, status, core.actor)


def listed(core: CoreFixture, **kwargs: object) -> list[tuple[str, str, bool, bool]]:
    page = versions.list_versions(core.storage, core.user, core.bucket, **kwargs)  # type: ignore[arg-type]
    return [(v.key, v.public_version_id, v.is_latest, v.is_delete_marker) for v in page.versions]


def test_unknown_status_is_refused(core: CoreFixture) -> None:
    with pytest.raises(ValueError, match="unknown versioning status"):
        enable(core, "Off")


def test_versions_keep_their_chunks_until_removed(core: CoreFixture) -> None:
    enable(core)
    old_body, new_body = os.urandom(500_000), os.urandom(500_000)
    old = core.put("k", old_body)
    new = core.put("k", new_body)
    assert not old.null_version and old.versioned
    assert core.read(core.storage.version(core.user, core.bucket, "k", old.version_id)) == old_body
    assert core.read(core.storage.head_object(core.user, core.bucket, "k")) == new_body
    chunks = core.metadata.count_chunks()
    assert collect_garbage(core.metadata, core.blobs, 0).chunks_deleted == 0
    versions.delete_version(core.storage, core.user, core.bucket, "k", old.version_id, core.actor)
    assert collect_garbage(core.metadata, core.blobs, 0).chunks_deleted > 0
    assert core.metadata.count_chunks() < chunks
    report = fsck(core.metadata, core.storage.chunks)
    assert report.ok, report
    assert core.read(core.storage.head_object(core.user, core.bucket, "k")) == new_body
    assert new.is_latest


def test_delete_marker_hides_the_key_everywhere(core: CoreFixture) -> None:
    enable(core)
    core.put("dir/a.txt", b"a")
    core.put("dir/b.txt", b"b")
    marker = core.storage.delete_object(core.user, core.bucket, "dir/a.txt", core.actor)
    assert marker is not None and marker.is_delete_marker
    with pytest.raises(DeleteMarkerError) as raised:
        core.storage.head_object(core.user, core.bucket, "dir/a.txt")
    assert raised.value.current and raised.value.version_id == marker.version_id
    with pytest.raises(DeleteMarkerError) as by_id:
        core.storage.version(core.user, core.bucket, "dir/a.txt", marker.version_id)
    assert not by_id.value.current
    listing = core.storage.list_objects(core.user, core.bucket)
    assert [o.key for o in listing.objects] == ["dir/b.txt"]
    tree = FileTree(core.storage)
    bucket = tree.bucket(core.user, core.bucket, write=False)
    folder = tree.find(bucket, "dir")
    assert folder is not None
    assert [f.key for f in tree.children(folder).files] == ["dir/b.txt"]
    assert tree.find(bucket, "dir/a.txt") is None
    assert core.metadata.stats().objects == 1


def test_webdav_delete_and_move_leave_delete_markers(core: CoreFixture) -> None:
    enable(core)
    core.put("docs/a.txt", b"alpha")
    tree = FileTree(core.storage)
    bucket = tree.bucket(core.user, core.bucket, write=True)
    entry = tree.find(bucket, "docs/a.txt")
    assert entry is not None
    assert tree.move(entry, bucket, "docs/moved.txt", core.actor, replace=False) == 1
    assert tree.find(bucket, "docs/a.txt") is None
    moved = tree.find(bucket, "docs/moved.txt")
    assert moved is not None and moved.obj is not None and core.read(moved.obj) == b"alpha"
    tree.delete(moved, core.actor)
    # The folder stays visible through its marker object, as after any WebDAV delete.
    assert [(key, latest, marker) for key, _, latest, marker in listed(core)] == [
        ("docs/", True, False),
        ("docs/a.txt", True, True),
        ("docs/a.txt", False, False),
        ("docs/moved.txt", True, True),
        ("docs/moved.txt", False, False),
    ]
    assert tree.find(bucket, "docs") is not None
    assert fsck(core.metadata, core.storage.chunks).ok


def test_suspended_writes_replace_only_the_null_version(core: CoreFixture) -> None:
    core.put("k", b"before versioning")
    enable(core)
    kept = core.put("k", b"kept")
    enable(core, "Suspended")
    first_null = core.put("k", b"null 1")
    second_null = core.put("k", b"null 2")
    assert first_null.null_version and second_null.null_version
    assert [(v[1], v[2]) for v in listed(core)] == [("null", True), (kept.version_id, False)]
    null = core.storage.version(core.user, core.bucket, "k", "null")
    assert core.read(null) == b"null 2"
    assert not core.metadata.refcount_mismatches()


def test_removing_the_current_version_promotes_the_newest(core: CoreFixture) -> None:
    enable(core)
    old = core.put("k", b"old")
    new = core.put("k", b"new")
    versions.delete_version(core.storage, core.user, core.bucket, "k", new.version_id, core.actor)
    current = core.storage.head_object(core.user, core.bucket, "k")
    assert current.version_id == old.version_id
    removed = versions.delete_version(
        core.storage, core.user, core.bucket, "k", old.version_id, core.actor
    )
    assert removed is not None
    with pytest.raises(ObjectNotFoundError):
        core.storage.head_object(core.user, core.bucket, "k")
    with pytest.raises(VersionNotFoundError):
        core.storage.version(core.user, core.bucket, "k", old.version_id)
    assert listed(core) == []


def test_listing_pages_with_markers_and_prefixes(core: CoreFixture) -> None:
    enable(core)
    for key in ["a/1", "a/2", "b", "c"]:
        core.put(key, b"1")
        core.put(key, b"2")
    everything = listed(core)
    assert [v[0] for v in everything] == ["a/1", "a/1", "a/2", "a/2", "b", "b", "c", "c"]
    assert [v[2] for v in everything] == [True, False] * 4
    page = versions.list_versions(core.storage, core.user, core.bucket, max_keys=3)
    assert page.is_truncated and (page.next_key, page.next_version) == everything[2][:2]
    rest = versions.list_versions(
        core.storage,
        core.user,
        core.bucket,
        key_marker=page.next_key,
        version_marker=page.next_version,
    )
    assert [(v.key, v.public_version_id) for v in rest.versions] == [e[:2] for e in everything[3:]]
    grouped = versions.list_versions(
        core.storage, core.user, core.bucket, delimiter="/", max_keys=2
    )
    assert grouped.common_prefixes == ("a/",)
    assert [v.key for v in grouped.versions] == ["b"]
    assert grouped.is_truncated and grouped.next_version is not None
    after_prefix = versions.list_versions(
        core.storage, core.user, core.bucket, delimiter="/", key_marker="a/"
    )
    assert after_prefix.common_prefixes == ()
    assert [v.key for v in after_prefix.versions] == ["b", "b", "c", "c"]
    with pytest.raises(VersionNotFoundError):
        versions.list_versions(
            core.storage, core.user, core.bucket, key_marker="b", version_marker="f" * 32
        )
