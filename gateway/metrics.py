"""The gateway's Prometheus metrics: one registry per process and the API that feeds it.

``Metrics`` holds, in its own registry (never ``prometheus_client``'s global one):

- the request counters of both listeners (``gateway.request_metrics``), fed by wrapping
  each listener's application with ``instrument``;
- storage totals (objects, logical, unique and stored bytes, chunks) from a function such
  as ``MetadataStore.stats``, registered with ``watch_storage``; the query runs when
  scraped, at most once every ``max_age`` seconds;
- the pipeline's reports: ``scan_verdict`` and ``job_finished`` (``Metrics`` is a
  ``gateway.ports.PipelineMetrics``), and the queue levels from a function registered
  with ``watch_queue``;
- the process's CPU, memory and file descriptors, and ``gateway_build_info``.

``render`` produces the exposition for ``GET /metrics``. Every metric is documented in
``docs/observability.md``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import __version__
from gateway.records import StorageStats
from gateway.request_metrics import Environ, RequestMetrics, WsgiApp

log = logging.getLogger("gateway.metrics")

_T = TypeVar("_T")

STORAGE_STATS_MAX_AGE = 10.0
"""Seconds a storage totals query is reused: the totals sum whole tables."""
QUEUE_MAX_AGE = 2.0
"""Seconds a queue levels answer is reused."""
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
"""Upper bounds (seconds) of the job run and wait histograms; +Inf is added."""


@dataclass(frozen=True)
class QueueLevel:
    """How far behind the workers are on one kind of job.

    ``pending`` counts jobs waiting to be claimed; ``oldest_age_seconds`` is how long the
    oldest of them has been due (0 when none is).
    """

    pending: int
    oldest_age_seconds: float = 0.0


class _Snapshot(Generic[_T]):
    """The answer of ``source``, asked again only when older than ``max_age`` seconds.

    Concurrent callers wait for one query rather than each running their own. A failed
    query is logged and remembered as None for ``max_age`` too, so a failing database is
    not asked at every scrape.
    """

    def __init__(self, what: str, source: Callable[[], _T], max_age: float) -> None:
        self._what = what
        self._source = source
        self._max_age = max_age
        self._lock = threading.Lock()
        self._value: _T | None = None
        self._at: float | None = None

    def get(self) -> _T | None:
        with self._lock:
            now = time.monotonic()
            if self._at is not None and now - self._at < self._max_age:
                return self._value
            try:
                self._value = self._source()
            except Exception:
                log.warning("metrics: reading the %s failed", self._what, exc_info=True)
                self._value = None
            self._at = now
            return self._value


class _StorageCollector(Collector):
    """Storage totals, as gauges, from a cached ``StorageStats``."""

    def __init__(self, stats: Callable[[], StorageStats], max_age: float) -> None:
        self._snapshot = _Snapshot("storage totals", stats, max_age)

    def collect(self) -> Iterator[Metric]:
        stats = self._snapshot.get()
        yield GaugeMetricFamily(
            "gateway_storage_stats_success",
            "1 when the storage totals below could be read from the database, else 0.",
            value=0 if stats is None else 1,
        )
        if stats is None:
            return
        for name, documentation, value in (
            ("objects", "Current object versions (delete markers excluded).", stats.objects),
            (
                "logical_bytes",
                "Bytes of the current object versions, as clients see them.",
                stats.logical_bytes,
            ),
            (
                "unique_bytes",
                "Plain (uncompressed) bytes of the distinct chunks stored.",
                stats.unique_bytes,
            ),
            (
                "stored_bytes",
                "Bytes the backend holds for those chunks (compressed, with envelopes).",
                stats.stored_bytes,
            ),
            ("chunks", "Distinct chunks stored.", stats.chunks),
        ):
            yield GaugeMetricFamily(f"gateway_storage_{name}", documentation, value=value)


class _QueueCollector(Collector):
    """Queue depth and oldest age per job kind, from a cached callback."""

    def __init__(self, levels: Callable[[], Mapping[str, QueueLevel]], max_age: float) -> None:
        self._snapshot = _Snapshot("job queue levels", levels, max_age)

    def collect(self) -> Iterator[Metric]:
        levels = self._snapshot.get()
        if levels is None:
            return
        depth = GaugeMetricFamily(
            "gateway_job_queue_depth", "Jobs waiting to be claimed, by kind.", labels=["kind"]
        )
        oldest = GaugeMetricFamily(
            "gateway_job_queue_oldest_age_seconds",
            "How long the oldest waiting job of each kind has been due.",
            labels=["kind"],
        )
        for kind, level in sorted(levels.items()):
            depth.add_metric([kind], level.pending)
            oldest.add_metric([kind], level.oldest_age_seconds)
        yield depth
        yield oldest


class Metrics:
    """Every metric of one gateway process, and the calls that feed them. Thread-safe.

    Implements ``gateway.ports.PipelineMetrics``: pipeline workers are given this object
    and report through ``scan_verdict`` and ``job_finished``.
    """

    def __init__(self, *, process: bool = True) -> None:
        """A fresh registry; ``process`` adds the process and platform collectors."""
        self.registry = CollectorRegistry()
        self.requests = RequestMetrics()
        self.registry.register(self.requests)
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        Gauge(
            "gateway_build_info",
            "Always 1; the version label names the running gateway.",
            ["version"],
            registry=self.registry,
        ).labels(__version__).set(1)
        self._verdicts = Counter(
            "gateway_scan_verdicts",
            "Whole-file scans, by verdict (clean, infected, error).",
            ["verdict"],
            registry=self.registry,
        )
        self._jobs = Counter(
            "gateway_jobs",
            "Pipeline job attempts, by kind and outcome (succeeded, retried, failed).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self._job_run = Histogram(
            "gateway_job_duration_seconds",
            "Time a job attempt took to run, by kind.",
            ["kind"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self._job_wait = Histogram(
            "gateway_job_wait_seconds",
            "Time from a job becoming due to a worker claiming it, by kind.",
            ["kind"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self._watch_lock = threading.Lock()
        self._storage: _StorageCollector | None = None
        self._queue: _QueueCollector | None = None

    def instrument(self, app: WsgiApp, protocol: str | Callable[[Environ], str]) -> WsgiApp:
        """``app`` with its requests counted (see ``RequestMetrics.instrument``)."""
        return self.requests.instrument(app, protocol)

    def watch_storage(
        self, stats: Callable[[], StorageStats], *, max_age: float = STORAGE_STATS_MAX_AGE
    ) -> None:
        """Export the totals ``stats`` returns, asking it at most every ``max_age`` s.

        ``stats`` MAY be slow (it sums tables); it is never called outside a scrape.
        Replaces an earlier ``watch_storage``.
        """
        collector = _StorageCollector(stats, max_age)
        with self._watch_lock:
            if self._storage is not None:
                self.registry.unregister(self._storage)
            self.registry.register(collector)
            self._storage = collector

    def watch_queue(
        self,
        levels: Callable[[], Mapping[str, QueueLevel]],
        *,
        max_age: float = QUEUE_MAX_AGE,
    ) -> None:
        """Export the queue levels ``levels`` returns (job kind -> ``QueueLevel``), asking
        it at most every ``max_age`` s. Replaces an earlier ``watch_queue``."""
        collector = _QueueCollector(levels, max_age)
        with self._watch_lock:
            if self._queue is not None:
                self.registry.unregister(self._queue)
            self.registry.register(collector)
            self._queue = collector

    def scan_verdict(self, verdict: str) -> None:
        """Count one whole-file scan with ``verdict`` (``clean``, ``infected``, ``error``)."""
        self._verdicts.labels(verdict).inc()

    def job_finished(
        self, kind: str, outcome: str, run_seconds: float, wait_seconds: float | None = None
    ) -> None:
        """Count one job attempt of ``kind`` ending in ``outcome`` (``succeeded``,
        ``retried``, ``failed``), with its run time and, when known, its wait."""
        self._jobs.labels(kind, outcome).inc()
        self._job_run.labels(kind).observe(run_seconds)
        if wait_seconds is not None:
            self._job_wait.labels(kind).observe(wait_seconds)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition of every metric and its Content-Type, in the format the
        ``Accept`` header asks for (OpenMetrics or the text format 0.0.4, the default)."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
