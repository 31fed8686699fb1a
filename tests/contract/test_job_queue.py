"""The JobQueue contract, on SQLite and PostgreSQL: claim, complete, fail, back-off, park,
retry, lease expiry and renewal, dedupe, the outbox, stats and pruning."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from adapters.sql.engine import make_engine, migrate
from adapters.sql.jobs import SqlJobQueue, enqueue
from adapters.sql.models import JobRow
from gateway.errors import ConflictError
from gateway.records import JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING

BASE = 0.2  # back-off base of the queue under test, in seconds
CAP = 0.4


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One migrated database per backend for the module; tests start from an empty table."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('jobs') / 'jobs.db'}"
    else:
        factory: Callable[[], str] = request.getfixturevalue("postgres_database_factory")
        url = factory()
    migrate(url)
    made = make_engine(url)
    yield made
    made.dispose()


@pytest.fixture
def queue(engine: Engine) -> SqlJobQueue:
    with engine.begin() as connection:
        connection.execute(delete(JobRow))
    return SqlJobQueue(engine, retry_base_seconds=BASE, retry_cap_seconds=CAP)


def _close_to(moment: datetime | None, expected: datetime, slack: float = 1.0) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) < slack


def test_claim_leases_a_job_to_one_worker_until_it_completes(queue: SqlJobQueue) -> None:
    job_id = queue.enqueue("probe", {"n": 1})
    [job] = queue.claim("w1", ["probe"], 10, 30)
    assert (job.id, job.state, job.attempts, job.leased_by) == (job_id, JOB_RUNNING, 1, "w1")
    assert job.payload == {"n": 1}
    assert _close_to(job.lease_until, datetime.now(UTC) + timedelta(seconds=30))
    assert queue.claim("w2", ["probe"], 10, 30) == []
    assert not queue.complete(job_id, "w2")
    assert queue.complete(job_id, "w1")
    assert not queue.complete(job_id, "w1")
    done = queue.get(job_id)
    assert done is not None and done.state == JOB_DONE and done.finished_at is not None
    assert done.lease_until is None


def test_claim_takes_due_jobs_of_the_asked_kinds_oldest_first(queue: SqlJobQueue) -> None:
    later = queue.enqueue("scan", {}, delay_seconds=60)
    first = queue.enqueue("scan", {})
    other = queue.enqueue("ingest", {})
    second = queue.enqueue("scan", {})
    assert [j.id for j in queue.claim("w", ["scan"], 1, 30)] == [first]
    assert [j.id for j in queue.claim("w", ["scan", "gc"], 5, 30)] == [second]
    assert [j.id for j in queue.claim("w", ["ingest"], 5, 30)] == [other]
    assert queue.claim("w", ["scan"], 5, 30) == []
    assert queue.claim("w", [], 5, 30) == []
    waiting = queue.get(later)
    assert waiting is not None and waiting.state == JOB_QUEUED


def test_concurrent_claimers_never_share_a_job(queue: SqlJobQueue) -> None:
    ids = set(queue.enqueue_many("probe", [{"i": i} for i in range(120)]))
    claimed: list[list[int]] = [[] for _ in range(6)]

    def claimer(index: int) -> None:
        while jobs := queue.claim(f"w{index}", ["probe"], 3, 30):
            for job in jobs:
                claimed[index].append(job.id)
                assert queue.complete(job.id, f"w{index}")

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [job_id for ids_of_one in claimed for job_id in ids_of_one]
    assert sorted(every) == sorted(ids)
    assert queue.stats().depth == {("probe", JOB_DONE): 120}


def test_a_failure_backs_off_then_runs_again(queue: SqlJobQueue) -> None:
    job_id = queue.enqueue("probe", {})
    queue.claim("w1", ["probe"], 1, 30)
    before = datetime.now(UTC)
    assert queue.fail(job_id, "w2", "not mine") is None
    assert queue.fail(job_id, "w1", "ValueError: broken") == JOB_QUEUED
    failed = queue.get(job_id)
    assert failed is not None and failed.state == JOB_QUEUED and failed.lease_until is None
    assert failed.last_error == "ValueError: broken"
    delay = (failed.run_after - before).total_seconds()
    assert BASE / 2 <= delay <= BASE + 0.5
    assert queue.claim("w1", ["probe"], 1, 30) == []
    time.sleep(BASE + 0.05)
    [again] = queue.claim("w3", ["probe"], 1, 30)
    assert (again.id, again.attempts, again.leased_by) == (job_id, 2, "w3")
    # The second failure waits twice as long (the ceiling doubles, up to the cap).
    before = datetime.now(UTC)
    assert queue.fail(job_id, "w3", "again") == JOB_QUEUED
    second = queue.get(job_id)
    assert second is not None
    assert 2 * BASE / 2 <= (second.run_after - before).total_seconds() <= CAP + 0.5


def test_the_last_attempt_parks_the_job_until_retried(queue: SqlJobQueue) -> None:
    job_id = queue.enqueue("probe", {}, max_attempts=2)
    for attempt in (1, 2):
        deadline = time.monotonic() + 5
        while not (jobs := queue.claim("w", ["probe"], 1, 30)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert jobs[0].attempts == attempt
        state = queue.fail(job_id, "w", f"failure {attempt}")
    assert state == JOB_FAILED
    parked = queue.get(job_id)
    assert parked is not None and parked.state == JOB_FAILED
    assert parked.last_error == "failure 2" and parked.finished_at is not None
    time.sleep(CAP)
    assert queue.claim("w", ["probe"], 1, 30) == []
    stats = queue.stats()
    assert stats.failed == 1 and stats.depth == {("probe", JOB_FAILED): 1}
    assert [job.id for job in queue.list_jobs(JOB_FAILED)] == [job_id]
    assert queue.retry(job_id)
    assert not queue.retry(job_id)
    assert not queue.retry(job_id + 1000)
    [again] = queue.claim("w", ["probe"], 1, 30)
    assert again.id == job_id and again.attempts == 1 and again.last_error == "failure 2"


def test_an_expired_lease_is_claimable_again_and_counts(queue: SqlJobQueue) -> None:
    job_id = queue.enqueue("probe", {})
    queue.claim("dead", ["probe"], 1, 0.3)
    assert queue.claim("w2", ["probe"], 1, 30) == []
    time.sleep(0.4)
    [again] = queue.claim("w2", ["probe"], 1, 30)
    assert (again.id, again.attempts, again.leased_by) == (job_id, 2, "w2")
    assert again.last_error is not None and "dead" in again.last_error
    # The worker that lost the lease can neither renew, fail nor complete the job.
    assert not queue.renew(job_id, "dead", 30)
    assert queue.fail(job_id, "dead", "late") is None
    assert not queue.complete(job_id, "dead")
    assert queue.complete(job_id, "w2")


def test_an_expired_lease_on_the_last_attempt_parks_the_job(queue: SqlJobQueue) -> None:
    job_id = queue.enqueue("probe", {}, max_attempts=1)
    queue.claim("dead", ["probe"], 1, 0.2)
    time.sleep(0.3)
    assert queue.claim("w2", ["probe"], 1, 30) == []
    parked = queue.get(job_id)
    assert parked is not None and parked.state == JOB_FAILED
    assert parked.last_error is not None and "lease expired" in parked.last_error


def test_renewing_keeps_a_long_job_leased(queue: SqlJobQueue) -> None:
    job_id = queue.enqueue("probe", {})
    queue.claim("w1", ["probe"], 1, 0.4)
    for _ in range(3):
        time.sleep(0.2)
        assert queue.renew(job_id, "w1", 0.4)
        assert queue.claim("w2", ["probe"], 1, 30) == []
    assert not queue.renew(job_id, "w2", 30)
    assert queue.complete(job_id, "w1")


def test_a_dedupe_key_is_unique_among_unfinished_jobs(queue: SqlJobQueue) -> None:
    first = queue.enqueue("scan", {"v": 1}, dedupe_key="scan:1")
    assert queue.enqueue("scan", {"v": 2}, dedupe_key="scan:1") == first
    queue.claim("w", ["scan"], 1, 30)
    assert queue.enqueue("scan", {"v": 3}, dedupe_key="scan:1") == first
    assert queue.complete(first, "w")
    second = queue.enqueue("scan", {"v": 4}, dedupe_key="scan:1")
    assert second != first
    # A parked job is finished: a new one may take its key, and it is not retried then.
    queue.claim("w", ["scan"], 1, 30)
    third = queue.enqueue("scan", {"v": 5}, dedupe_key="scan:2", max_attempts=1)
    queue.claim("w", ["scan"], 1, 30)
    assert queue.fail(third, "w", "broken") == JOB_FAILED
    fourth = queue.enqueue("scan", {"v": 6}, dedupe_key="scan:2")
    assert fourth != third
    with pytest.raises(ConflictError):
        queue.retry(third)


def test_enqueue_in_a_transaction_is_an_outbox(engine: Engine, queue: SqlJobQueue) -> None:
    with pytest.raises(RuntimeError), engine.begin() as connection:
        enqueue(connection, "scan", {"object": 1})
        raise RuntimeError("the metadata change failed")
    assert queue.stats().depth == {}
    with engine.begin() as connection:
        job_id = enqueue(connection, "scan", {"object": 2}, dedupe_key="o2")
        assert enqueue(connection, "scan", {"object": 2}, dedupe_key="o2") == job_id
    [job] = queue.claim("w", ["scan"], 5, 30)
    assert job.id == job_id and job.payload == {"object": 2}


def test_a_local_enqueue_wakes_a_waiting_worker(engine: Engine, queue: SqlJobQueue) -> None:
    queue.wait_for_jobs(0)  # this thread has now seen every enqueue so far
    timer = threading.Timer(0.2, lambda: queue.enqueue("probe", {}))
    timer.start()
    started = time.monotonic()
    queue.wait_for_jobs(10)
    timer.join()
    assert time.monotonic() - started < 5
    # An enqueue committed while this thread was busy is not missed by its next wait.
    with engine.begin() as connection:
        enqueue(connection, "probe", {})
    started = time.monotonic()
    queue.wait_for_jobs(10)
    assert time.monotonic() - started < 1


def test_stats_list_and_prune(queue: SqlJobQueue) -> None:
    ids = queue.enqueue_many("probe", [{}, {}, {}])
    queue.enqueue("scan", {}, max_attempts=1)
    for job in queue.claim("w", ["probe", "scan"], 10, 30):
        if job.kind == "probe" and job.id != ids[2]:
            assert queue.complete(job.id, "w")
        elif job.kind == "scan":
            assert queue.fail(job.id, "w", "infected?") == JOB_FAILED
    queue.enqueue("probe", {})
    stats = queue.stats()
    assert stats.depth == {
        ("probe", JOB_DONE): 2,
        ("probe", JOB_RUNNING): 1,
        ("probe", JOB_QUEUED): 1,
        ("scan", JOB_FAILED): 1,
    }
    assert stats.failed == 1
    assert stats.oldest_queued_seconds is not None and 0 <= stats.oldest_queued_seconds < 30
    newest_first = [job.id for job in queue.list_jobs()]
    assert newest_first == sorted(newest_first, reverse=True) and len(newest_first) == 5
    assert len(queue.list_jobs(limit=2)) == 2
    assert queue.prune(3600) == 0
    time.sleep(0.05)
    assert queue.prune(0) == 2
    assert queue.stats().depth == {
        ("probe", JOB_RUNNING): 1,
        ("probe", JOB_QUEUED): 1,
        ("scan", JOB_FAILED): 1,
    }


def test_enqueue_rejects_a_job_that_could_never_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    migrate(url)
    engine = make_engine(url)
    with pytest.raises(ValueError, match="max_attempts"), engine.begin() as connection:
        enqueue(connection, "probe", {}, max_attempts=0)
    engine.dispose()
