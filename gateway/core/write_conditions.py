"""Conditional writes: whether a PUT or a multipart completion may replace a key."""

from __future__ import annotations

from gateway.errors import ObjectNotFoundError, PreconditionFailedError
from gateway.records import WriteCondition


def enforce(condition: WriteCondition | None, current_etag: str | None) -> None:
    """Raise unless ``condition`` holds for a key whose current ETag is ``current_etag``.

    ``current_etag`` is None when the key has no current version (or a delete marker).
    Raises PreconditionFailedError naming the failed header, or ObjectNotFoundError when
    an ETag is required of a key that has none (S3 answers 404 NoSuchKey then).
    """
    if condition is None:
        return
    if condition.absent and current_etag is not None:
        raise PreconditionFailedError("If-None-Match")
    if condition.etag is not None:
        if current_etag is None:
            raise ObjectNotFoundError("the key has no current version")
        if current_etag != condition.etag:
            raise PreconditionFailedError("If-Match")
