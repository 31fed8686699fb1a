"""What every SQL repository of the gateway shares: transactions and key-prefix ranges."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from adapters.sql.engine import writer_lock
from gateway.core.names import key_successor


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

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A read transaction on a plain connection, for pre-built Core statements."""
        with self._engine.connect() as connection:
            yield connection

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        """A write transaction on a plain connection, for pre-built Core statements."""
        with self._writer_lock, self._write_engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with (
            self._writer_lock,
            Session(self._write_engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session
