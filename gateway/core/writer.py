"""Streaming object writer: bytes in, a manifest of stored chunks out.

Chunks are hashed, compressed and stored on a thread pool while the caller keeps
feeding bytes; the C code doing that work releases the GIL, so several cores help.
At most ``max_in_flight`` chunks are pending at once, which bounds memory whatever
the object's size.
"""

from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Protocol

from gateway.core.chunk_store import ChunkStore
from gateway.core.chunker import Chunker, ChunkSizes
from gateway.records import Chunk, ManifestEntry

READ_SIZE = 1 << 20
# Stored chunks are flushed to durable storage in the background every this many bytes,
# so the final flush before the commit has little left to write.
FLUSH_INTERVAL = 64 << 20


class Readable(Protocol):
    """Anything with ``read(n)`` returning at most ``n`` bytes and b"" at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class WrittenBody:
    """What a finished write produced: the manifest entries, the size and the MD5."""

    entries: tuple[ManifestEntry, ...]
    size: int
    md5: bytes

    @property
    def md5_hex(self) -> str:
        """The MD5 in hex, as S3 ETags show it."""
        return self.md5.hex()


class ObjectWriter:
    """Accepts an object's bytes in pieces of any size (``write``) and stores them as chunks.

    ``finish`` returns the manifest; nothing is visible in the namespace until the caller
    commits it. ``abort`` (or an exception) leaves only unreferenced chunks for GC.
    Not thread-safe: one writer per upload.
    """

    def __init__(
        self,
        chunks: ChunkStore,
        executor: Executor,
        sizes: ChunkSizes,
        max_in_flight: int = 6,
    ) -> None:
        self._chunks = chunks
        self._executor = executor
        self._chunker = Chunker(sizes)
        self._max_in_flight = max_in_flight
        self._pending: deque[tuple[int, int, Future[Chunk]]] = deque()
        self._entries: list[ManifestEntry] = []
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._md5_pending: Future[None] | None = None
        self._size = 0
        self._unflushed = 0
        self._flushes: list[Future[None]] = []
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Add bytes to the object; return how many were taken (all of them)."""
        if self._closed:
            raise ValueError("write to a finished or aborted ObjectWriter")
        block = bytes(data)
        # MD5 runs on the pool, one block after the other, while this thread cuts chunks.
        self._wait_for_md5()
        self._md5_pending = self._executor.submit(self._md5.update, block)
        for piece in self._chunker.feed(block):
            self._submit(piece)
        return len(block)

    def _wait_for_md5(self) -> None:
        if self._md5_pending is not None:
            self._md5_pending.result()
            self._md5_pending = None

    def write_from(self, stream: Readable) -> None:
        """Copy ``stream`` into the object until ``read`` returns b""."""
        while block := stream.read(READ_SIZE):
            self.write(block)

    def finish(self) -> WrittenBody:
        """Store the last chunks, wait for every store and make them durable.

        Returns the manifest, which may be committed as soon as this returns.
        """
        for piece in self._chunker.finish():
            self._submit(piece)
        while self._pending:
            self._collect()
        self._wait_for_md5()
        for flush in self._flushes:
            flush.result()
        self._chunks.flush()
        self._closed = True
        return WrittenBody(tuple(self._entries), self._size, self._md5.digest())

    def abort(self) -> None:
        """Stop; wait for stores in flight so no thread outlives the request."""
        self._closed = True
        while self._pending:
            _, _, future = self._pending.popleft()
            future.cancel() or future.exception()
        if self._md5_pending is not None:
            self._md5_pending.exception()
        for flush in self._flushes:
            flush.exception()

    def _submit(self, piece: bytes) -> None:
        while len(self._pending) >= self._max_in_flight:
            self._collect()
        future = self._executor.submit(self._chunks.store, piece)
        self._pending.append((self._size, len(piece), future))
        self._size += len(piece)

    def _collect(self) -> None:
        offset, length, future = self._pending.popleft()
        chunk = future.result()
        self._entries.append(ManifestEntry(offset, length, chunk.id))
        self._unflushed += length
        if self._unflushed >= FLUSH_INTERVAL:
            self._unflushed = 0
            for flush in [f for f in self._flushes if f.done()]:
                flush.result()  # a failed background flush fails the upload now
                self._flushes.remove(flush)
            self._flushes.append(self._executor.submit(self._chunks.flush))
