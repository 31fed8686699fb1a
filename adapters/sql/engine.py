"""Engine creation for SQLite and PostgreSQL, and schema migration through Alembic."""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Kept inside the package tree so an installed gateway finds its migrations too.
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and explicit BEGIN control.

    pysqlite's own transaction handling defers BEGIN until the first write, so two writers
    can both read and then fail to upgrade their locks. We emit BEGIN ourselves:
    ``BEGIN IMMEDIATE`` when the connection carries the ``sqlite_immediate`` option (write
    transactions), plain ``BEGIN`` otherwise.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITER_LOCKS_GUARD = threading.Lock()


def writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    """What a write transaction on ``engine`` holds from before its BEGIN until after its
    COMMIT: on SQLite one lock per engine, so this process's writers queue here and each
    starts the moment the previous one ends, instead of polling SQLite's busy handler,
    which sleeps for milliseconds at a time; other databases lock rows, not the
    database, and get no lock. Re-entrant, as a nested write fails on SQLite anyway."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(engine, threading.RLock())


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    For SQLite the parent directory of the database file is created when missing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=False)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def alembic_config(url: str) -> Config:
    """An Alembic configuration bound to ``url`` that finds the project's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def needs_migration(engine: Engine) -> bool:
    """Tell whether the database is empty or behind the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return True
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) != set(script.get_heads())
