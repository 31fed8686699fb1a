"""The ``scan`` job kind: the malware scan of one new object version.

Every commit of a non-empty version, while scanning is on, adds a ``scan`` job in its
own transaction (the outbox), so a committed version always gets scanned. The handler
streams the version's plain bytes to the scanner and records the verdict:

- clean: the version is served (a strict bucket starts serving it now);
- infected: quarantined, with the signature, a change-feed row and an audit row;
- unscannable: quarantined or served marked, by the oversize policy;
- error (the scanner is down, timed out, ...): the handler raises, so the job is
  retried with back-off; the version stays ``pending`` meanwhile, nothing is lost.

The job may run more than once (at least once): a version that already has a verdict,
or that was deleted meanwhile, completes the job with nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gateway.core.scanning import (
    SCAN_CLEAN,
    SCAN_INFECTED,
    SCAN_PENDING,
    SCAN_UNSCANNABLE,
    OversizePolicy,
    ScanAction,
    scan_action,
    scan_object,
)
from gateway.core.storage import Storage
from gateway.ports import NoPipelineMetrics, PipelineMetrics, Scanner
from gateway.records import Actor, VerdictKind

log = logging.getLogger("gateway")

SCANNER = Actor(user_id=None, protocol="scanner")


class ScanUnavailableError(Exception):
    """The scanner gave no verdict this time; the job is retried later."""


class ScanStage:
    """The ``scan`` job handler over ``storage`` and ``scanner``."""

    def __init__(
        self,
        storage: Storage,
        scanner: Scanner,
        policy: OversizePolicy,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        self._storage = storage
        self._scanner = scanner
        self._policy = policy
        self._metrics = metrics or NoPipelineMetrics()

    def __call__(self, payload: Mapping[str, Any]) -> None:
        """Scan the version ``payload["version_id"]`` and record its verdict."""
        version_id = str(payload["version_id"])
        metadata = self._storage.metadata
        found = metadata.scan_target(version_id)
        if found is None:
            log.info("scan of version %s: gone meanwhile, nothing to do", version_id)
            return
        bucket_name, obj = found
        if obj.scan_status != SCAN_PENDING:
            return
        verdict = scan_object(self._scanner, obj.size, lambda: self._storage.scan_bytes(obj))
        self._metrics.scan_verdict(verdict.kind.value)
        action = scan_action(verdict, self._policy)
        if action is ScanAction.RETRY:
            raise ScanUnavailableError(f"no verdict: {verdict.reason}")
        if verdict.kind is VerdictKind.INFECTED:
            status, detail = SCAN_INFECTED, verdict.signature
        elif verdict.kind is VerdictKind.UNSCANNABLE:
            status, detail = SCAN_UNSCANNABLE, verdict.reason
        else:
            status, detail = SCAN_CLEAN, None
        quarantined = action is ScanAction.QUARANTINE
        if (
            metadata.record_verdict(
                version_id, status, detail, quarantined=quarantined, actor=SCANNER
            )
            and quarantined
        ):
            log.warning(
                "quarantined %s/%s (version %s): %s %s",
                bucket_name,
                obj.key,
                version_id,
                status,
                detail,
            )
