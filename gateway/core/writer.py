"""Streaming object writer: bytes in, a manifest of stored chunks out.

A body whose stream can ``readinto`` is received straight into the chunker's blocks and
never copied afterwards: its chunks are views of those blocks. Chunks go to a thread
pool in batches (BLAKE3 ids, one dedup lookup per batch, envelope encoding, backend
puts, one insert per batch) and the whole-body MD5 runs on a digest lane, batch after
batch, while the caller keeps receiving. The C code doing that work releases the GIL,
so several cores help. At most ``max_in_flight`` bytes of chunks are pending at once,
which bounds memory whatever the object's size.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from gateway.core.buffer_pool import BufferPool
from gateway.core.chunk_store import ChunkStore
from gateway.core.chunker import Bytes, Chunker, ChunkSizes, Cut
from gateway.records import Chunk, ManifestEntry

_T = TypeVar("_T")

READ_SIZE = 1 << 20
# Chunk bytes handed to the pool and not yet stored, per upload.
MAX_IN_FLIGHT = 16 << 20
# Stored chunks are flushed to durable storage in the background every this many bytes,
# so the final flush before the commit has little left to write.
FLUSH_INTERVAL = 64 << 20
# A body announced at most this big is stored in the caller's thread: for so few bytes,
# handing the work to the pool and the digest lane costs more than the work itself.
INLINE_BODY = 256 << 10


class Readable(Protocol):
    """Anything with ``read(n)`` returning at most ``n`` bytes and b"" at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


@runtime_checkable
class ReadableInto(Protocol):
    """A stream that can fill a caller's buffer: ``readinto`` returns the count, 0 at the end."""

    def readinto(self, buffer: memoryview, /) -> int: ...


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


@dataclass(frozen=True)
class _Batch:
    """Chunks handed to the pool together: where they start, their lengths, the work."""

    offset: int
    lengths: tuple[int, ...]
    stored: Future[list[Chunk]]
    digested: Future[None]


class ObjectWriter:
    """Accepts an object's bytes in pieces of any size (``write``, ``write_from``) and stores
    them as chunks.

    ``finish`` returns the manifest; nothing is visible in the namespace until the caller
    commits it. ``abort`` (or an exception) leaves only unreferenced chunks for GC.
    ``digest_lane`` MUST run its tasks one at a time in the order they were submitted
    (a single-thread executor); ``size_hint`` is the body's expected size, if known; the
    chunker's blocks come from ``blocks`` and go back there at the end.
    Not thread-safe: one writer per upload.
    """

    def __init__(
        self,
        chunks: ChunkStore,
        executor: Executor,
        digest_lane: Executor,
        sizes: ChunkSizes,
        *,
        size_hint: int | None = None,
        blocks: BufferPool | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._chunks = chunks
        self._executor = executor
        self._digest_lane = digest_lane
        # One byte more than the hint: the read that finds the end of a body of exactly
        # the hinted size still has room, instead of leasing a second, full-size block.
        first_block = None if size_hint is None else size_hint + 1
        self._chunker = Chunker(sizes, first_block=first_block, pool=blocks)
        self._inline = size_hint is not None and size_hint <= INLINE_BODY
        self._max_in_flight = max_in_flight
        self._pending: deque[_Batch] = deque()
        self._pending_bytes = 0
        self._entries: list[ManifestEntry] = []
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0
        self._unflushed = 0
        self._flushes: list[Future[None]] = []
        self._closed = False

    def write(self, data: Bytes) -> int:
        """Add bytes to the object; return how many were taken (all of them)."""
        self._check_open()
        for cut in self._chunker.feed(data):
            self._submit(cut)
        return memoryview(data).nbytes

    def write_from(self, stream: Readable | ReadableInto) -> None:
        """Copy ``stream`` into the object until it ends (``read`` gives b"", ``readinto`` 0).

        A stream with ``readinto`` fills the chunker's blocks directly.
        """
        self._check_open()
        if not isinstance(stream, ReadableInto):
            while block := stream.read(READ_SIZE):
                self.write(block)
            return
        while count := stream.readinto(self._chunker.space()):
            self._submit(self._chunker.commit(count))

    def finish(self) -> WrittenBody:
        """Store the last chunks, wait for every store and make them durable.

        Returns the manifest, which may be committed as soon as this returns.
        """
        self._check_open()
        self._submit(self._chunker.finish())
        while self._pending:
            self._collect()
        for flush in self._flushes:
            flush.result()
        self._chunks.flush()
        self._closed = True
        self._chunker.close()
        return WrittenBody(tuple(self._entries), self._size, self._md5.digest())

    def abort(self) -> None:
        """Stop; wait for work in flight so no thread outlives the request or reads a
        block after it is gone."""
        self._closed = True
        while self._pending:
            batch = self._pending.popleft()
            for future in (batch.stored, batch.digested):
                future.cancel() or future.exception()
        for flush in self._flushes:
            flush.exception()
        self._chunker.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("write to a finished or aborted ObjectWriter")

    def _submit(self, cut: Cut) -> None:
        """Hand a cut's chunks to the pool as one batch and its bytes to the digest lane;
        wait while too much is in flight."""
        if not cut.lengths:
            return
        size = len(cut.data)
        while self._pending and self._pending_bytes + size > self._max_in_flight:
            self._collect()
        digested = self._run(self._digest_lane, self._md5.update, cut.data)
        stored = self._run(self._executor, self._chunks.store_many, cut.chunks())
        self._pending.append(_Batch(self._size, cut.lengths, stored, digested))
        self._size += size
        self._pending_bytes += size

    def _run(self, executor: Executor, task: Callable[..., _T], *args: object) -> Future[_T]:
        """``task(*args)`` on ``executor``, or done at once in this thread for a small body."""
        if not self._inline:
            return executor.submit(task, *args)
        future: Future[_T] = Future()
        try:
            future.set_result(task(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def _collect(self) -> None:
        """Wait for the oldest batch, record its entries and release its chunks."""
        batch = self._pending.popleft()
        # Both must be over before this raises: a failing upload is aborted, and no task
        # may still read the batch's chunks then.
        batch.digested.exception()
        stored = batch.stored.result()
        batch.digested.result()
        offset = batch.offset
        for length, chunk in zip(batch.lengths, stored, strict=True):
            self._entries.append(ManifestEntry(offset, length, chunk.id))
            offset += length
        self._chunker.release(len(batch.lengths))
        size = sum(batch.lengths)
        self._pending_bytes -= size
        self._unflushed += size
        if self._unflushed >= FLUSH_INTERVAL:
            self._unflushed = 0
            for flush in [f for f in self._flushes if f.done()]:
                flush.result()  # a failed background flush fails the upload now
                self._flushes.remove(flush)
            self._flushes.append(self._executor.submit(self._chunks.flush))
