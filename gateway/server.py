"""Running the gateway: build the services from settings and serve both listeners."""

from __future__ import annotations

import logging
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import unquote, urlsplit

from cheroot.wsgi import Server as WSGIServer

from adapters.blob import open_blob_store
from adapters.sql.dav_locks import SqlLockStorage
from adapters.sql.dav_properties import SqlDeadProperties
from adapters.sql.engine import make_engine, migrate, needs_migration
from adapters.sql.metadata import SqlMetadata
from gateway.core.storage import Storage
from gateway.core.tree import FileTree
from gateway.dav.app import DavApplication
from gateway.dav.auth import DavAuthenticator
from gateway.http_app import HttpApplication
from gateway.s3.app import S3Application
from gateway.settings import Settings

log = logging.getLogger("gateway")


def open_storage(settings: Settings, *, auto_migrate: bool = False) -> Storage:
    """The Storage service on the configured database and backend.

    With ``auto_migrate`` an empty or outdated database is migrated first.
    """
    engine = make_engine(settings.effective_database_url)
    if auto_migrate and needs_migration(engine):
        migrate(settings.effective_database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Storage(
        SqlMetadata(engine),
        open_blob_store(settings.effective_backend_url),
        chunk_avg_size=settings.chunk_avg_size,
        compression_level=settings.compression_level,
    )


@dataclass
class RunningGateway:
    """Both listeners, serving on background threads until ``stop``."""

    s3: WSGIServer
    http: WSGIServer
    threads: tuple[threading.Thread, ...]

    def stop(self) -> None:
        """Stop accepting, finish requests in progress, and join the threads."""
        for server in (self.s3, self.http):
            server.stop()
        for thread in self.threads:
            thread.join(timeout=30)


def _server(address: tuple[str, int], app: object, threads: int) -> WSGIServer:
    server = WSGIServer(address, app, numthreads=threads, server_name="storage-gateway")
    # cheroot's 10 s socket timeout would cut off a client that pauses mid-upload (for
    # instance while it reads the next part from a slow disk); S3 itself waits minutes.
    server.timeout = 300
    return server


def _free_space(backend_url: str) -> Callable[[], int | None]:
    """Free bytes where a local backend keeps its files; unknown (None) for S3 backends."""
    parsed = urlsplit(backend_url)
    if parsed.scheme != "file":
        return lambda: None
    directory = Path(unquote(parsed.path))

    def free() -> int | None:
        try:
            return shutil.disk_usage(directory).free
        except OSError:
            return None

    return free


def dav_application(settings: Settings, storage: Storage) -> DavApplication:
    """The WebDAV front end over ``storage``, with locks and properties in its database."""
    metadata = storage.metadata
    if not isinstance(metadata, SqlMetadata):
        raise TypeError("WebDAV locks and properties need the SQL metadata store")
    return DavApplication(
        FileTree(storage),
        SqlDeadProperties(metadata.engine),
        SqlLockStorage(metadata.engine),
        DavAuthenticator(metadata),
        _free_space(settings.effective_backend_url),
    )


def start(settings: Settings, storage: Storage) -> RunningGateway:
    """Bind both listeners and serve them on background threads."""
    s3 = _server(
        (settings.s3_listen.host, settings.s3_listen.port),
        S3Application(storage, settings),
        settings.server_threads,
    )
    http = _server(
        (settings.http_listen.host, settings.http_listen.port),
        HttpApplication(storage, dav_application(settings, storage)),
        settings.server_threads,
    )
    for server in (s3, http):
        server.prepare()
    threads = tuple(
        threading.Thread(target=server.serve, name=name, daemon=True)
        for name, server in (("s3", s3), ("http", http))
    )
    for thread in threads:
        thread.start()
    return RunningGateway(s3, http, threads)


def serve_forever(settings: Settings, storage: Storage) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly."""
    running = start(settings, storage)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d, shutting down", signum)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stopping.wait()
    running.stop()
    storage.close()
