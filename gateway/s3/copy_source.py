"""The source of a copy (CopyObject, UploadPartCopy): ``x-amz-copy-source``, its
version, its ``x-amz-copy-source-if-*`` preconditions and its byte range."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

from gateway.errors import DeleteMarkerError
from gateway.records import StoredObject
from gateway.s3.call import Call
from gateway.s3.conditions import Outcome, evaluate
from gateway.s3.errors import InvalidArgument, InvalidRange, InvalidRequest, PreconditionFailed
from gateway.s3.versioning import requested_version

RANGE_HEADER = "x-amz-copy-source-range"
_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$", re.ASCII)
RANGE_FORM = (
    "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
    "and last are the zero-based offsets of the first and last bytes to copy"
)


def copy_source(call: Call) -> tuple[str, str, str | None]:
    """The source bucket, key and version id (None: the current version) of a copy."""
    raw = call.request.header("x-amz-copy-source", "") or ""
    location, _, query = raw.partition("?")
    path = unquote(location).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )
    return bucket, key, requested_version(dict(parse_qsl(query, keep_blank_values=True)))


def copy_source_version(call: Call, bucket: str, key: str, version_id: str | None) -> StoredObject:
    """The version a copy reads, if the caller may read it; a delete marker named by id
    is an invalid source."""
    if version_id is None:
        return call.storage.head_object(call.user, bucket, key)
    try:
        return call.storage.version(call.user, bucket, key, version_id)
    except DeleteMarkerError as exc:
        raise InvalidRequest(
            "The source of a copy request may not specifically refer to a delete marker "
            "by version id."
        ) from exc


def check_copy_source_conditions(call: Call, source: StoredObject) -> None:
    """PreconditionFailed unless every ``x-amz-copy-source-if-*`` header holds for ``source``."""
    outcome = evaluate(
        call.request.headers,
        source.etag,
        source.last_modified,
        prefix="x-amz-copy-source-if-",
        safe_method=False,
    )
    if outcome is not Outcome.PROCEED:
        raise PreconditionFailed(Condition="x-amz-copy-source-If")


def copy_source_range(header: str | None, size: int) -> tuple[int, int]:
    """Bytes ``[start, end)`` of a source of ``size`` bytes that ``header`` selects.

    No header selects the whole source. InvalidArgument unless the header reads
    ``bytes=first-last`` with ``first <= last``; InvalidRange when ``last`` is past the end.
    """
    if header is None:
        return 0, size
    match = _RANGE.match(header.strip())
    if match is None or int(match.group(1)) > int(match.group(2)):
        raise InvalidArgument(RANGE_FORM, ArgumentName=RANGE_HEADER, ArgumentValue=header)
    first, last = int(match.group(1)), int(match.group(2))
    if last >= size:
        raise InvalidRange(ActualObjectSize=str(size), RangeRequested=header)
    return first, last + 1
