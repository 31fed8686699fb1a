"""Pipeline jobs on real processes: ``gateway worker`` processes sharing PostgreSQL (one of
them killed midway), the workers inside ``gateway serve``, and the ``gateway jobs`` CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from adapters.sql.engine import make_engine, migrate
from adapters.sql.jobs import SqlJobQueue
from adapters.sql.models import JobRow
from gateway.cli import main
from gateway.core.pipeline.probe import PROBE
from gateway.records import JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING
from tests.support.gateway_server import GatewayProcess

PROBES = 1000
LEASE_SECONDS = 2


@dataclass
class WorkerPool:
    """``gateway worker`` processes on one database, stopped (SIGTERM) at the end."""

    env: dict[str, str]
    directory: Path
    processes: list[subprocess.Popen[bytes]]

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.directory / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "worker", "--threads", "2"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
        )
        log.close()
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.directory.glob("worker-*.log")))


@pytest.fixture
def pool(postgres_database_factory: Callable[[], str], tmp_path: Path) -> Iterator[WorkerPool]:
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": postgres_database_factory(),
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "GATEWAY_JOB_POLL_SECONDS": "0.2",
    }
    workers = WorkerPool(env, tmp_path, [])
    yield workers
    for process in workers.processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _leases_of(engine: Engine, process: subprocess.Popen[bytes]) -> dict[int, datetime]:
    """The jobs the worker process holds, with their lease ends (its worker ids are
    ``host:pid:...``)."""
    prefix = f"{socket.gethostname()}:{process.pid}:"
    query = select(JobRow.id, JobRow.lease_until).where(
        JobRow.state == JOB_RUNNING, JobRow.leased_by.startswith(prefix)
    )
    with engine.connect() as connection:
        return {row.id: row.lease_until for row in connection.execute(query)}


def _done(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).where(JobRow.state == JOB_DONE)) or 0


def _freeze_holding_leases(
    engine: Engine, process: subprocess.Popen[bytes], deadline: float
) -> dict[int, datetime]:
    """Stop (SIGSTOP) the process at a moment it holds leases; return them."""
    while True:
        assert time.monotonic() < deadline, "the worker never held a lease"
        process.send_signal(signal.SIGSTOP)
        held = _leases_of(engine, process)
        if held:
            return held
        process.send_signal(signal.SIGCONT)
        time.sleep(0.01)


def test_four_worker_processes_run_every_probe_despite_a_killed_one(pool: WorkerPool) -> None:
    url = pool.env["GATEWAY_DATABASE_URL"]
    migrate(url)
    engine = make_engine(url)
    enqueued = set(SqlJobQueue(engine).enqueue_many(PROBE, [{} for _ in range(PROBES)]))
    workers = [pool.start() for _ in range(4)]
    victim = workers[0]

    # Once the pool is well under way, kill one worker while it holds leases: frozen
    # first, so that the leases seen are exactly the ones it dies with.
    deadline = time.monotonic() + 60
    while _done(engine) < PROBES // 4:
        assert time.monotonic() < deadline, pool.logs()
        time.sleep(0.05)
    orphaned = _freeze_holding_leases(engine, victim, deadline)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL

    while _done(engine) < PROBES:
        assert time.monotonic() < deadline, pool.logs()
        time.sleep(0.1)
    with engine.connect() as connection:
        rows = connection.execute(
            select(JobRow.id, JobRow.state, JobRow.attempts, JobRow.leased_by, JobRow.finished_at)
        )
        jobs = {row.id: row for row in rows}
    assert set(jobs) == enqueued and {row.state for row in jobs.values()} == {JOB_DONE}
    # At least once: the killed worker's jobs ran twice, every other job exactly once.
    assert {job_id for job_id, row in jobs.items() if row.attempts != 1} == set(orphaned)
    assert {jobs[job_id].attempts for job_id in orphaned} == {2}
    # ... redone by a live worker, and only after the dead one's lease ran out.
    survivors = {str(worker.pid) for worker in workers[1:]}
    for job_id, lease_until in orphaned.items():
        assert jobs[job_id].leased_by.split(":")[1] in survivors
        assert jobs[job_id].finished_at > lease_until
    assert {row.leased_by.split(":")[1] for row in jobs.values()} <= survivors | {str(victim.pid)}

    for worker in workers[1:]:
        worker.send_signal(signal.SIGTERM)
    for worker in workers[1:]:
        assert worker.wait(timeout=30) == 0, pool.logs()
    engine.dispose()


def test_jobs_cli_shows_the_queue_and_retries_parked_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def gateway(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--data-dir", str(tmp_path)])
        out, err = capsys.readouterr()
        return code, out, err

    assert gateway("jobs", "probe", "3")[0] == 0
    engine = make_engine(f"sqlite:///{tmp_path.resolve() / 'gateway.db'}")
    queue = SqlJobQueue(engine)
    broken = queue.enqueue("scan", {"object": 7}, max_attempts=1)
    queue.claim("w", ["scan"], 1, 30)
    assert queue.fail(broken, "w", "ScanError: clamd is not answering") == JOB_FAILED

    code, out, _ = gateway("jobs")
    assert code == 0
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines[0] == "kind queued running done failed"
    assert "probe 3 0 0 0" in lines and "scan 0 0 0 1" in lines
    assert "parked (failed) jobs: 1" in lines
    assert f"{broken}\tscan\tattempts 1/1" in out
    assert "ScanError: clamd is not answering" in out

    code, out, _ = gateway("jobs", "retry", str(broken))
    assert code == 0 and f"job {broken} queued again" in out
    again = queue.get(broken)
    assert again is not None and again.state == JOB_QUEUED and again.attempts == 0
    code, _, err = gateway("jobs", "retry", str(broken))
    assert code == 1 and "no parked" in err
    assert gateway("jobs", "retry")[0] == 2
    code, _, err = gateway("worker", "--kinds", "probe,nonsense")
    assert code == 2 and "nonsense" in err
    engine.dispose()


def test_serve_runs_workers_by_default(start_gateway: Callable[..., GatewayProcess]) -> None:
    gateway = start_gateway({"GATEWAY_JOB_POLL_SECONDS": "0.2"})
    assert "probe jobs" in gateway.cli("jobs", "probe", "5").stdout
    deadline = time.monotonic() + 30
    while "probe 0 0 5 0" not in " ".join(gateway.cli("jobs").stdout.split()):
        assert time.monotonic() < deadline, gateway.log()
        time.sleep(0.2)
    gateway.stop()
    assert gateway.process.returncode == 0
