"""GetObject and HeadObject with ``partNumber``: the bytes of one part of an object.

A multipart object's part N is found by its part number in the list the upload was
completed with; the answer is 206 with its Content-Range and ``x-amz-mp-parts-count``.
Any other object has one part, the whole object (206 too, without a parts count).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.records import StoredObject
from gateway.s3.errors import InvalidArgument, InvalidPartNumber, InvalidRequest
from gateway.s3.ranges import ByteRange

PART_NUMBER = "partNumber"
MAX_PART_NUMBER = 10_000
PARTS_COUNT_HEADER = "x-amz-mp-parts-count"


def _number(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName=PART_NUMBER,
            ArgumentValue=raw,
        )
    return int(raw)


def part_range(
    query: Mapping[str, str], range_header: str | None, obj: StoredObject
) -> tuple[ByteRange | None, dict[str, str]]:
    """The bytes ``partNumber`` selects (None: the whole, empty object) and the headers
    that say so.

    InvalidArgument for a number outside 1..10000, InvalidRequest alongside a Range
    header, InvalidPartNumber (416) for a part the object does not have.
    """
    number = _number(query.get(PART_NUMBER, ""))
    if range_header is not None:
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    if not obj.parts:
        if number != 1:
            raise InvalidPartNumber(PartNumberRequested=str(number), ActualPartCount="1")
        return (ByteRange(0, obj.size, obj.size) if obj.size else None), {}
    start = 0
    for part in obj.parts:
        if part.number == number:
            headers = {PARTS_COUNT_HEADER: str(len(obj.parts))}
            return ByteRange(start, start + part.size, obj.size), headers
        start += part.size
    raise InvalidPartNumber(PartNumberRequested=str(number), ActualPartCount=str(len(obj.parts)))
