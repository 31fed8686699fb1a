"""Buckets and keys seen as a tree of folders and files, as file-system front ends need it.

A folder is a key prefix ending in ``/``. It exists when a marker object of exactly
that name exists (an empty folder, as S3 consoles create it) or when any key lies
under it. A bucket is the root folder of its keys (path ""). Copies and moves are
metadata operations: no chunk is read or rewritten (except for a copy between two
owners' buckets with encryption at rest on; a move needs one owner for both ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.core.bucket_access import Access, access_of
from gateway.core.names import check_key
from gateway.core.owner_copy import copy_across_owners
from gateway.core.storage import Storage
from gateway.errors import AccessDeniedError, BucketNotFoundError
from gateway.records import (
    EMPTY_MD5,
    FOLDER_CONTENT_TYPE,
    Actor,
    Bucket,
    FolderListing,
    ObjectAttributes,
    StoredObject,
    User,
)


@dataclass(frozen=True)
class Entry:
    """What a path names: a file (``path`` is its key) or a folder (``path`` ends in ``/``,
    or is "" for the bucket itself). ``obj`` is the file, or the folder's marker if known;
    ``modified`` is a folder's time when a listing told it (see ``SubFolder``)."""

    bucket: Bucket
    path: str
    obj: StoredObject | None
    modified: datetime | None = None

    @property
    def is_folder(self) -> bool:
        """Whether the entry is a folder (or the bucket root)."""
        return self.path == "" or self.path.endswith("/")


class FileTree:
    """Folder operations over ``Storage``, with the same ownership rules.

    A bucket is usable by its owner and, as far as their grant goes, by its grantees;
    one marked for anonymous reading may also be read by anybody, including callers
    without credentials (``user`` None).
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._metadata = storage.metadata

    def bucket(self, user: User | None, name: str, *, write: bool) -> Bucket:
        """The bucket ``name`` if ``user`` may read it (or write it, with ``write``).

        Raises BucketNotFoundError or AccessDeniedError.
        """
        bucket = self._metadata.get_bucket(name, None if user is None else user.id)
        if bucket is None:
            raise BucketNotFoundError(name)
        held = access_of(bucket, user)
        if held is not None and held >= (Access.WRITE if write else Access.READ):
            return bucket
        if not write and bucket.anonymous_read:
            return bucket
        raise AccessDeniedError(name)

    def buckets(self, user: User | None) -> list[Bucket]:
        """The buckets listed at the root for ``user``: their own and those granted to
        them (none when anonymous)."""
        return [] if user is None else self.storage.readable_buckets(user)

    def find(self, bucket: Bucket, path: str) -> Entry | None:
        """The file ``path``, else the folder ``path/``, else None (``path`` without ``/`` at
        either end; "" is the bucket root). A file wins over a folder of the same name."""
        if not path:
            return Entry(bucket, "", None)
        found = self._metadata.get_object(bucket.id, path)
        if found is not None:
            return Entry(bucket, path, found)
        prefix = path + "/"
        under = self._metadata.list_objects(bucket.id, prefix, None, 1, inclusive=True)
        if not under:
            return None
        marker = under[0] if under[0].key == prefix else None
        return Entry(bucket, prefix, marker)

    def children(self, folder: Entry) -> FolderListing:
        """The files and sub-folders right inside ``folder``, read in one query."""
        return self._metadata.list_children(folder.bucket.id, folder.path)

    def create_folder(self, bucket: Bucket, path: str, actor: Actor) -> Entry:
        """Create the empty folder ``path/`` as a marker object."""
        prefix = path.rstrip("/") + "/"
        check_key(prefix)
        marker = self._metadata.commit_object(
            bucket, prefix, (), EMPTY_MD5, ObjectAttributes(FOLDER_CONTENT_TYPE), actor
        )
        return Entry(bucket, prefix, marker)

    def delete(self, entry: Entry, actor: Actor) -> int:
        """Delete a file, or a folder with everything in it; the parent folder stays."""
        return self._metadata.delete_path(entry.bucket, entry.path, actor)

    def move(self, entry: Entry, target: Bucket, path: str, actor: Actor, *, replace: bool) -> int:
        """Rename a file or a folder (``path`` without trailing ``/``) in one transaction.

        With encryption at rest both buckets must have one owner (AccessDeniedError): a
        move keeps the chunks, sealed for their owner."""
        new_path = self._destination(entry, path)
        if self.storage.chunks.encrypted and entry.bucket.owner_id != target.owner_id:
            raise AccessDeniedError(f"{target.name}: a move between owners' buckets")
        return self._metadata.move_path(
            entry.bucket, entry.path, target, new_path, actor, replace=replace
        )

    def copy(
        self,
        entry: Entry,
        target: Bucket,
        path: str,
        actor: Actor,
        *,
        replace: bool,
        recursive: bool,
    ) -> int:
        """Copy a file or a folder (its contents too when ``recursive``), sharing chunks;
        with encryption at rest, a copy to another owner's bucket re-writes the bytes
        instead (see ``owner_copy``)."""
        new_path = self._destination(entry, path)
        if self.storage.chunks.encrypted and entry.bucket.owner_id != target.owner_id:
            return copy_across_owners(
                self, entry, target, new_path, actor, replace=replace, recursive=recursive
            )
        return self._metadata.copy_path(
            entry.bucket, entry.path, target, new_path, actor, replace=replace, recursive=recursive
        )

    def set_user_metadata(
        self, entry: Entry, changes: dict[str, str], actor: Actor
    ) -> StoredObject | None:
        """Merge ``changes`` into a file's user metadata; its bytes and ETag stay."""
        return self._metadata.update_user_metadata(entry.bucket, entry.path, changes, actor)

    def bytes_used(self, user: User) -> int:
        """The bytes ``user``'s buckets hold (current versions)."""
        return self._metadata.bytes_used(user.id)

    @staticmethod
    def _destination(entry: Entry, path: str) -> str:
        new_path = path.strip("/") + ("/" if entry.is_folder else "")
        check_key(new_path)
        return new_path
