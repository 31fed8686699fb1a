"""The change feed as a user may read it: pages in commit order, and long polls.

A reader names where it stopped by the last feed id it examined (``ChangePage.last_id``)
and gets the next changes of the buckets it may read now (owner or grant), optionally of
one bucket. Rows of other buckets, and removals of versions that were not current, are
skipped but still advance ``last_id``. See ``change_events`` for the events and
``change_signal`` for how a long poll waits.
"""

from __future__ import annotations

import time
from dataclasses import replace

from gateway.core.bucket_access import Access
from gateway.core.change_events import shown_event
from gateway.core.change_signal import ChangeSignal
from gateway.core.storage import Storage
from gateway.records import Bucket, ChangePage, User

# How often one thread per process reads the feed's last id while readers wait.
POLL_INTERVAL = 0.5


class ChangeFeed:
    """Reads of the change feed for users. Thread-safe."""

    def __init__(self, storage: Storage, *, max_waiters: int) -> None:
        self._storage = storage
        self._metadata = storage.metadata
        self._signal = ChangeSignal(
            self._metadata.last_change_id, poll_interval=POLL_INTERVAL, max_waiters=max_waiters
        )
        self._metadata.add_change_listener(self._signal.notify)

    def close(self) -> None:
        """Stop the poller; waiting readers answer at once."""
        self._signal.close()

    def latest(self) -> int:
        """The feed's current end: a reader starting here sees only later changes."""
        return self._metadata.last_change_id()

    def read(
        self,
        user: User,
        after_id: int,
        limit: int,
        *,
        bucket_name: str | None = None,
        wait: float = 0.0,
    ) -> ChangePage:
        """Up to ``limit`` changes after ``after_id`` that ``user`` may see, in id order.

        With ``bucket_name`` only that bucket's (which ``user`` must be able to read:
        BucketNotFoundError, AccessDeniedError). When there is none and ``wait`` > 0, waits
        up to ``wait`` seconds for one and answers as soon as it commits; an empty page
        after the wait (or at once, when too many readers wait already).
        """
        bucket = (
            None if bucket_name is None else self._storage.bucket(user, bucket_name, Access.READ)
        )
        deadline = time.monotonic() + wait
        generation = self._signal.generation()
        page = self._page(user, after_id, limit, bucket)
        if page.changes or wait <= 0:
            return page
        with self._signal.slot() as admitted:
            while admitted:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._signal.wait(generation, page.last_id, remaining):
                    break
                generation = self._signal.generation()
                page = self._page(user, page.last_id, limit, bucket)
                if page.changes:
                    break
        return page

    def _page(self, user: User, after_id: int, limit: int, bucket: Bucket | None) -> ChangePage:
        """The next page with something to show, or the last (empty) one."""
        while True:
            page = self._metadata.changes(after_id, limit, reader_id=user.id, bucket=bucket)
            shown = tuple(
                replace(change, event=event)
                for change in page.changes
                if (event := shown_event(change.event)) is not None
            )
            if shown or not page.has_more:
                return replace(page, changes=shown)
            after_id = page.last_id
