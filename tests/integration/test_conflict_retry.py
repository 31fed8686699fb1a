"""A write transaction PostgreSQL aborts to break a deadlock runs again, and succeeds."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from adapters.sql.engine import make_engine
from adapters.sql.repository import CONFLICT_ATTEMPTS, SqlRepository, retry_conflicts
from gateway.errors import TransactionConflictError


class Counters(SqlRepository):
    """Two rows that two writers update in opposite orders."""

    def __init__(self, url: str) -> None:
        super().__init__(make_engine(url))
        self.runs = 0
        self.crossing = threading.Barrier(2, timeout=30)
        with self._engine.begin() as connection:
            connection.execute(text("CREATE TABLE counters (id int PRIMARY KEY, n int)"))
            connection.execute(text("INSERT INTO counters VALUES (1, 0), (2, 0)"))

    def bump(self, first: int, second: int, *, cross: bool) -> None:
        """Add one to ``first`` and then to ``second`` in one transaction; with
        ``cross``, wait after the first update until the other writer made its own."""
        self.runs += 1
        with self._write() as session:
            bump = text("UPDATE counters SET n = n + 1 WHERE id = :id")
            session.execute(bump, {"id": first})
            if cross and self.runs <= 2:
                self.crossing.wait()
            session.execute(bump, {"id": second})

    def totals(self) -> list[int]:
        with self._engine.connect() as connection:
            return list(connection.execute(text("SELECT n FROM counters ORDER BY id")).scalars())


@pytest.fixture
def counters(postgres_url: str) -> Counters:
    return Counters(postgres_url)


def test_a_deadlocked_write_runs_again_and_both_commit(counters: Counters) -> None:
    bump = retry_conflicts(counters.bump)
    failures: list[BaseException] = []

    def writer(first: int, second: int) -> None:
        try:
            bump(first, second, cross=True)
        except BaseException as exc:  # surfaced by the test, which threads cannot fail
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, failures
    assert counters.runs == 3, "PostgreSQL aborted exactly one of the two crossed writers"
    assert counters.totals() == [2, 2], "each write counted once, the aborted run not at all"


def test_a_write_that_keeps_conflicting_gives_up() -> None:
    calls = 0

    @retry_conflicts
    def always_conflicting() -> None:
        nonlocal calls
        calls += 1
        raise TransactionConflictError("deadlock detected")

    with pytest.raises(TransactionConflictError):
        always_conflicting()
    assert calls == CONFLICT_ATTEMPTS
