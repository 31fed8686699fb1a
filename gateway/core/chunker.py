"""Content-defined chunking (FastCDC) of a stream, without copying the stream.

The chunk boundaries depend only on the bytes, never on how they arrived: pushing
a body in any split yields exactly the chunks that cutting the whole body at once
would. That is what makes deduplication work across clients and protocols.

The stream is written straight into blocks the chunker owns (``space`` then
``commit``, so a socket can receive into them; ``feed`` copies bytes already in
memory), and chunks are handed out as read-only views of those blocks. A block is
written again only after every chunk cut from it was released, so the caller may
hash, compress and store chunks on other threads while more of the stream arrives,
and a long stream reuses a few blocks instead of allocating fresh memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pyfastcdc import FastCDC

from gateway.core.buffer_pool import BufferPool, Lease

# Blocks are at least this large, so the tail carried into the next block (the last,
# unfinished chunk) is a small share of what a block holds.
BLOCK_SIZE = 8 << 20

Bytes = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Cut:
    """Chunks that became final together: back to back in the stream and in one block."""

    data: memoryview  # read-only, every chunk of the cut in order
    lengths: tuple[int, ...]

    def chunks(self) -> list[memoryview]:
        """A read-only view of each chunk."""
        views, start = [], 0
        for length in self.lengths:
            views.append(self.data[start : start + length])
            start += length
        return views


NO_CUT = Cut(memoryview(b""), ())


@dataclass(frozen=True)
class ChunkSizes:
    """Minimum, normal and maximum chunk sizes derived from the wanted average."""

    minimum: int
    normal: int
    maximum: int

    @classmethod
    def around(cls, average: int) -> ChunkSizes:
        """Sizes whose resulting average is close to ``average`` bytes.

        FastCDC skips ``minimum`` bytes before looking for a cut point, so its real
        average is about ``normal + minimum``.
        """
        minimum = average // 4
        return cls(minimum=minimum, normal=average - minimum, maximum=average * 4)


class Chunker:
    """Cut a stream pushed in pieces into content-defined chunks.

    Push bytes with ``space``/``commit`` or ``feed`` and end with ``finish``; each returns
    the chunks that became final (a ``Cut``, ``NO_CUT`` when none), in stream order, as
    read-only memoryviews. The caller MUST call ``release`` with the number of chunks
    (oldest first) it no longer uses: their memory is then reused, so a view MUST NOT be
    read after its release. Memory
    stays at a few blocks of ``block_size`` (at least twice the maximum chunk size) plus
    the blocks of chunks not yet released. Not thread-safe.

    Blocks are leased from ``pool`` (a private, keep-nothing one by default) and given
    back by ``close``; ``first_block`` sizes the first block (when the stream's length is
    known and small, a small block saves touching a large one).
    """

    def __init__(
        self,
        sizes: ChunkSizes,
        *,
        block_size: int = BLOCK_SIZE,
        first_block: int | None = None,
        pool: BufferPool | None = None,
    ) -> None:
        self._sizes = sizes
        self._cdc = FastCDC(sizes.normal, min_size=sizes.minimum, max_size=sizes.maximum)
        self._block_size = max(block_size, 2 * sizes.maximum)
        self._pool = BufferPool(idle_bytes=0) if pool is None else pool
        first = self._block_size if first_block is None else min(first_block, self._block_size)
        self._block = self._pool.lease(max(first, 1))
        self._view = self._block.view
        self._filled = 0  # bytes of the stream in the block
        self._start = 0  # where the bytes not yet cut into chunks start in the block
        self._handed = 0  # chunks handed out
        self._released = 0
        # Blocks written full, each with the number of chunks handed out when it was
        # left: once that many are released, nothing refers to the block any more.
        self._retired: deque[tuple[int, Lease]] = deque()
        self._free: list[Lease] = []

    def space(self) -> memoryview:
        """A writable, non-empty view where the stream's next bytes go; ``commit`` them."""
        if self._filled == len(self._view):
            self._next_block()
        return self._view[self._filled :]

    def commit(self, count: int) -> Cut:
        """Take the first ``count`` bytes written into ``space``; return the chunks now final.

        Cutting waits until the block is full, so each pass of the chunker yields a block's
        worth of chunks at once (their consumer then handles them as one batch).
        """
        self._filled += count
        if self._filled < len(self._view):
            return NO_CUT
        return self._cut(final=False)

    def feed(self, data: Bytes) -> list[Cut]:
        """Copy ``data`` into the stream; return the cuts now final (one per block filled)."""
        cuts: list[Cut] = []
        with memoryview(data) as source:
            rest = source.cast("B")
            while rest:
                space = self.space()
                count = min(len(space), len(rest))
                space[:count] = rest[:count]
                rest = rest[count:]
                cut = self.commit(count)
                if cut.lengths:
                    cuts.append(cut)
        return cuts

    def finish(self) -> Cut:
        """Return every remaining chunk: the stream has ended."""
        return self._cut(final=True)

    def release(self, count: int) -> None:
        """The ``count`` oldest chunks not yet released are no longer read."""
        self._released += count
        while self._retired and self._retired[0][0] <= self._released:
            _, block = self._retired.popleft()
            if len(block.view) == self._block_size:
                self._free.append(block)
            else:
                block.release()

    def close(self) -> None:
        """Give the blocks back to the pool: the stream is over and every chunk released.

        The pool takes back only blocks nobody holds a view of any more.
        """
        for block in (self._block, *self._free, *(block for _, block in self._retired)):
            block.release()
        self._free.clear()
        self._retired.clear()

    def _next_block(self) -> None:
        """Continue in a free (or new) block, carrying over the bytes not yet cut."""
        tail = self._view[self._start : self._filled]
        block = self._free.pop() if self._free else self._pool.lease(self._block_size)
        block.view[: len(tail)] = tail
        self._retired.append((self._handed, self._block))
        self._block, self._view = block, block.view
        self._start, self._filled = 0, len(tail)

    def _cut(self, *, final: bool) -> Cut:
        """Hand out the chunks of the pending bytes whose boundaries are certain.

        FastCDC decides a cut from the bytes since the chunk's start alone, and it takes
        the same decision at every position whatever follows. So a cut it finds before
        the end of the pending bytes is final, and so is a chunk of maximum size; only
        the last chunk, cut because the bytes ran out, may still grow.
        """
        pending = self._view[self._start : self._filled]
        end = len(pending)
        lengths: list[int] = []
        for chunk in self._cdc.cut_buf(pending):
            stop = chunk.offset + chunk.length
            if not final and stop == end and chunk.length < self._sizes.maximum:
                break
            lengths.append(chunk.length)
        size = sum(lengths)
        self._start += size
        self._handed += len(lengths)
        return Cut(pending[:size].toreadonly(), tuple(lengths))
