"""Reading objects back: any byte range, fetching only the chunks that overlap it.

Chunks ahead of the one being read are fetched on a thread pool (a bounded number
at once), so backend latency overlaps with sending bytes to the client.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future

from gateway.core.chunk_store import ChunkStore
from gateway.ports import MetadataStore
from gateway.records import ChunkLocation

# Manifest rows are looked up in windows of this many entries.
LOCATION_BATCH = 256


class RangeReader:
    """Yields the plain bytes ``[start, end)`` of a manifest, chunk by chunk."""

    def __init__(
        self,
        metadata: MetadataStore,
        chunks: ChunkStore,
        executor: Executor,
        prefetch: int = 3,
    ) -> None:
        self._metadata = metadata
        self._chunks = chunks
        self._executor = executor
        self._prefetch = prefetch

    def iter_range(self, manifest_id: int, start: int, end: int) -> Iterator[bytes]:
        """Yield the bytes of ``[start, end)`` in order; the caller keeps ``end`` <= size."""
        pending: deque[tuple[ChunkLocation, Future[bytes]]] = deque()
        locations = self._locations(manifest_id, start, end)
        try:
            for location in locations:
                pending.append((location, self._fetch(location)))
                if len(pending) > self._prefetch:
                    yield self._slice(*pending.popleft(), start, end)
            while pending:
                yield self._slice(*pending.popleft(), start, end)
        finally:
            for _, future in pending:
                future.cancel()

    def _locations(self, manifest_id: int, start: int, end: int) -> Iterator[ChunkLocation]:
        position = start
        while position < end:
            batch = self._metadata.chunk_locations(manifest_id, position, end)[:LOCATION_BATCH]
            if not batch:
                return
            yield from batch
            position = batch[-1].offset + batch[-1].length

    def _fetch(self, location: ChunkLocation) -> Future[bytes]:
        return self._executor.submit(self._chunks.load, location.content_id, location.backend_key)

    @staticmethod
    def _slice(location: ChunkLocation, future: Future[bytes], start: int, end: int) -> bytes:
        data = future.result()
        low = max(start - location.offset, 0)
        high = min(end - location.offset, location.length)
        return data[low:high] if (low, high) != (0, location.length) else data


class ObjectStream(io.RawIOBase):
    """A seekable, read-only file object over a manifest (what WebDAV GET needs)."""

    def __init__(self, reader: RangeReader, manifest_id: int, size: int) -> None:
        super().__init__()
        self._reader = reader
        self._manifest_id = manifest_id
        self._size = size
        self._position = 0
        self._pieces: Iterator[bytes] | None = None
        # The current chunk's bytes and how many of them were already returned.
        self._buffer = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError("negative seek position")
        if target != self._position:
            self._position = target
            self._pieces = None
            self._buffer = b""
            self._offset = 0
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._position >= self._size:
            return 0
        if self._offset >= len(self._buffer):
            if self._pieces is None:
                self._pieces = self._reader.iter_range(
                    self._manifest_id, self._position, self._size
                )
            self._buffer = next(self._pieces, b"")
            self._offset = 0
            if not self._buffer:
                return 0
        count = min(len(buffer), len(self._buffer) - self._offset)
        buffer[:count] = memoryview(self._buffer)[self._offset : self._offset + count]
        self._offset += count
        self._position += count
        return count
