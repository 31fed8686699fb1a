"""Garbage collection of chunks that no object or part references any more.

Safe against uploads in flight: a writer touches every chunk it stores or reuses,
and a chunk is collected only after it has been both unreferenced and untouched for
the whole grace period. The row is deleted first (conditionally, in one statement),
then the blob; a writer wanting the same content afterwards stores a fresh copy under
a new backend key. Blobs with no row at all (a crash between the backend write and
the row insert) are removed once the time in their key is older than the grace period.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.core.chunk_store import CHUNK_PREFIX, backend_key_time
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
    """Delete unreferenced chunks older than ``grace_seconds``; return what was removed."""
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
    known = {chunk.backend_key for chunk in metadata.iter_chunks()}
    horizon = time.time() - grace_seconds
    removed = 0
    for key in blobs.iter_keys(CHUNK_PREFIX):
        stamp = backend_key_time(key)
        # A writer records a blob's row right after storing it, well within the grace
        # period, so an old blob missing from the snapshot can have no row coming.
        if key not in known and stamp is not None and stamp < horizon:
            blobs.delete(key)
            removed += 1
    return removed
