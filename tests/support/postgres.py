"""Pytest plugin: a real PostgreSQL server for the session, and a fresh database per use.

Uses the server already listening on 127.0.0.1:5432 when there is one (trust or
password-less auth as user ``postgres``); otherwise initialises and starts a private
cluster on a free port with the Debian binaries and stops it at the end.

Fixtures:

``postgres_server`` (session)
    A SQLAlchemy URL prefix ``postgresql+psycopg://user@127.0.0.1:PORT`` of a live server.
``postgres_url`` (function)
    The URL of a newly created, empty database, dropped after the test.
``postgres_database_factory`` (session)
    Makes fresh databases that are dropped when the session ends (for
    session-scoped gateways, each of which needs a database of its own).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.net import free_port

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5432


def _listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _can_login(user: str, port: int) -> bool:
    try:
        with psycopg.connect(host=DEFAULT_HOST, port=port, user=user, dbname="postgres"):
            return True
    except psycopg.Error:
        return False


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (install Debian's postgresql)")
    return Path(found[-1]).parent


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server: the machine's on 5432 if usable, else a private one we start."""
    if _listening(DEFAULT_HOST, DEFAULT_PORT):
        for user in ("postgres", os.environ.get("USER", "root"), "root"):
            if _can_login(user, DEFAULT_PORT):
                yield f"postgresql+psycopg://{user}@{DEFAULT_HOST}:{DEFAULT_PORT}"
                return
    bin_dir = _binaries()
    data = tmp_path_factory.mktemp("pgdata")
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; run the private cluster as the postgres user.
        shutil.chown(data, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            *run_as,
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            DEFAULT_HOST,
            "-p",
            str(port),
            "-k",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _can_login("postgres", port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the private PostgreSQL server did not start")
            time.sleep(0.2)
        yield f"postgresql+psycopg://postgres@{DEFAULT_HOST}:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _create_database(server_url: str) -> tuple[str, str]:
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    with _admin_connection(server_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, f"{server_url}/{name}"


def _drop_database(server_url: str, name: str) -> None:
    with _admin_connection(server_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_connection(server_url: str) -> psycopg.Connection[tuple[object, ...]]:
    rest = server_url.split("://", 1)[1]
    user, _, hostport = rest.partition("@")
    host, _, port = hostport.partition(":")
    return psycopg.connect(host=host, port=int(port), user=user, dbname="postgres", autocommit=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh empty database for one test."""
    name, url = _create_database(postgres_server)
    yield url
    _drop_database(postgres_server, name)


@pytest.fixture(scope="session")
def postgres_database_factory(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Make fresh empty databases that live until the session ends; returns their URLs."""
    created: list[str] = []

    def make() -> str:
        name, url = _create_database(postgres_server)
        created.append(name)
        return url

    yield make
    for name in created:
        _drop_database(postgres_server, name)
