"""Garbage collection of chunks that no object or part references any more.

Safe against uploads in flight, whatever the grace period (0 included):

- A writer touches every chunk it stores or reuses, and a chunk is collected only after
  it has been both unreferenced and untouched for the whole grace period. The row is
  deleted first (conditionally, in one statement), then the blob; a writer wanting the
  same content afterwards stores a fresh copy under a new backend key.
- The grace period only makes collisions rare. What makes them harmless is the commit:
  it raises each chunk's refcount before naming it and fails with ChunksCollectedError
  (nothing committed, the client is told to retry) when a row is gone, so no manifest
  ever names a deleted chunk (see ``version_commit.new_manifest``).
- Blobs with no row at all (a crash between the backend write and the row insert) are
  removed once the time in their key is older than the grace period and never younger
  than ``ORPHAN_MIN_AGE``: a writer records a blob's row within that time of its key's
  stamp or deletes the blob and fails (``ChunkStore.store_many``), so a blob whose row is
  still coming is never taken for an orphan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.core.chunk_store import CHUNK_PREFIX, ORPHAN_MIN_AGE, backend_key_time
from gateway.ports import BlobStore, MetadataStore

BATCH = 500


@dataclass(frozen=True)
class GcReport:
    """What a collection removed."""

    chunks_deleted: int
    bytes_freed: int
    orphan_blobs_deleted: int


def collect_garbage(
    metadata: MetadataStore,
    blobs: BlobStore,
    grace_seconds: int,
    *,
    sweep_orphans: bool = True,
) -> GcReport:
    """Delete unreferenced chunks older than ``grace_seconds``; return what was removed.

    May run at any time, concurrently with any number of gateways and writers, with any
    grace period: a chunk row is deleted only while unreferenced and untouched since the
    cutoff, in one conditional statement, and its blob only after that. Orphan blobs are
    swept (``sweep_orphans``) when older than ``max(grace_seconds, ORPHAN_MIN_AGE)``.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    deleted = freed = 0
    while True:
        candidates = metadata.collectable_chunks(cutoff, BATCH)
        if not candidates:
            break
        for chunk in candidates:
            if metadata.forget_chunk(chunk.id, cutoff):
                blobs.delete(chunk.backend_key)
                deleted += 1
                freed += chunk.stored_size
        if len(candidates) < BATCH:
            break
    orphans = _sweep_orphans(metadata, blobs, grace_seconds) if sweep_orphans else 0
    return GcReport(deleted, freed, orphans)


def _sweep_orphans(metadata: MetadataStore, blobs: BlobStore, grace_seconds: int) -> int:
    horizon = time.time() - max(grace_seconds, ORPHAN_MIN_AGE)
    known = {chunk.backend_key for chunk in metadata.iter_chunks()}
    removed = 0
    for key in blobs.iter_keys(CHUNK_PREFIX):
        stamp = backend_key_time(key)
        # A writer records a blob's row within ORPHAN_MIN_AGE of its stamp or gives the
        # blob up, so an older blob missing from the snapshot can have no row coming.
        if key not in known and stamp is not None and stamp < horizon:
            blobs.delete(key)
            removed += 1
    return removed
