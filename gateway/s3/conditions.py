"""Conditional requests (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since).

Evaluated from metadata alone, in the order RFC 9110 section 13.2.2 gives: a
present If-Match makes If-Unmodified-Since irrelevant, a present If-None-Match makes
If-Modified-Since irrelevant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import Enum


class Outcome(Enum):
    """What the preconditions decide."""

    PROCEED = "proceed"
    NOT_MODIFIED = "not-modified"
    PRECONDITION_FAILED = "precondition-failed"


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip() for t in header.split(",")]
    return any(t == "*" or t.removeprefix("W/").strip('"') == etag for t in tags)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None  # An invalid date is ignored, as RFC 9110 requires.


def evaluate(
    headers: Mapping[str, str],
    etag: str,
    last_modified: datetime,
    *,
    prefix: str = "if-",
    safe_method: bool = True,
) -> Outcome:
    """Decide the preconditions in ``headers`` for an object with ``etag`` (unquoted).

    ``prefix`` selects the header family: ``if-`` for GET/HEAD, ``x-amz-copy-source-if-``
    for a copy's source. For unsafe methods a failed If-None-Match is 412, not 304.
    """
    modified = last_modified.replace(microsecond=0)
    if_match = headers.get(prefix + "match")
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            return Outcome.PRECONDITION_FAILED
    else:
        since = _date(headers.get(prefix + "unmodified-since"))
        if since is not None and modified > since:
            return Outcome.PRECONDITION_FAILED
    if_none_match = headers.get(prefix + "none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            return Outcome.NOT_MODIFIED if safe_method else Outcome.PRECONDITION_FAILED
    else:
        since = _date(headers.get(prefix + "modified-since"))
        if since is not None and modified <= since:
            return Outcome.NOT_MODIFIED if safe_method else Outcome.PRECONDITION_FAILED
    return Outcome.PROCEED
