"""What every SQL repository of the gateway shares: transactions and key-prefix ranges."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from adapters.sql.change_feed import take_appended
from adapters.sql.engine import writer_lock
from gateway.core.names import key_successor
from gateway.errors import TransactionConflictError

# PostgreSQL's SQLSTATEs of a transaction aborted for a concurrent one's sake:
# serialization_failure and deadlock_detected.
_CONFLICT_STATES = frozenset({"40001", "40P01"})
# How often a write aborted by such a conflict is run in all, and the first pause before
# running it again (doubled, with jitter, before each further run).
CONFLICT_ATTEMPTS = 5
_FIRST_PAUSE_SECONDS = 0.005

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextmanager
def _conflicts_as_retryable() -> Iterator[None]:
    """Turn the database's abort of a deadlocked or conflicting transaction into
    TransactionConflictError: nothing was committed, and a retry may succeed."""
    try:
        yield
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) in _CONFLICT_STATES:
            raise TransactionConflictError(str(error.orig).splitlines()[0]) from error
        raise


def retry_conflicts(write: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``write``, one write transaction, again from the start when the database
    aborted it to break a deadlock or a serialization conflict: nothing of it was
    committed, so running it again is safe. After ``CONFLICT_ATTEMPTS`` runs the
    TransactionConflictError reaches the caller (a retryable refusal, S3's SlowDown).

    Writers that lock chunk rows do so in id order, but a commit raises the counts of its
    new chunks before it knows which ones the version it replaces releases, so two
    commits may still lock crosswise; PostgreSQL then aborts one of them.
    """

    @functools.wraps(write)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        for attempt in range(1, CONFLICT_ATTEMPTS):
            try:
                return write(*args, **kwargs)
            except TransactionConflictError:
                time.sleep(random.uniform(0.5, 1.0) * _FIRST_PAUSE_SECONDS * 2**attempt)
        return write(*args, **kwargs)

    return run


def starts_with(column: Any, prefix: str) -> list[Any]:
    """Conditions selecting the rows whose ``column`` starts with ``prefix``, as an index
    range (``prefix <= column < successor``) rather than a LIKE; none for ""."""
    if not prefix:
        return []
    conditions = [column >= prefix]
    upper = key_successor(prefix)
    if upper is not None:
        conditions.append(column < upper)
    return conditions


class SqlRepository:
    """A repository over one engine; each ``_read``/``_write`` block is one transaction.

    Writers start with ``BEGIN IMMEDIATE`` on SQLite, so two writers never deadlock on a
    lock upgrade; other databases ignore the option.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(sqlite_immediate=True)
        self._writer_lock = writer_lock(engine)
        self._change_listeners: list[Callable[[], None]] = []

    def add_change_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each commit of this repository that appended changes."""
        self._change_listeners.append(listener)

    def _committed(self) -> None:
        """After a write transaction committed: tell the listeners if it appended changes."""
        if take_appended():
            for listener in self._change_listeners:
                listener()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A read transaction on a plain connection, for pre-built Core statements."""
        with self._engine.connect() as connection:
            yield connection

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """What surrounds every write transaction: this process's writer lock, conflicts
        turned retryable, and the change listeners told once it committed."""
        take_appended()
        with _conflicts_as_retryable(), self._writer_lock:
            yield
        self._committed()

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        """A write transaction on a plain connection, for pre-built Core statements."""
        with self._writing(), self._write_engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with (
            self._writing(),
            Session(self._write_engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session
