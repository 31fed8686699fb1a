"""The pipeline Worker over a real SQLite queue: running, failing, parking, lease renewal,
waking on a local enqueue, stopping; and the back-off and failure-message rules."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.sql.engine import make_engine, migrate
from adapters.sql.jobs import SqlJobQueue
from gateway.core.pipeline.backoff import retry_delay
from gateway.core.pipeline.failure import MAX_MESSAGE, failure_message
from gateway.core.pipeline.probe import PROBE, run_probe
from gateway.core.pipeline.worker import Handler, Worker
from gateway.metrics import Metrics
from gateway.records import JOB_DONE, JOB_FAILED, JOB_RUNNING, Job
from tests.support.metrics import Exposition
from tests.support.waiting import wait_until


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SqlJobQueue]:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    migrate(url)
    engine = make_engine(url)
    yield SqlJobQueue(engine, retry_base_seconds=0.05, retry_cap_seconds=0.1)
    engine.dispose()


@pytest.fixture
def workers() -> Iterator[Callable[..., Worker]]:
    """Start workers that are stopped at the end of the test."""
    started: list[Worker] = []

    def start(queue: SqlJobQueue, handlers: Mapping[str, Handler], **options: Any) -> Worker:
        options.setdefault("poll_seconds", 0.1)
        worker = Worker(queue, handlers, **options)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(timeout=5)


def job(queue: SqlJobQueue, job_id: int) -> Job:
    found = queue.get(job_id)
    assert found is not None
    return found


def test_jobs_of_every_registered_kind_run_once(
    queue: SqlJobQueue, workers: Callable[..., Worker]
) -> None:
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def handler(kind: str) -> Handler:
        def run(payload: Mapping[str, Any]) -> None:
            with lock:
                seen.append((kind, payload["n"]))

        return run

    ids = queue.enqueue_many("a", [{"n": n} for n in range(30)])
    ids += queue.enqueue_many("b", [{"n": n} for n in range(20)])
    workers(queue, {"a": handler("a"), "b": handler("b")}, threads=3)
    wait_until(lambda: queue.stats().depth.get(("a", JOB_DONE), 0) == 30)
    wait_until(lambda: queue.stats().depth.get(("b", JOB_DONE), 0) == 20)
    assert sorted(seen) == sorted([("a", n) for n in range(30)] + [("b", n) for n in range(20)])
    assert {job(queue, job_id).attempts for job_id in ids} == {1}


def test_a_worker_claims_only_its_kinds(queue: SqlJobQueue, workers: Callable[..., Worker]) -> None:
    other = queue.enqueue("other", {})
    mine = queue.enqueue(PROBE, {})
    worker = workers(queue, {PROBE: run_probe, "other": run_probe}, kinds=[PROBE])
    assert worker.kinds == [PROBE]
    wait_until(lambda: job(queue, mine).state == JOB_DONE)
    time.sleep(0.3)
    assert job(queue, other).attempts == 0


def test_failures_are_retried_then_parked_with_a_message_and_no_secret(
    queue: SqlJobQueue, workers: Callable[..., Worker]
) -> None:
    calls: list[int] = []

    def broken(payload: Mapping[str, Any]) -> None:
        calls.append(1)
        raise ConnectionError(
            "cannot reach postgresql://gateway:hunter2@db.internal/meta\n[SQL: SELECT secret]"
        )

    job_id = queue.enqueue("broken", {}, max_attempts=3)
    workers(queue, {"broken": broken})
    wait_until(lambda: job(queue, job_id).state == JOB_FAILED)
    parked = job(queue, job_id)
    assert parked.attempts == 3 and len(calls) == 3
    expected = "ConnectionError: cannot reach postgresql://***@db.internal/meta"
    assert parked.last_error == expected


def test_a_job_that_fails_once_succeeds_on_its_retry(
    queue: SqlJobQueue, workers: Callable[..., Worker]
) -> None:
    attempts: list[int] = []

    def flaky(payload: Mapping[str, Any]) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise TimeoutError("clamd did not answer")

    job_id = queue.enqueue("flaky", {})
    workers(queue, {"flaky": flaky})
    wait_until(lambda: job(queue, job_id).state == JOB_DONE)
    done = job(queue, job_id)
    assert done.attempts == 2 and done.last_error == "TimeoutError: clamd did not answer"


def test_a_long_job_keeps_its_lease(queue: SqlJobQueue, workers: Callable[..., Worker]) -> None:
    job_id = queue.enqueue(PROBE, {"seconds": 1.2})
    workers(queue, {PROBE: run_probe}, threads=1, lease_seconds=0.4)
    wait_until(lambda: job(queue, job_id).state == JOB_RUNNING)
    while job(queue, job_id).state == JOB_RUNNING:
        # Another worker would find it claimable if the lease were not renewed.
        assert queue.claim("thief", [PROBE], 1, 30) == []
        time.sleep(0.1)
    done = job(queue, job_id)
    assert done.state == JOB_DONE and done.attempts == 1


def test_a_local_enqueue_wakes_an_idle_worker(
    queue: SqlJobQueue, workers: Callable[..., Worker]
) -> None:
    workers(queue, {PROBE: run_probe}, threads=2, poll_seconds=30)
    time.sleep(0.3)  # both threads are idle, waiting
    started = time.monotonic()
    job_id = queue.enqueue(PROBE, {})
    wait_until(lambda: job(queue, job_id).state == JOB_DONE)
    assert time.monotonic() - started < 5


def test_stop_finishes_the_job_in_progress(queue: SqlJobQueue) -> None:
    job_id = queue.enqueue(PROBE, {"seconds": 0.5})
    worker = Worker(queue, {PROBE: run_probe}, threads=1, poll_seconds=0.05)
    worker.start()
    wait_until(lambda: job(queue, job_id).state == JOB_RUNNING)
    started = time.monotonic()
    assert worker.stop(timeout=10)
    assert time.monotonic() - started < 5
    assert job(queue, job_id).state == JOB_DONE


def test_stop_abandons_a_job_past_the_timeout_to_lease_expiry(queue: SqlJobQueue) -> None:
    job_id = queue.enqueue(PROBE, {"seconds": 2})
    worker = Worker(queue, {PROBE: run_probe}, threads=1, poll_seconds=0.05, lease_seconds=0.5)
    worker.start()
    wait_until(lambda: job(queue, job_id).state == JOB_RUNNING)
    assert not worker.stop(timeout=0.1)
    wait_until(lambda: bool(queue.claim("next", [PROBE], 1, 30)), timeout=5)
    again = job(queue, job_id)
    assert again.leased_by == "next" and again.attempts == 2


def test_a_worker_needs_a_handler_for_each_kind(queue: SqlJobQueue) -> None:
    with pytest.raises(ValueError, match="scan"):
        Worker(queue, {PROBE: run_probe}, kinds=["scan"])
    with pytest.raises(ValueError):
        Worker(queue, {})
    with pytest.raises(ValueError):
        Worker(queue, {PROBE: run_probe}, threads=0)


def test_retry_delay_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(7)
    for attempts, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (9, 512.0), (10, 600.0), (99, 600.0)]:
        delays = [retry_delay(attempts, 2.0, 600.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert max(delays) - min(delays) > ceiling / 4


def test_failure_message_is_one_bounded_line() -> None:
    assert failure_message(ValueError()) == "ValueError"
    assert failure_message(OSError("disk\nfull")) == "OSError: disk"
    assert failure_message(RuntimeError("s3://key:secret@bucket/x")) == (
        "RuntimeError: s3://***@bucket/x"
    )
    long = failure_message(RuntimeError("x" * 5000))
    assert len(long) == MAX_MESSAGE and long.endswith("...")


def test_the_probe_completes_and_can_hold_its_job() -> None:
    run_probe({})
    started = time.monotonic()
    run_probe({"seconds": 0.1})
    assert time.monotonic() - started >= 0.1
    with pytest.raises(ValueError):
        run_probe({"seconds": "soon"})


def test_every_attempt_is_counted_in_the_metrics(
    queue: SqlJobQueue, workers: Callable[..., Worker]
) -> None:
    metrics = Metrics(process=False)

    def flaky(payload: Mapping[str, Any]) -> None:
        if payload["fail"]:
            raise RuntimeError("not this time")

    queue.enqueue("flaky", {"fail": False})
    parked = queue.enqueue("flaky", {"fail": True}, max_attempts=2)
    workers(queue, {"flaky": flaky}, metrics=metrics)

    def scrape() -> Exposition:
        return Exposition.parse(metrics.render()[0].decode())

    # Counted once the attempt's outcome is recorded, so just after the job's state.
    wait_until(lambda: scrape().value("gateway_job_duration_seconds_count", kind="flaky") == 3)
    assert job(queue, parked).state == JOB_FAILED
    scraped = scrape()
    counts = {
        outcome: scraped.value("gateway_jobs_total", kind="flaky", outcome=outcome)
        for outcome in ("succeeded", "retried", "failed")
    }
    assert counts == {"succeeded": 1, "retried": 1, "failed": 1}
    assert scraped.value("gateway_job_duration_seconds_count", kind="flaky") == 3
    assert scraped.value("gateway_job_wait_seconds_count", kind="flaky") == 3
