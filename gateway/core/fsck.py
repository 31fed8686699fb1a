"""Consistency check: every chunk exists in the backend and decodes to its content id,
every reference count matches the manifests that name the chunk, and every version,
part and manifest entry names rows that exist, with manifests tiled by their entries."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gateway.core.chunk_store import ChunkStore
from gateway.errors import ChunkIntegrityError
from gateway.ports import BlobNotFound, BlobStoreError, MetadataStore
from gateway.records import Chunk

BATCH = 256


@dataclass
class FsckReport:
    """Problems found; ``ok`` is True when there are none."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    refcount_mismatches: list[tuple[str, int, int]] = field(default_factory=list)
    manifest_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not (
            self.missing
            or self.corrupt
            or self.unreadable
            or self.refcount_mismatches
            or self.manifest_problems
        )


def check_chunk(chunks: ChunkStore, chunk: Chunk) -> str | None:
    """None when the chunk is sound, else ``missing``, ``corrupt`` or ``unreadable``."""
    try:
        chunks.load(chunk.content_id, chunk.backend_key)
    except BlobNotFound:
        return "missing"
    except ChunkIntegrityError:
        return "corrupt"
    except BlobStoreError:
        return "unreadable"
    return None


def fsck(
    metadata: MetadataStore,
    chunks: ChunkStore,
    *,
    workers: int = 4,
    progress: Callable[[int], object] | None = None,
) -> FsckReport:
    """Check every chunk (``workers`` at a time), every reference count and every
    manifest reference (``MetadataStore.manifest_problems``).

    Meant for a quiescent store: run alongside writers or GC it may report a chunk that
    was collected or a refcount that changed while it looked.

    ``progress`` is called with the number of chunks finished since its last call.
    """
    report = FsckReport()
    batch: list[Chunk] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fsck") as pool:

        def check_batch() -> None:
            for chunk, problem in zip(
                batch, pool.map(lambda c: check_chunk(chunks, c), batch), strict=True
            ):
                report.checked += 1
                if problem is not None:
                    getattr(report, problem).append(chunk.backend_key)
            if progress is not None:
                progress(len(batch))
            batch.clear()

        for chunk in metadata.iter_chunks():
            batch.append(chunk)
            if len(batch) >= BATCH:
                check_batch()
        check_batch()
    report.refcount_mismatches = metadata.refcount_mismatches()
    report.manifest_problems = metadata.manifest_problems()
    return report
