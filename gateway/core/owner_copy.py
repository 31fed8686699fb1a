"""Copies between buckets of different owners while encryption at rest is on.

A metadata-only copy would make the target owner's object name chunks sealed under the
source owner's keys and identified by the source owner's keyed ids, sharing chunks across
owners; so such a copy re-writes every file instead: its bytes are read (decrypted) and
stored through the normal writer for the target owner, chunked, deduplicated within that
owner and sealed under that owner's keys. The copy keeps each file's ETag, checksum and
attributes; WebDAV dead properties do not travel. Unlike a metadata-only copy it is not
one transaction: files are committed one by one, and a failure part-way leaves the ones
already copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from gateway.errors import DestinationExistsError
from gateway.records import Actor, Bucket, StoredObject

if TYPE_CHECKING:
    from gateway.core.tree import Entry, FileTree

PAGE = 1000


def copy_across_owners(
    tree: FileTree,
    entry: Entry,
    target: Bucket,
    new_path: str,
    actor: Actor,
    *,
    replace: bool,
    recursive: bool,
) -> int:
    """Copy the file or folder ``entry`` to ``new_path`` (ending in ``/`` for a folder) in
    ``target`` by re-writing its bytes for ``target``'s owner; return the objects written.

    Whatever is at the destination is deleted first when ``replace``, otherwise
    DestinationExistsError is raised, as for a metadata-only copy.
    """
    existing = tree.find(target, new_path.strip("/"))
    if existing is not None:
        if not replace:
            raise DestinationExistsError(f"{target.name}/{new_path}")
        tree.delete(existing, actor)
    written = 0
    for obj in _sources(tree, entry, recursive=recursive):
        _rewrite(tree, obj, target, new_path + obj.key[len(entry.path) :], actor)
        written += 1
    if entry.is_folder and tree.find(target, new_path.strip("/")) is None:
        tree.create_folder(target, new_path, actor)
        written += 1
    return written


def _sources(tree: FileTree, entry: Entry, *, recursive: bool) -> Iterator[StoredObject]:
    """The objects a copy of ``entry`` writes: the file, or the folder's marker and, when
    ``recursive``, every object under it."""
    if not (entry.is_folder and recursive):
        if entry.obj is not None:
            yield entry.obj
        return
    after: str | None = None
    while page := tree.storage.metadata.list_objects(entry.bucket.id, entry.path, after, PAGE):
        yield from page
        after = page[-1].key


def _rewrite(tree: FileTree, obj: StoredObject, target: Bucket, key: str, actor: Actor) -> None:
    """Store ``obj``'s bytes anew as ``key`` in ``target``, for ``target``'s owner."""
    storage = tree.storage
    writer = storage.new_writer(obj.size, owner_id=target.owner_id)
    try:
        for view in storage.read_range(obj, 0, obj.size):
            writer.write(view)
        written = writer.finish()
    except BaseException:
        writer.abort()
        raise
    storage.metadata.commit_object(
        target, key, written.entries, obj.etag, obj.attributes, actor, checksum=obj.checksum
    )
