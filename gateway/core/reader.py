"""Reading objects back: any byte range, fetching only the chunks that overlap it.

Chunks ahead of the one being sent are fetched, decoded and verified on a thread pool
(a bounded number at once), so backend latency, decompression and hashing overlap with
sending bytes to the client. Their bytes land in buffers leased from a pool and are
handed out as views; a buffer goes back to the pool as soon as the consumer asks for
the next piece, so streaming a file of any size cycles through the same few buffers.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Executor, Future
from typing import NamedTuple

from gateway.allocator import TRIM_THRESHOLD
from gateway.core.buffer_pool import BufferPool, Lease
from gateway.core.chunk_store import ChunkStore
from gateway.ports import MetadataStore
from gateway.records import ChunkLocation

# Manifest rows are looked up for this many bytes of the object at a time.
LOCATION_WINDOW = 256 << 20
# ObjectStream.read returns bytes objects no bigger than glibc's trim threshold (see
# gateway.allocator): memory freed in such pieces stays mapped for the next one, while
# bigger objects get fresh pages, and a page fault each 4 KiB, every time.
PIECE = TRIM_THRESHOLD

_EMPTY = memoryview(b"")


class _Loaded(NamedTuple):
    """A verified chunk: its plain bytes, in the buffer ``lease`` holds."""

    lease: Lease
    plain: memoryview

    def release(self) -> None:
        """Drop the view, then give the buffer back."""
        self.plain.release()
        self.lease.release()


def _deliver(
    loading: Future[_Loaded], location: ChunkLocation, start: int, end: int
) -> Iterator[memoryview]:
    """Yield the part of one chunk inside ``[start, end)``; release it when resumed."""
    loaded = loading.result()
    try:
        low = max(start - location.offset, 0)
        high = min(end - location.offset, location.length)
        with loaded.plain[low:high] as piece:
            yield piece
    finally:
        loaded.release()


def _abandon(loading: Future[_Loaded]) -> None:
    """Cancel a fetch nobody will consume, or give its buffer back once it is done."""
    if not loading.cancel():
        loading.add_done_callback(_release_result)


def _release_result(loading: Future[_Loaded]) -> None:
    if not loading.cancelled() and loading.exception() is None:
        loading.result().release()


class RangeReader:
    """Yields the plain bytes ``[start, end)`` of a manifest, chunk by chunk.

    Up to ``prefetch`` chunks beyond the one being consumed are loaded ahead; their
    buffers come from ``pool``.
    """

    def __init__(
        self,
        metadata: MetadataStore,
        chunks: ChunkStore,
        executor: Executor,
        prefetch: int = 3,
        pool: BufferPool | None = None,
    ) -> None:
        self._metadata = metadata
        self._chunks = chunks
        self._executor = executor
        self._prefetch = prefetch
        self._pool = pool or BufferPool()

    def iter_range(
        self, manifest_id: int, start: int, end: int
    ) -> Generator[memoryview, None, None]:
        """Yield the bytes of ``[start, end)`` in order; the caller keeps ``end`` <= size.

        Each view is valid only until the next one is requested or the iterator is
        closed: then it is released (using it raises ValueError) and its buffer reused.
        A consumer that keeps bytes longer copies them (``bytes(view)``). Raises
        ChunkIntegrityError, or a BlobStoreError, when a chunk cannot be served intact.
        """
        pending: deque[tuple[Future[_Loaded], ChunkLocation]] = deque()
        try:
            for location in self._locations(manifest_id, start, end):
                pending.append((self._executor.submit(self._load, location), location))
                if len(pending) > self._prefetch:
                    yield from _deliver(*pending.popleft(), start, end)
            while pending:
                yield from _deliver(*pending.popleft(), start, end)
        finally:
            for loading, _ in pending:
                _abandon(loading)

    def _locations(self, manifest_id: int, start: int, end: int) -> Iterator[ChunkLocation]:
        position = start
        while position < end:
            window = min(end, position + LOCATION_WINDOW)
            batch = self._metadata.chunk_locations(manifest_id, position, window)
            if not batch:
                return
            yield from batch
            position = batch[-1].offset + batch[-1].length

    def _load(self, location: ChunkLocation) -> _Loaded:
        """Load and verify one chunk into leased buffers, keeping only the one it ends in."""
        leases: list[Lease] = []

        def allocate(size: int) -> memoryview:
            leases.append(self._pool.lease(size))
            return leases[-1].view

        try:
            plain = self._chunks.load(location.content_id, location.backend_key, allocate)
        except BaseException:
            for lease in leases:
                lease.release()
            raise
        *spent, kept = leases
        for lease in spent:
            lease.release()
        return _Loaded(kept, plain)


class ObjectStream(io.RawIOBase):
    """A seekable, read-only file object over a manifest, for consumers that need one
    (wsgidav's own GET, which the WebDAV front end leaves some requests to).

    ``read`` returns at most PIECE bytes per call (short reads are allowed of a raw
    stream), copied out of the reader's buffers; ``readinto`` copies as much as fits.
    """

    def __init__(self, reader: RangeReader, manifest_id: int, size: int) -> None:
        super().__init__()
        self._reader = reader
        self._manifest_id = manifest_id
        self._size = size
        self._position = 0
        self._views: Generator[memoryview, None, None] | None = None
        # What is left of the current view.
        self._rest = _EMPTY

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
            self._stop()
            self._position = target
        return self._position

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            return self.readall()
        return bytes(self._take(min(size, PIECE)))

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        with memoryview(buffer) as target:
            piece = self._take(len(target))
            target[: len(piece)] = piece
        return len(piece)

    def close(self) -> None:
        """Release the buffers and stop the read-ahead."""
        self._stop()
        super().close()

    def _take(self, limit: int) -> memoryview:
        """The next bytes, at most ``limit`` of them; valid until the next call."""
        if not self._rest:
            # Our slices of the current view must be gone before the reader reuses it.
            self._rest = _EMPTY
            if self._position >= self._size:
                return _EMPTY
            if self._views is None:
                self._views = self._reader.iter_range(self._manifest_id, self._position, self._size)
            self._rest = next(self._views, _EMPTY)
        piece, self._rest = self._rest[:limit], self._rest[limit:]
        self._position += len(piece)
        return piece

    def _stop(self) -> None:
        self._rest = _EMPTY
        if self._views is not None:
            self._views.close()
            self._views = None
