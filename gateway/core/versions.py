"""Bucket versioning: switching it, listing versions, and removing single versions.

A bucket starts without versioning: a write replaces the key's only version. Once
versioning is enabled every write adds a version and a delete adds a delete marker;
when suspended, writes and deletes replace the key's "null" version only and older
versions stay. Reads, listings and WebDAV see a key's current version unless it is a
delete marker. Removing one version releases its chunks through the usual reference
counts, so garbage collection reclaims what no other version shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.bucket_access import Access
from gateway.core.names import common_prefix, key_successor
from gateway.core.storage import Storage
from gateway.errors import NotFoundError, VersionNotFoundError
from gateway.records import VERSIONING_ENABLED, VERSIONING_SUSPENDED, Actor, StoredObject, User

STATUSES = (VERSIONING_ENABLED, VERSIONING_SUSPENDED)


@dataclass(frozen=True)
class VersionListing:
    """One page of versions and delete markers (``versions``) and rolled-up prefixes.

    ``next_key``/``next_version`` say where the next page starts; ``next_version`` is
    None when the page ended on a common prefix.
    """

    versions: tuple[StoredObject, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_key: str | None
    next_version: str | None


def set_versioning(
    storage: Storage, user: User, bucket_name: str, status: str, actor: Actor
) -> str:
    """Set the versioning status ("Enabled" or "Suspended") of a bucket the user owns."""
    if status not in STATUSES:
        raise ValueError(f"unknown versioning status {status!r}")
    bucket = storage.bucket(user, bucket_name, Access.OWNER)
    return storage.metadata.set_bucket_versioning(bucket, status, actor).versioning


def versioning_status(storage: Storage, user: User, bucket_name: str) -> str:
    """The bucket's versioning status; "" when it was never enabled."""
    return storage.bucket(user, bucket_name, Access.READ).versioning


def delete_version(
    storage: Storage, user: User, bucket_name: str, key: str, version_id: str, actor: Actor
) -> StoredObject | None:
    """Remove one version or delete marker for good; None when it did not exist."""
    bucket = storage.bucket(user, bucket_name, Access.OWNER)
    return storage.metadata.delete_version(bucket, key, version_id, actor)


def list_versions(
    storage: Storage,
    user: User,
    bucket_name: str,
    *,
    prefix: str = "",
    delimiter: str = "",
    key_marker: str | None = None,
    version_marker: str | None = None,
    max_keys: int = 1000,
) -> VersionListing:
    """A page of at most ``max_keys`` versions and common prefixes, in S3's order.

    Versions come by key, newest first within a key. Keys whose remainder after
    ``prefix`` holds ``delimiter`` roll up into one common prefix each. The page starts
    after every version of ``key_marker``, or right after its version ``version_marker``
    (VersionNotFoundError when the key has no such version).
    """
    bucket = storage.bucket(user, bucket_name, Access.READ)
    entries: list[StoredObject | str] = []
    cursor, version, inclusive = key_marker, version_marker, False
    batch_size = min(max_keys + 1, 1000)
    truncated = False
    while not truncated:
        try:
            batch = storage.metadata.list_versions(
                bucket, prefix, cursor, version, batch_size, inclusive=inclusive
            )
        except NotFoundError as exc:
            raise VersionNotFoundError(str(version)) from exc
        for found in batch:
            common = common_prefix(found.key, prefix, delimiter)
            if common is not None and key_marker is not None and common <= key_marker:
                cursor, version, inclusive = key_successor(common), None, True
                break
            if len(entries) == max_keys:
                truncated = True
                break
            if common is None:
                entries.append(found)
                cursor, version, inclusive = found.key, found.public_version_id, False
                continue
            entries.append(common)
            cursor, version, inclusive = key_successor(common), None, True
            break
        else:
            if len(batch) < batch_size:
                break
        if cursor is None:
            break
    return _page(entries, truncated)


def _page(entries: list[StoredObject | str], truncated: bool) -> VersionListing:
    versions = tuple(e for e in entries if isinstance(e, StoredObject))
    prefixes = tuple(e for e in entries if isinstance(e, str))
    last = entries[-1] if entries and truncated else None
    if isinstance(last, StoredObject):
        return VersionListing(versions, prefixes, True, last.key, last.public_version_id)
    return VersionListing(versions, prefixes, truncated, last, None)
