"""Content-defined chunking (FastCDC) fed by pushes of any size.

The chunk boundaries depend only on the bytes, never on how they arrived: feeding
a body in any split of writes yields exactly the chunks that cutting the whole body
at once would. That is what makes deduplication work across clients and protocols.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfastcdc import FastCDC


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

    Call ``feed`` with each piece and ``finish`` at the end; both return the chunks
    that became final. Memory stays below about twice the maximum chunk size plus one
    piece, whatever the stream's length. Not thread-safe.
    """

    def __init__(self, sizes: ChunkSizes) -> None:
        self._sizes = sizes
        self._cdc = FastCDC(sizes.normal, min_size=sizes.minimum, max_size=sizes.maximum)
        self._buffer = bytearray()
        # Cutting is deferred until enough bytes are buffered for several chunks,
        # so each pass over the buffer amortises its copy.
        self._threshold = 2 * sizes.maximum

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add bytes; return the chunks whose boundaries are now certain."""
        self._buffer += data
        if len(self._buffer) < self._threshold:
            return []
        return self._cut(final=False)

    def finish(self) -> list[bytes]:
        """Return every remaining chunk. The chunker is empty (reusable) afterwards."""
        return self._cut(final=True)

    def _cut(self, *, final: bool) -> list[bytes]:
        end = len(self._buffer)
        with memoryview(self._buffer) as view:
            chunks = [bytes(view[start:stop]) for start, stop in self._boundaries(final)]
        if chunks:
            del self._buffer[: end if final else sum(len(c) for c in chunks)]
        return chunks

    def _boundaries(self, final: bool) -> list[tuple[int, int]]:
        """Cut points in the buffer. FastCDC's chunks hold views of the buffer, so they
        must all be gone (as they are when this returns) before the buffer is resized."""
        end = len(self._buffer)
        found: list[tuple[int, int]] = []
        for chunk in self._cdc.cut_buf(self._buffer):
            # A cut point is certain only when the chunker saw a full maximum-size
            # window after the chunk's start; otherwise more bytes could move it.
            if not final and chunk.offset + self._sizes.maximum > end:
                break
            found.append((chunk.offset, chunk.offset + chunk.length))
        return found
