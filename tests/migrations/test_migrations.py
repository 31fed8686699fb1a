"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from adapters.sql.engine import alembic_config, make_engine, migrate, needs_migration
from adapters.sql.models import Base

TABLES = {
    "users",
    "access_keys",
    "buckets",
    "objects",
    "versions",
    "manifests",
    "manifest_entries",
    "chunks",
    "multipart_uploads",
    "parts",
    "change_feed",
    "audit_log",
    "api_tokens",
    "dav_properties",
    "dav_locks",
    "jobs",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_upgrade_creates_the_model_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    assert needs_migration(engine)
    migrate(database_url)
    assert not needs_migration(engine)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) >= TABLES
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    engine.dispose()


def test_downgrade_to_base_and_back(database_url: str) -> None:
    migrate(database_url)
    command.downgrade(alembic_config(database_url), "base")
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert not TABLES & set(inspect(connection).get_table_names())
    migrate(database_url)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) >= TABLES
    engine.dispose()


def test_migrate_is_idempotent(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)
    assert not needs_migration(make_engine(database_url))
