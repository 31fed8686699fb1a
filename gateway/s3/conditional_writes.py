"""Conditional writes: ``If-None-Match: *`` and ``If-Match: "etag"`` on PUT and Complete."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.records import WriteCondition
from gateway.s3.errors import NotImplemented_


def write_condition(headers: Mapping[str, str]) -> WriteCondition | None:
    """The condition a PutObject or CompleteMultipartUpload sets, None for none.

    S3 accepts only ``*`` in If-None-Match on writes (NotImplemented otherwise).
    """
    none_match, match = headers.get("if-none-match"), headers.get("if-match")
    if none_match is None and match is None:
        return None
    if none_match is not None and none_match.strip() != "*":
        raise NotImplemented_("If-None-Match on a write supports only '*'.")
    etag = None if match is None else match.strip().removeprefix("W/").strip('"')
    return WriteCondition(absent=none_match is not None, etag=etag)
