"""The HTTP Range header (RFC 9110, section 14), as S3 applies it to GetObject."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class UnsatisfiableRange(Exception):
    """The range is well-formed but selects no byte of the object."""


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``[start, end)`` of an object of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """Number of bytes selected."""
        return self.end - self.start

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` header value of a 206 response."""
        return f"bytes {self.start}-{self.end - 1}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range ``header`` selects from an object of ``size`` bytes.

    None means "send the whole object": no header, a header that is not a single
    well-formed byte range (RFC 9110 lets servers ignore those), or several ranges,
    which S3 does not serve. Raises UnsatisfiableRange when the range is valid but
    starts past the end (or asks for the last 0 bytes, or the object is empty).
    """
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange(header)
        return ByteRange(max(size - suffix, 0), size, size)
    start = int(first)
    end = size if not last else int(last) + 1
    if last and end <= start:
        return None
    if start >= size:
        raise UnsatisfiableRange(header)
    return ByteRange(start, min(end, size), size)
