"""gateway.metrics: pipeline reports, storage totals and queue levels read at scrape time
(and cached), and the exposition formats."""

from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from gateway.metrics import Metrics, QueueLevel
from gateway.ports import NoPipelineMetrics, PipelineMetrics
from gateway.records import StorageStats
from tests.support.metrics import Exposition


def scrape(metrics: Metrics) -> Exposition:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    return Exposition.parse(body.decode())


def test_pipeline_reports_are_counted() -> None:
    metrics = Metrics(process=False)
    reporter: PipelineMetrics = metrics
    for verdict in ("clean", "clean", "infected"):
        reporter.scan_verdict(verdict)
    reporter.job_finished("scan", "succeeded", 0.2, wait_seconds=3.0)
    reporter.job_finished("scan", "retried", 0.02)
    reporter.job_finished("gc", "succeeded", 12.0)
    scraped = scrape(metrics)
    assert scraped.value("gateway_scan_verdicts_total", verdict="clean") == 2
    assert scraped.value("gateway_scan_verdicts_total", verdict="infected") == 1
    assert scraped.value("gateway_jobs_total", kind="scan", outcome="succeeded") == 1
    assert scraped.value("gateway_jobs_total", kind="scan", outcome="retried") == 1
    assert scraped.value("gateway_job_duration_seconds_count", kind="scan") == 2
    assert scraped.value("gateway_job_duration_seconds_sum", kind="gc") == 12.0
    assert scraped.value("gateway_job_wait_seconds_count", kind="scan") == 1
    assert scraped.value("gateway_job_wait_seconds_bucket", kind="scan", le="5.0") == 1
    assert scraped.value("gateway_job_wait_seconds_count", kind="gc") == 0


def test_the_null_pipeline_metrics_accept_every_report() -> None:
    reporter: PipelineMetrics = NoPipelineMetrics()
    reporter.scan_verdict("clean")
    reporter.job_finished("scan", "failed", 1.0, 2.0)


def test_storage_totals_are_read_at_scrape_time_and_cached() -> None:
    calls: list[int] = []

    def stats() -> StorageStats:
        calls.append(1)
        return StorageStats(
            objects=3, logical_bytes=3000, unique_bytes=1000, stored_bytes=400, chunks=2
        )

    metrics = Metrics(process=False)
    metrics.watch_storage(stats, max_age=60)
    assert calls == []
    first = scrape(metrics)
    scrape(metrics)
    assert len(calls) == 1
    assert first.value("gateway_storage_stats_success") == 1
    assert first.value("gateway_storage_objects") == 3
    assert first.value("gateway_storage_logical_bytes") == 3000
    assert first.value("gateway_storage_unique_bytes") == 1000
    assert first.value("gateway_storage_stored_bytes") == 400
    assert first.value("gateway_storage_chunks") == 2
    assert first.types["gateway_storage_logical_bytes"] == "gauge"
    metrics.watch_storage(stats, max_age=0)
    scrape(metrics)
    scrape(metrics)
    assert len(calls) == 3


def test_failing_storage_totals_leave_the_rest_of_the_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def stats() -> StorageStats:
        raise ConnectionError("database down")

    metrics = Metrics(process=False)
    metrics.watch_storage(stats)
    metrics.scan_verdict("clean")
    scraped = scrape(metrics)
    assert scraped.value("gateway_storage_stats_success") == 0
    assert not scraped.has("gateway_storage_objects")
    assert scraped.value("gateway_scan_verdicts_total", verdict="clean") == 1
    assert "reading the storage totals failed" in caplog.text


def test_queue_levels_come_from_the_registered_callback() -> None:
    levels = {"scan": QueueLevel(4, 12.5), "gc": QueueLevel(0)}
    metrics = Metrics(process=False)
    metrics.watch_queue(lambda: levels, max_age=0)
    scraped = scrape(metrics)
    assert scraped.value("gateway_job_queue_depth", kind="scan") == 4
    assert scraped.value("gateway_job_queue_oldest_age_seconds", kind="scan") == 12.5
    assert scraped.value("gateway_job_queue_depth", kind="gc") == 0
    levels["scan"] = QueueLevel(1, 0.5)
    assert scrape(metrics).value("gateway_job_queue_depth", kind="scan") == 1


def test_process_metrics_and_build_info_are_exported() -> None:
    scraped = scrape(Metrics())
    assert scraped.has("process_cpu_seconds_total")
    assert scraped.has("process_resident_memory_bytes")
    assert scraped.total("gateway_build_info") == 1


def test_openmetrics_is_served_when_asked_for() -> None:
    metrics = Metrics(process=False)
    metrics.scan_verdict("clean")
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    families = {family.name: family for family in openmetrics_families(body.decode())}
    assert families["gateway_scan_verdicts"].type == "counter"
