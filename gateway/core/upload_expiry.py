"""Expiry of abandoned multipart uploads.

An upload nobody completes or aborts keeps its parts' chunks referenced forever. Once
it is older than the configured expiry it is aborted as AbortMultipartUpload would
(audited as ``ExpireMultipartUpload``): its parts' references are released, and GC
collects the chunks no one else references after the grace period.
``UploadExpiry`` runs the sweep periodically inside ``gateway serve``; ``gateway gc``
runs it once before collecting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from gateway.ports import MetadataStore
from gateway.records import Actor

log = logging.getLogger("gateway.maintenance")

BATCH = 100
# How often ``gateway serve`` looks for expired uploads.
SWEEP_INTERVAL_SECONDS = 3600.0
EXPIRY = Actor(user_id=None, protocol="maintenance")


def expire_uploads(metadata: MetadataStore, max_age_seconds: float) -> int:
    """Abort every upload started more than ``max_age_seconds`` ago; return how many."""
    cutoff = datetime.now(UTC) - timedelta(seconds=max_age_seconds)
    expired = 0
    while True:
        batch = metadata.expired_uploads(cutoff, BATCH)
        expired += sum(metadata.expire_upload(u.upload_id, cutoff, EXPIRY) for u in batch)
        if len(batch) < BATCH:
            return expired


class UploadExpiry:
    """A daemon thread expiring abandoned uploads every ``interval`` seconds until stopped."""

    def __init__(
        self,
        metadata: MetadataStore,
        max_age_seconds: float | None,
        interval: float = SWEEP_INTERVAL_SECONDS,
        *,
        also: Sequence[Callable[[], int]] = (),
    ) -> None:
        """``max_age_seconds`` None leaves multipart uploads alone; ``also`` are further
        sweeps run with each pass (native-API uploads' expiry), each returning how many
        things it expired."""
        self._also = tuple(also)
        self._metadata = metadata
        self._max_age = max_age_seconds
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upload-expiry", daemon=True)

    def start(self) -> None:
        """Start sweeping: once now, then every interval."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the sweep in progress, if any."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._max_age is not None:
                self._sweep_multipart(self._max_age)
            for sweep in self._also:
                try:
                    done = sweep()
                except Exception:
                    log.exception("expiring abandoned uploads failed")
                else:
                    if done:
                        log.info("expired %d abandoned native-API uploads", done)
            self._stopping.wait(self._interval)

    def _sweep_multipart(self, max_age: float) -> None:
        try:
            expired = expire_uploads(self._metadata, max_age)
        except Exception:
            # A database hiccup must not end the loop; the next sweep retries.
            log.exception("expiring abandoned multipart uploads failed")
        else:
            if expired:
                log.info("expired %d abandoned multipart uploads", expired)
