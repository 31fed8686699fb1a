"""Folder operations against a model: any sequence of puts, folder creations, deletes,
copies and moves leaves exactly the files the model predicts, with their bytes, and
every chunk's reference count right."""

from __future__ import annotations

import io
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.bucket_access import Access
from gateway.core.tree import Entry, FileTree
from gateway.errors import ConflictError, DestinationExistsError
from gateway.records import ObjectAttributes
from tests.support.core import CoreFixture, build_core

SEGMENTS = st.sampled_from(["a", "b", "c"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=3).map("/".join)
SIZES = st.sampled_from([0, 3, 15_000, 150_000])


def _content(size: int) -> bytes:
    """Deterministic bytes of ``size`` (shared between files, so chunks are deduplicated)."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


OPERATIONS = st.one_of(
    st.tuples(st.just("put"), PATHS, SIZES),
    st.tuples(st.just("mkdir"), PATHS),
    st.tuples(st.just("delete"), PATHS),
    st.tuples(st.sampled_from(["move", "copy"]), PATHS, PATHS, st.booleans()),
)


@pytest.fixture(scope="module")
def shared_core() -> Iterator[CoreFixture]:
    with tempfile.TemporaryDirectory() as root:
        fixture = build_core(Path(root), chunk_avg_size=16 * 1024)
        yield fixture
        fixture.storage.close()


class Model:
    """What the tree should hold: files by key (folders are implied, or empty markers)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.folders: set[str] = set()

    def folder_exists(self, path: str) -> bool:
        prefix = path + "/"
        return any(f.startswith(prefix) for f in self.folders) or any(
            k.startswith(prefix) for k in self.files
        )

    def entry_kind(self, path: str) -> str | None:
        if path in self.files:
            return "file"
        return "folder" if self.folder_exists(path) else None

    def parent_ok(self, path: str) -> bool:
        """No ancestor of ``path`` is a file (missing ancestors are implied, as in S3)."""
        parts = path.split("/")
        return not any("/".join(parts[:n]) in self.files for n in range(1, len(parts)))

    def remove(self, path: str) -> None:
        prefix = path + "/"
        self.files.pop(path, None)
        self.files = {k: v for k, v in self.files.items() if not k.startswith(prefix)}
        self.folders = {f for f in self.folders if not f.startswith(prefix)}
        self._keep_parent(path)

    def _keep_parent(self, path: str) -> None:
        parent = path.rpartition("/")[0]
        if parent and not self.folder_exists(parent):
            self.folders.add(parent + "/")

    def transfer(self, source: str, target: str, *, move: bool) -> None:
        self.files.pop(target, None)
        target_prefix, source_prefix = target + "/", source + "/"
        self.files = {k: v for k, v in self.files.items() if not k.startswith(target_prefix)}
        self.folders = {f for f in self.folders if not f.startswith(target_prefix)}
        if source in self.files:
            self.files[target] = self.files[source]
            if move:
                del self.files[source]
        else:
            moved = {
                target_prefix + k[len(source_prefix) :]: v
                for k, v in self.files.items()
                if k.startswith(source_prefix)
            }
            markers = {
                target_prefix + f[len(source_prefix) :]
                for f in self.folders
                if f.startswith(source_prefix)
            }
            if move:
                self.files = {
                    k: v for k, v in self.files.items() if not k.startswith(source_prefix)
                }
                self.folders -= {f for f in self.folders if f.startswith(source_prefix)}
            self.files.update(moved)
            self.folders |= markers
            if not moved and not markers:
                self.folders.add(target_prefix)
        if move:
            self._keep_parent(source)


def _apply(tree: FileTree, core: CoreFixture, bucket_name: str, model: Model, op: tuple) -> None:  # type: ignore[type-arg]
    bucket = core.storage.bucket(core.user, bucket_name, Access.OWNER)
    kind = op[0]
    if kind == "put":
        _, path, size = op
        data = _content(size)
        if model.entry_kind(path) == "folder" or not model.parent_ok(path):
            return
        core.storage.put_object(
            core.user, bucket_name, path, io.BytesIO(data), ObjectAttributes(), core.actor
        )
        model.files[path] = data
    elif kind == "mkdir":
        _, path = op
        if model.entry_kind(path) is not None or not model.parent_ok(path):
            return
        tree.create_folder(bucket, path, core.actor)
        model.folders.add(path + "/")
    elif kind == "delete":
        _, path = op
        entry = tree.find(bucket, path)
        assert (entry is None) == (model.entry_kind(path) is None)
        if entry is not None:
            tree.delete(entry, core.actor)
            model.remove(path)
    else:
        _, source, target, replace = op
        entry = tree.find(bucket, source)
        if entry is None or not model.parent_ok(target):
            return
        occupied = model.entry_kind(target) is not None
        try:
            if kind == "move":
                tree.move(entry, bucket, target, core.actor, replace=replace)
            else:
                tree.copy(entry, bucket, target, core.actor, replace=replace, recursive=True)
        except DestinationExistsError:
            assert occupied and not replace
            return
        except ConflictError:
            nested = target.startswith(source + "/") or source.startswith(target + "/")
            assert source == target or (entry.is_folder and nested) or nested
            return
        assert replace or not occupied
        model.transfer(source, target, move=kind == "move")


def _snapshot(tree: FileTree, core: CoreFixture, bucket_name: str) -> tuple[dict, set]:  # type: ignore[type-arg]
    bucket = core.storage.bucket(core.user, bucket_name, Access.OWNER)
    files: dict[str, bytes] = {}
    folders: set[str] = set()
    pending = [Entry(bucket, "", None)]
    while pending:
        folder = pending.pop()
        listing = tree.children(folder)
        for obj in listing.files:
            files[obj.key] = core.read(obj)
        for folder_entry in listing.folders:
            prefix = folder_entry.prefix
            marker = core.metadata.get_object(bucket.id, prefix)
            if marker is not None:
                folders.add(prefix)
            pending.append(Entry(bucket, prefix, marker))
    return files, folders


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(OPERATIONS, min_size=1, max_size=12))
def test_tree_operations_match_the_model(
    shared_core: CoreFixture,
    operations: list[tuple],  # type: ignore[type-arg]
) -> None:
    core = shared_core
    tree = FileTree(core.storage)
    name = f"model-{uuid.uuid4().hex[:12]}"
    core.storage.create_bucket(core.user, name, core.actor)
    model = Model()
    for op in operations:
        _apply(tree, core, name, model, op)
        files, markers = _snapshot(tree, core, name)
        assert files == model.files, op
        assert markers == model.folders, op
    assert core.metadata.refcount_mismatches() == []
