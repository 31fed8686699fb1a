"""UploadPartCopy: a part made of a byte range of a stored object, sharing its chunks.

The source's chunks lying wholly inside the range are reused as they are: the new
part's manifest names them (their reference counts go up at the commit), none is read
to be stored again. Only the bytes of the partial chunks at the two edges of the range
are written anew, through the normal writer (so they are chunked, deduplicated and
compressed like any upload).

The part's ETag is the MD5 of its bytes, as S3 answers, and a part of an upload with
a checksum algorithm needs that checksum of its bytes. When the range is a whole source
whose ETag is a plain MD5 (and whose full-object checksum is in the upload's algorithm,
if the upload has one), both are taken from the source and nothing is read. Otherwise
the range is read once to hash it; the edge bytes are taken from that same read.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.core.checksums import FULL_OBJECT
from gateway.core.writer import ObjectWriter
from gateway.records import Checksum, ManifestEntry, StoredObject


class RunningDigest(Protocol):
    """A hash fed in pieces: ``hashlib`` objects, and the S3 front end's running CRCs."""

    def update(self, data: bytes | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


# Makes the running digest of an additional checksum algorithm ("crc32", "sha256", ...).
DigestFactory = Callable[[str], RunningDigest]
# Yields the plain bytes [start, end) of the source.
RangeRead = Callable[[int, int], Iterator[memoryview]]


@dataclass(frozen=True)
class CopiedRange:
    """A copied range as a part: manifest entries relative to the range's start, the
    MD5 of its bytes (hex) and its checksum in the upload's algorithm (or None)."""

    entries: tuple[ManifestEntry, ...]
    md5_hex: str
    checksum: Checksum | None


def _reused_digests(
    source: StoredObject, start: int, end: int, algorithm: str | None
) -> tuple[str, Checksum | None] | None:
    """The part's MD5 and checksum when the source's own serve, else None."""
    if (start, end) != (0, source.size) or "-" in source.etag:
        return None
    if algorithm is None:
        return source.etag, None
    checksum = source.checksum
    if checksum is None or checksum.algorithm != algorithm or checksum.type != FULL_OBJECT:
        return None
    return source.etag, Checksum(algorithm, checksum.value)


class _Edge:
    """The bytes ``[start, end)`` of the source that are written anew (maybe none)."""

    def __init__(self, start: int, end: int, new_writer: Callable[[int], ObjectWriter]) -> None:
        self.start, self.end = start, end
        self.writer = new_writer(end - start) if end > start else None

    def take(self, view: memoryview, position: int) -> None:
        """Write what of ``view`` (source bytes from ``position`` on) lies in the edge."""
        low, high = max(self.start, position), min(self.end, position + len(view))
        if self.writer is not None and low < high:
            self.writer.write(view[low - position : high - position])

    def entries(self, shift: int) -> list[ManifestEntry]:
        """The written entries, placed ``shift`` bytes into the part."""
        if self.writer is None:
            return []
        written = self.writer.finish()
        return [ManifestEntry(e.offset + shift, e.length, e.chunk_id) for e in written.entries]

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def copy_range(
    source: StoredObject,
    start: int,
    end: int,
    overlapping: Sequence[ManifestEntry],
    *,
    read: RangeRead,
    new_writer: Callable[[int], ObjectWriter],
    algorithm: str | None,
    new_digest: DigestFactory,
) -> CopiedRange:
    """Make the part holding bytes ``[start, end)`` of ``source``.

    ``overlapping`` are the source manifest's entries overlapping the range, in order;
    ``algorithm`` the upload's checksum algorithm. Nothing is committed: the caller
    stores the returned entries as the part.
    """
    inner = [e for e in overlapping if e.offset >= start and e.offset + e.length <= end]
    middle_start = inner[0].offset if inner else end
    middle_end = inner[-1].offset + inner[-1].length if inner else end
    reused = [ManifestEntry(e.offset - start, e.length, e.chunk_id) for e in inner]
    known = _reused_digests(source, start, end, algorithm)
    if known is not None:  # a whole source: every entry is inner, there are no edges
        return CopiedRange(tuple(reused), known[0], known[1])
    head = _Edge(start, middle_start, new_writer)
    tail = _Edge(middle_end, end, new_writer)
    try:
        md5 = hashlib.md5(usedforsecurity=False)
        checksum = new_digest(algorithm) if algorithm else None
        position = start
        for view in read(start, end):
            md5.update(view)
            if checksum is not None:
                checksum.update(view)
            head.take(view, position)
            tail.take(view, position)
            position += len(view)
        entries = [*head.entries(0), *reused, *tail.entries(middle_end - start)]
    except BaseException:
        head.abort()
        tail.abort()
        raise
    value = (
        Checksum(algorithm, base64.b64encode(checksum.digest()).decode("ascii"))
        if algorithm and checksum is not None
        else None
    )
    return CopiedRange(tuple(entries), md5.hexdigest(), value)
