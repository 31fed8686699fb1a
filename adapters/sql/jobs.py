"""The pipeline's job queue in the ``jobs`` table, on SQLite and PostgreSQL.

The table is an outbox: ``enqueue(connection, ...)`` adds a job inside the caller's own
transaction, so the job exists exactly when the change that calls for it committed.
``SqlJobQueue`` implements ``gateway.ports.JobQueue`` over the same table.

Claiming is one ``WITH due AS MATERIALIZED (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)
UPDATE ... WHERE id IN (SELECT id FROM due) RETURNING``: on PostgreSQL concurrent
claimers skip each other's rows instead of waiting; on SQLite (which has no row locks and
ignores ``FOR UPDATE``) the claim runs in a ``BEGIN IMMEDIATE`` transaction, so claimers
take turns. Before claiming, running jobs whose lease expired are queued again (or parked
after their last attempt) in the same transaction. Times come from the gateway hosts'
clocks (UTC), so the clocks of hosts sharing a database must agree to well within a lease.

Enqueues committed through an engine that a ``SqlJobQueue`` was made for wake that
process's idle workers at once (``wait_for_jobs``); other processes notice at their next
poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    DateTime,
    Engine,
    Row,
    Table,
    case,
    delete,
    event,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.sql.models import JobRow
from adapters.sql.repository import SqlRepository
from adapters.sql.timestamps import aware_or_none, utc_now
from gateway.core.pipeline.backoff import (
    DEFAULT_BASE_SECONDS,
    DEFAULT_CAP_SECONDS,
    retry_delay,
)
from gateway.errors import ConflictError
from gateway.records import (
    JOB_DONE,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    Job,
    JobStats,
)

log = logging.getLogger("gateway.jobs")

_JOBS = cast(Table, JobRow.__table__)
_C = _JOBS.c
DEFAULT_MAX_ATTEMPTS = 10
# Longer failure messages are cut: the column is for people to read.
MAX_ERROR = 4000
PRUNE_BATCH = 1000
# Marks a DBAPI connection whose open transaction enqueued a job (``Connection.info``).
_ENQUEUED = "gateway.jobs.enqueued"
_UNFINISHED = (JOB_QUEUED, JOB_RUNNING)


def _job(row: Row[Any]) -> Job:
    values = dict(row._mapping)
    for name in ("run_after", "created_at", "updated_at", "lease_until", "finished_at"):
        values[name] = aware_or_none(values[name])
    values["payload"] = dict(values["payload"] or {})
    return Job(**values)


def _changed(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _insert(connection: Connection) -> Any:
    """A dialect-specific INSERT into ``jobs`` that supports ``on_conflict_do_nothing``."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(_JOBS)


def enqueue(
    target: Connection | Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    delay_seconds: float = 0.0,
) -> int:
    """Add a job inside the caller's open transaction on ``target``; return its id.

    The job commits or rolls back with that transaction (the outbox): metadata commits
    call this so that the work a change needs exists exactly when the change does. The
    job is due ``delay_seconds`` after now. With a ``dedupe_key`` that an unfinished job
    already has (committed, or added earlier in this transaction) nothing is added and
    that job's id is returned; on PostgreSQL this waits for a concurrent transaction
    that added the same key to end. ``payload`` must be JSON-serialisable; keep it to
    identifiers (operators see it), never secrets.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    connection = target.connection() if isinstance(target, Session) else target
    now = utc_now()
    values = {
        "kind": kind,
        "payload": payload,
        "state": JOB_QUEUED,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": now + timedelta(seconds=max(0.0, delay_seconds)),
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
    }
    connection.info[_ENQUEUED] = True
    if dedupe_key is None:
        return int(connection.execute(insert(_JOBS).values(values).returning(_C.id)).scalar_one())
    # The unfinished holder of the key may finish between the insert and the look-up;
    # then the key is free and the next insert succeeds.
    for _ in range(3):
        added = connection.execute(
            _insert(connection).values(values).on_conflict_do_nothing().returning(_C.id)
        ).scalar_one_or_none()
        if added is not None:
            return int(added)
        existing = connection.execute(
            select(_C.id).where(_C.dedupe_key == dedupe_key, _C.state.in_(_UNFINISHED))
        ).scalar_one_or_none()
        if existing is not None:
            return int(existing)
    raise ConflictError(
        f"the dedupe key {dedupe_key!r} is taken by a job this transaction cannot see"
    )


class _Wakeup:
    """Wakes threads waiting for work when this process commits an enqueue.

    Each thread remembers the last enqueue it saw, so one committed while it was busy
    claiming is not lost: its next wait returns at once.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        self._seen = threading.local()

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, timeout: float) -> None:
        with self._condition:
            seen = getattr(self._seen, "generation", self._generation)
            if seen == self._generation:
                self._condition.wait_for(lambda: self._generation != seen, timeout)
            self._seen.generation = self._generation


_WAKEUP = _Wakeup()


def _on_commit(connection: Connection) -> None:
    if connection.info.pop(_ENQUEUED, False):
        _WAKEUP.notify()


def _on_rollback(connection: Connection) -> None:
    connection.info.pop(_ENQUEUED, None)


def _watch_commits(engine: Engine) -> None:
    """Notice the enqueues committed through ``engine`` (once per engine)."""
    if not event.contains(engine, "commit", _on_commit):
        event.listen(engine, "commit", _on_commit)
        event.listen(engine, "rollback", _on_rollback)


class SqlJobQueue(SqlRepository):
    """``gateway.ports.JobQueue`` on the ``jobs`` table; each method is one transaction.

    A failed job waits ``retry_delay(attempts, retry_base_seconds, retry_cap_seconds)``
    before its next attempt (``gateway.core.pipeline.backoff``). Jobs enqueued through
    this object get ``default_max_attempts`` unless the caller says otherwise.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        retry_base_seconds: float = DEFAULT_BASE_SECONDS,
        retry_cap_seconds: float = DEFAULT_CAP_SECONDS,
        default_max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        super().__init__(engine)
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_cap_seconds
        self._max_attempts = default_max_attempts
        _watch_commits(engine)

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
        delay_seconds: float = 0.0,
    ) -> int:
        """Queue a job in a transaction of its own; see the module function ``enqueue``."""
        with self._write() as session:
            return enqueue(
                session,
                kind,
                payload,
                dedupe_key=dedupe_key,
                max_attempts=self._max_attempts if max_attempts is None else max_attempts,
                delay_seconds=delay_seconds,
            )

    def enqueue_many(self, kind: str, payloads: Sequence[dict[str, Any]]) -> list[int]:
        """Queue one job per payload in one transaction; return their ids in order."""
        with self._write() as session:
            return [
                enqueue(session, kind, payload, max_attempts=self._max_attempts)
                for payload in payloads
            ]

    def claim(
        self, worker_id: str, kinds: Sequence[str], limit: int, lease_seconds: float
    ) -> list[Job]:
        """Re-queue expired leases, then lease up to ``limit`` due jobs of ``kinds``."""
        if not kinds or limit < 1:
            return []
        with self._write() as session:
            now = utc_now()
            self._reap(session, now)
            due = (
                select(_C.id)
                .where(_C.state == JOB_QUEUED, _C.run_after <= now, _C.kind.in_(kinds))
                .order_by(_C.run_after, _C.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .cte("due")
                # Evaluated once: inside ``IN`` PostgreSQL may re-run the subquery after
                # updating a row, and the re-run skips to further jobs past the limit.
                .prefix_with("MATERIALIZED", dialect="postgresql")
            )
            rows = session.execute(
                update(_JOBS)
                .where(_C.id.in_(select(due.c.id)), _C.state == JOB_QUEUED)
                .values(
                    state=JOB_RUNNING,
                    attempts=_C.attempts + 1,
                    leased_by=worker_id,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    updated_at=now,
                )
                .returning(*_C)
            ).all()
        return sorted((_job(row) for row in rows), key=lambda job: (job.run_after, job.id))

    def _reap(self, session: Session, now: datetime) -> None:
        """Return running jobs whose lease expired to the queue, or park them when that
        was their last attempt: their worker died or hung, and the attempt counts."""
        expired = (
            select(_C.id)
            .where(_C.state == JOB_RUNNING, _C.lease_until < now)
            .with_for_update(skip_locked=True)
        )
        last = _C.attempts >= _C.max_attempts
        result = session.execute(
            update(_JOBS)
            .where(_C.id.in_(expired), _C.state == JOB_RUNNING)
            .values(
                state=case((last, JOB_FAILED), else_=JOB_QUEUED),
                finished_at=case((last, literal(now, DateTime(timezone=True))), else_=null()),
                last_error=literal("lease expired: worker ").concat(_C.leased_by)
                + " stopped or hung",
                lease_until=None,
                run_after=now,
                updated_at=now,
            )
        )
        reaped = _changed(result)
        if reaped:
            log.warning("%d jobs whose lease expired were queued again or parked", reaped)

    def complete(self, job_id: int, worker_id: str) -> bool:
        """Mark the job done if ``worker_id`` still holds its lease."""
        with self._write() as session:
            now = utc_now()
            result = session.execute(
                update(_JOBS)
                .where(_C.id == job_id, _C.state == JOB_RUNNING, _C.leased_by == worker_id)
                .values(state=JOB_DONE, lease_until=None, finished_at=now, updated_at=now)
            )
            return _changed(result) == 1

    def fail(self, job_id: int, worker_id: str, error: str) -> str | None:
        """Queue the job again after a back-off, or park it after its last attempt."""
        with self._write() as session:
            held = session.execute(
                select(_C.attempts, _C.max_attempts)
                .where(_C.id == job_id, _C.state == JOB_RUNNING, _C.leased_by == worker_id)
                .with_for_update()
            ).first()
            if held is None:
                return None
            now = utc_now()
            values: dict[str, Any] = {
                "lease_until": None,
                "last_error": error[:MAX_ERROR],
                "updated_at": now,
            }
            if held.attempts >= held.max_attempts:
                values.update(state=JOB_FAILED, finished_at=now)
            else:
                delay = retry_delay(held.attempts, self._retry_base, self._retry_cap)
                values.update(state=JOB_QUEUED, run_after=now + timedelta(seconds=delay))
            session.execute(update(_JOBS).where(_C.id == job_id).values(values))
            return str(values["state"])

    def renew(self, job_id: int, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease of a job ``worker_id`` still holds."""
        with self._write() as session:
            now = utc_now()
            result = session.execute(
                update(_JOBS)
                .where(_C.id == job_id, _C.state == JOB_RUNNING, _C.leased_by == worker_id)
                .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
            )
            return _changed(result) == 1

    def retry(self, job_id: int) -> bool:
        """Queue a parked job again, due now, with its attempts reset to 0."""
        try:
            with self._write() as session:
                now = utc_now()
                result = session.execute(
                    update(_JOBS)
                    .where(_C.id == job_id, _C.state == JOB_FAILED)
                    .values(
                        state=JOB_QUEUED,
                        attempts=0,
                        run_after=now,
                        leased_by=None,
                        finished_at=None,
                        updated_at=now,
                    )
                )
                session.connection().info[_ENQUEUED] = True
                return _changed(result) == 1
        except IntegrityError:
            raise ConflictError(
                f"job {job_id} is not retried: an unfinished job has the same dedupe key"
            ) from None

    def stats(self) -> JobStats:
        """Counts per kind and state, the oldest queued job's age, the parked count."""
        with self._read() as session:
            counts = session.execute(
                select(_C.kind, _C.state, func.count()).group_by(_C.kind, _C.state)
            ).all()
            oldest = session.execute(
                select(func.min(_C.created_at)).where(_C.state == JOB_QUEUED)
            ).scalar_one_or_none()
        depth = {(kind, state): int(count) for kind, state, count in counts}
        created = aware_or_none(oldest)
        age = None if created is None else max(0.0, (utc_now() - created).total_seconds())
        failed = sum(count for (_, state), count in depth.items() if state == JOB_FAILED)
        return JobStats(depth, age, failed)

    def list_jobs(self, state: str | None = None, limit: int = 100) -> list[Job]:
        """The newest ``limit`` jobs, highest id first, of ``state`` only when given."""
        query = select(*_C).order_by(_C.id.desc()).limit(limit)
        if state is not None:
            query = query.where(_C.state == state)
        with self._read() as session:
            return [_job(row) for row in session.execute(query)]

    def get(self, job_id: int) -> Job | None:
        """The job ``job_id`` as it stands, or None."""
        with self._read() as session:
            row = session.execute(select(*_C).where(_C.id == job_id)).first()
        return None if row is None else _job(row)

    def prune(self, older_than_seconds: float) -> int:
        """Delete done jobs finished before the cutoff, a batch per transaction."""
        cutoff = utc_now() - timedelta(seconds=older_than_seconds)
        removed = 0
        while True:
            with self._write() as session:
                batch = (
                    select(_C.id)
                    .where(_C.state == JOB_DONE, _C.finished_at < cutoff)
                    .limit(PRUNE_BATCH)
                )
                deleted = _changed(session.execute(delete(_JOBS).where(_C.id.in_(batch))))
            removed += deleted
            if deleted < PRUNE_BATCH:
                return removed

    def wait_for_jobs(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds; return early once this process enqueued."""
        _WAKEUP.wait(timeout)

    def wake(self) -> None:
        """Make every ``wait_for_jobs`` in progress in this process return now."""
        _WAKEUP.notify()
