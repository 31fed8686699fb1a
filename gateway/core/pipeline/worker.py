"""Worker threads that claim jobs from the queue and run them through their handlers.

A ``Worker`` runs N threads. Each claims one due job at a time (of the kinds it has a
handler for) and calls the handler with the job's payload: returning completes the job,
raising records a failed attempt with the exception's message (the queue then retries it
after a back-off, or parks it after its last attempt). A housekeeping thread renews the
leases of the jobs in progress every third of a lease, and deletes done jobs past their
retention now and then. Idle threads wait for a local enqueue or the poll interval,
whichever comes first.

Delivery is at least once: a job whose worker dies, hangs past its lease, or loses the
database between finishing and recording it, runs again elsewhere. Handlers must
therefore be idempotent.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.core.pipeline.failure import failure_message
from gateway.ports import JobQueue, NoPipelineMetrics, PipelineMetrics
from gateway.records import JOB_FAILED, JOB_QUEUED, Job

log = logging.getLogger("gateway.jobs")

Handler = Callable[[Mapping[str, Any]], None]
"""Runs one job from its payload; returns when done, raises when the attempt failed.

MUST be idempotent (a job may run more than once, even concurrently with an abandoned
run of itself) and SHOULD raise exceptions whose first line says what went wrong without
secrets: that line is stored on the job for operators to read."""

DEFAULT_LEASE_SECONDS = 300.0
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600.0
# How often a worker deletes done jobs past their retention.
PRUNE_INTERVAL_SECONDS = 3600.0


def new_worker_id() -> str:
    """``host:pid:random``: unique per worker, and tells operators where a job ran."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Runs the queue's jobs on ``threads`` threads until stopped.

    ``handlers`` maps job kinds to handlers; the worker claims only ``kinds`` (all of
    the handlers' kinds by default), each of which needs a handler. Thread ``i`` claims
    as ``<worker id>/<i>``. ``retention_seconds`` None keeps done jobs forever. Every
    attempt's outcome, run time and wait since the job was due go to ``metrics``.
    """

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        *,
        threads: int = 2,
        kinds: Sequence[str] | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        retention_seconds: float | None = DEFAULT_RETENTION_SECONDS,
        worker_id: str | None = None,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError("a worker needs at least one thread")
        if lease_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("lease_seconds and poll_seconds must be positive")
        chosen = sorted(handlers) if kinds is None else list(dict.fromkeys(kinds))
        missing = [kind for kind in chosen if kind not in handlers]
        if missing or not chosen:
            raise ValueError(f"no handler for job kinds: {', '.join(missing) or '(none given)'}")
        self._queue = queue
        self._metrics = metrics or NoPipelineMetrics()
        self._handlers = dict(handlers)
        self._kinds = chosen
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._retention = retention_seconds
        self.worker_id = worker_id or new_worker_id()
        self._stopping = threading.Event()
        self._finished = threading.Event()
        # The jobs in progress: job id -> the thread's worker id; renewed by housekeeping.
        self._held: dict[int, str] = {}
        self._held_lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=self._claim_loop,
                args=(f"{self.worker_id}/{index}",),
                name=f"job-worker-{index}",
                daemon=True,
            )
            for index in range(threads)
        ]
        self._housekeeper = threading.Thread(
            target=self._keep_house, name="job-housekeeping", daemon=True
        )

    @property
    def kinds(self) -> list[str]:
        """The job kinds this worker claims."""
        return list(self._kinds)

    def start(self) -> None:
        """Start the threads; they claim jobs until ``stop``."""
        for thread in self._threads:
            thread.start()
        self._housekeeper.start()
        log.info(
            "job worker %s: %d threads for %s",
            self.worker_id,
            len(self._threads),
            ", ".join(self._kinds),
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop claiming, let the jobs in progress finish for up to ``timeout`` seconds.

        Returns True when every thread ended in time. A job still running after that is
        abandoned: its lease is no longer renewed, so it expires and another worker
        runs the job again (the abandoned run's outcome, if any, is then not recorded).
        """
        self._stopping.set()
        self._queue.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        ended = not any(thread.is_alive() for thread in self._threads)
        if not ended:
            with self._held_lock:
                abandoned = sorted(self._held)
            log.warning("job worker %s abandons jobs %s to lease expiry", self.worker_id, abandoned)
        self._finished.set()
        if self._housekeeper.is_alive():
            self._housekeeper.join(timeout=5)
        return ended

    def _claim_loop(self, worker_id: str) -> None:
        while not self._stopping.is_set():
            try:
                jobs = self._queue.claim(worker_id, self._kinds, 1, self._lease)
            except Exception:
                # The database may be restarting: keep polling rather than end the thread.
                log.exception("claiming jobs failed")
                self._stopping.wait(self._poll)
                continue
            if not jobs:
                self._queue.wait_for_jobs(self._poll)
            for job in jobs:
                self._run(worker_id, job)

    def _run(self, worker_id: str, job: Job) -> None:
        with self._held_lock:
            self._held[job.id] = worker_id
        waited = max(0.0, (datetime.now(UTC) - job.run_after).total_seconds())
        started = time.monotonic()
        try:
            try:
                self._handlers[job.kind](job.payload)
            except Exception as exc:
                state = self._record_failure(worker_id, job, failure_message(exc))
                outcome = "failed" if state == JOB_FAILED else "retried"
                self._metrics.job_finished(job.kind, outcome, time.monotonic() - started, waited)
            else:
                self._metrics.job_finished(
                    job.kind, "succeeded", time.monotonic() - started, waited
                )
                if not self._queue.complete(job.id, worker_id):
                    log.warning(
                        "job %d (%s) finished after its lease was lost; it runs again",
                        job.id,
                        job.kind,
                    )
        except Exception:
            # Recording the outcome failed: the lease expires and the job runs again.
            log.exception("recording the outcome of job %d (%s) failed", job.id, job.kind)
        finally:
            with self._held_lock:
                self._held.pop(job.id, None)

    def _record_failure(self, worker_id: str, job: Job, message: str) -> str | None:
        """Record a failed attempt; the job's state now (None: the lease was lost)."""
        state = self._queue.fail(job.id, worker_id, message)
        outcome = {
            JOB_QUEUED: "will be retried",
            JOB_FAILED: "parked as failed",
            None: "its lease was lost",
        }.get(state, state)
        log.warning(
            "job %d (%s) attempt %d of %d failed, %s: %s",
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
            outcome,
            message,
        )
        return state

    def _keep_house(self) -> None:
        interval = max(0.05, self._lease / 3)
        next_prune = time.monotonic()
        while not self._finished.wait(interval):
            with self._held_lock:
                held = list(self._held.items())
            for job_id, worker_id in held:
                try:
                    renewed = self._queue.renew(job_id, worker_id, self._lease)
                    with self._held_lock:
                        running = self._held.get(job_id) == worker_id
                    if not renewed and running:
                        log.warning("job %d: lease lost; another worker may run it", job_id)
                except Exception:
                    log.exception("renewing the lease of job %d failed", job_id)
            if self._retention is not None and time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_INTERVAL_SECONDS
                try:
                    pruned = self._queue.prune(self._retention)
                except Exception:
                    log.exception("deleting old done jobs failed")
                else:
                    if pruned:
                        log.info("deleted %d done jobs older than the retention", pruned)
