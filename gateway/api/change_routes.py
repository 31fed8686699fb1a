"""``/v1/changes``: the change feed of the buckets the caller may read, with long polls.

``GET /v1/changes?cursor=&limit=&wait=&bucket=`` answers
``{"changes": [...], "cursor": ..., "has_more": ...}``: up to ``limit`` changes after
``cursor`` (from the feed's beginning without one) in commit order, and the cursor to
resume from. ``wait`` (0 to 60 seconds) waits for a change when there is none yet.
``GET /v1/changes/cursor`` answers ``{"cursor": ...}``, the feed's current end: a new
client lists what exists, then follows from there. Cursors are opaque strings that stay
valid across restarts and gateway processes; a malformed one is refused with 400.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from gateway.api.problem import ApiError
from gateway.api.router import (
    ApiRequest,
    ApiResponse,
    Route,
    json_response,
    timestamp,
)
from gateway.core.change_feed import ChangeFeed
from gateway.records import Change

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WAIT_SECONDS = 60.0
# A cursor is the base64url (unpadded) of this prefix and a feed id in decimal.
_CURSOR_PREFIX = "feed.v1."
_CURSOR_TEXT = re.compile(r"feed\.v1\.(0|[1-9][0-9]{0,18})")
# Feed ids are 64-bit signed integers in the database.
MAX_FEED_ID = 2**63 - 1
_NO_STORE = (("Cache-Control", "no-store"),)


def encode_cursor(feed_id: int) -> str:
    """The opaque cursor of the position right after feed id ``feed_id``."""
    raw = f"{_CURSOR_PREFIX}{feed_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int:
    """The feed id a cursor names; ApiError 400 for anything ``encode_cursor`` did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    found = _CURSOR_TEXT.fullmatch(text)
    if (
        found is None
        or int(found.group(1)) > MAX_FEED_ID
        or encode_cursor(int(found.group(1))) != cursor
    ):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API gave out")
    return int(found.group(1))


class ChangeRoutes:
    """The change-feed endpoints."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/changes", self.list_changes),
            Route("GET", "/v1/changes/cursor", self.latest_cursor),
        ]

    def list_changes(self, request: ApiRequest) -> ApiResponse:
        cursor = request.arg("cursor")
        after = 0 if cursor is None else decode_cursor(cursor)
        limit = request.int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        wait = _seconds(request.arg("wait"))
        page = self._feed.read(
            request.caller, after, limit, bucket_name=request.arg("bucket"), wait=wait
        )
        return json_response(
            200,
            {
                "changes": [_change(change) for change in page.changes],
                "cursor": encode_cursor(page.last_id),
                "has_more": page.has_more,
            },
            _NO_STORE,
        )

    def latest_cursor(self, request: ApiRequest) -> ApiResponse:
        return json_response(200, {"cursor": encode_cursor(self._feed.latest())}, _NO_STORE)


def _change(change: Change) -> dict[str, Any]:
    source = None
    if change.source_bucket is not None and change.source_key is not None:
        source = {"bucket": change.source_bucket, "name": change.source_key}
    return {
        "cursor": encode_cursor(change.id),
        "event": change.event,
        "bucket": change.bucket,
        "name": change.key,
        "file_id": change.version_id,
        "size": change.size,
        "etag": change.etag,
        "at": timestamp(change.at),
        "source": source,
    }


def _seconds(text: str | None) -> float:
    """``wait`` in seconds: 0 when absent; ApiError 400 unless a number from 0 to 60."""
    if text is None or text == "":
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise ApiError(400, "invalid_request", "wait must be a number of seconds from 0 to 60")
    return seconds
