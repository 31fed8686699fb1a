"""Pipeline wiring: the job queue and the handler registry from the settings, and the
``gateway worker`` process.

``job_handlers`` is the one registry of job kinds: a new stage adds its handler there, and
both the workers inside ``gateway serve`` and ``gateway worker`` processes run it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.scan import NoScanner, open_scanner
from adapters.sql.jobs import SqlJobQueue
from adapters.sql.metadata import SqlMetadata
from gateway.core.files import INGEST_JOB
from gateway.core.pipeline.ingest import IngestStage
from gateway.core.pipeline.probe import PROBE, run_probe
from gateway.core.pipeline.scan import ScanStage
from gateway.core.pipeline.worker import Handler, Worker
from gateway.core.scanning import SCAN_JOB
from gateway.core.storage import Storage
from gateway.native_files import file_store
from gateway.ports import PipelineMetrics, Scanner
from gateway.settings import Settings
from gateway.stop_signal import wait_for_stop_signal

# How long a stopping worker lets its jobs in progress finish before abandoning them.
STOP_TIMEOUT_SECONDS = 30.0


def open_job_queue(settings: Settings, storage: Storage) -> SqlJobQueue:
    """The job queue in the storage's metadata database, with the configured back-off."""
    metadata = storage.metadata
    if not isinstance(metadata, SqlMetadata):
        raise TypeError("the job queue needs the SQL metadata store")
    return SqlJobQueue(
        metadata.engine,
        retry_base_seconds=settings.job_retry_base_seconds,
        retry_cap_seconds=settings.job_retry_cap_seconds,
    )


def scanner_from_settings(settings: Settings) -> Scanner:
    """The malware scanner ``scanner_url`` names, sent objects up to ``scan_max_bytes``.

    Raises ValueError when the URL is malformed; clamd is not contacted.
    """
    return open_scanner(settings.scanner_url, max_bytes=settings.scan_max_bytes)


def scanning_enabled(settings: Settings) -> bool:
    """Whether a scanner is configured: new versions are then queued for the scan."""
    return settings.scanner_url.strip().lower() != "none"


def job_handlers(
    settings: Settings,
    storage: Storage,
    metrics: PipelineMetrics | None = None,
    scanner: Scanner | None = None,
) -> dict[str, Handler]:
    """Every job kind this gateway runs, with its handler.

    ``scan`` is always registered, so that jobs queued while scanning was on are not
    stranded once it is turned off: with no scanner configured they fail and retry
    until it is back (``gateway jobs`` shows them).
    """
    chosen = scanner if scanner is not None else scanner_from_settings(settings)
    scan: Handler = _no_scanner
    if not isinstance(chosen, NoScanner):
        scan = ScanStage(storage, chosen, settings.scan_oversize_policy, metrics)
    return {
        PROBE: run_probe,
        SCAN_JOB: scan,
        INGEST_JOB: IngestStage(storage, file_store(storage)),
    }


def _no_scanner(_payload: Mapping[str, Any]) -> None:
    raise RuntimeError("no scanner is configured (GATEWAY_SCANNER_URL=none)")


def start_worker(
    settings: Settings,
    storage: Storage,
    *,
    threads: int | None = None,
    kinds: Sequence[str] | None = None,
    metrics: PipelineMetrics | None = None,
) -> Worker:
    """Start a worker on ``threads`` threads (default: the setting) for ``kinds`` (all);
    the worker and the pipeline stages report to ``metrics``."""
    worker = Worker(
        open_job_queue(settings, storage),
        job_handlers(settings, storage, metrics),
        threads=settings.worker_threads if threads is None else threads,
        kinds=kinds,
        lease_seconds=settings.job_lease_seconds,
        poll_seconds=settings.job_poll_seconds,
        retention_seconds=settings.job_retention_seconds or None,
        metrics=metrics,
    )
    worker.start()
    return worker


def run_worker_forever(
    settings: Settings, storage: Storage, threads: int, kinds: Sequence[str] | None
) -> None:
    """Run jobs until SIGINT or SIGTERM; then finish the jobs in progress and return.

    Jobs still running STOP_TIMEOUT_SECONDS after the signal are abandoned to lease
    expiry: another worker runs them again once their lease ran out.
    """
    worker = start_worker(settings, storage, threads=threads, kinds=kinds)
    wait_for_stop_signal("stopping the worker")
    worker.stop(timeout=STOP_TIMEOUT_SECONDS)
