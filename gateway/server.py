"""Running the gateway: build the services from settings and serve both listeners."""

from __future__ import annotations

import gc
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cheroot.server import ChunkedRFile, HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Server as WSGIServer

from adapters.blob import open_blob_store
from adapters.sql.api_credentials import SqlApiCredentials
from adapters.sql.dav_locks import SqlLockStorage
from adapters.sql.dav_properties import SqlDeadProperties
from adapters.sql.engine import make_engine, migrate, needs_migration
from adapters.sql.metadata import SqlMetadata
from gateway.api.app import ApiApplication
from gateway.api.assembly import api_application
from gateway.core.keyring import Keyring
from gateway.core.pipeline.worker import Worker
from gateway.core.storage import Storage
from gateway.core.tree import FileTree
from gateway.core.upload_expiry import UploadExpiry
from gateway.dav.app import DavApplication
from gateway.dav.auth import DavAuthenticator
from gateway.health import HealthChecks
from gateway.http_app import HttpApplication, MetricsAccess, http_protocol
from gateway.metrics import Metrics, QueueLevel
from gateway.native_files import file_expiry_sweep
from gateway.records import JOB_QUEUED, JobStats
from gateway.s3.app import S3Application
from gateway.settings import Settings, master_key_bytes
from gateway.stop_signal import wait_for_stop_signal
from gateway.tls import ssl_adapter
from gateway.workers import (
    open_job_queue,
    scanner_from_settings,
    scanning_enabled,
    start_worker,
)
from gateway.wsgi_gateway import DirectWriteGateway

# How much of a chunked request body the application left unread is read and dropped
# before answering; a longer rest closes the connection instead.
CHUNKED_DRAIN_LIMIT = 1 << 20


def open_storage(settings: Settings, *, auto_migrate: bool = False) -> Storage:
    """The Storage service on the configured database and backend.

    With ``auto_migrate`` an empty or outdated database is migrated first.
    """
    engine = make_engine(settings.effective_database_url)
    if auto_migrate and needs_migration(engine):
        migrate(settings.effective_database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    master_key = master_key_bytes(settings)
    return Storage(
        SqlMetadata(engine, scanning=scanning_enabled(settings)),
        open_blob_store(settings.effective_backend_url),
        chunk_avg_size=settings.chunk_avg_size,
        compression_level=settings.compression_level,
        keyring=Keyring(master_key) if master_key is not None else None,
    )


@dataclass
class RunningGateway:
    """Both listeners, serving on background threads until ``stop``."""

    s3: WSGIServer
    http: WSGIServer
    threads: tuple[threading.Thread, ...]
    # The readiness checks /healthz runs and the metrics /metrics shows.
    health: HealthChecks
    metrics: Metrics
    # The periodic expiry of abandoned multipart uploads, None when expiry is off.
    expiry: UploadExpiry | None = None
    # The pipeline's worker threads, None when ``worker_threads`` is 0.
    worker: Worker | None = None

    def stop(self) -> None:
        """Stop accepting, finish requests and jobs in progress, and join the threads."""
        if self.expiry is not None:
            self.expiry.stop()
        if self.worker is not None:
            self.worker.stop()
        for server in (self.s3, self.http):
            server.stop()
        for thread in self.threads:
            thread.join(timeout=30)


def listener_tls(settings: Settings) -> BuiltinSSLAdapter | None:
    """The SSL adapter both listeners serve HTTPS with, or None when TLS is not configured.

    Raises TlsError (a SettingsError) when the configured pair cannot be served.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    return ssl_adapter(settings.tls_cert, settings.tls_key)


class _Request(HTTPRequest):
    """cheroot's request, finishing a chunked body the application did not read.

    cheroot reads the unread rest of a Content-Length body before it answers, but not of a
    chunked one (boto3 sends aws-chunked bodies with trailing checksums chunked over
    HTTPS): on a kept-alive connection that rest would be parsed as the next request.
    """

    def send_headers(self) -> None:
        """Drain or give up an unread chunked body, then send the headers as cheroot does."""
        if self.chunked_read and not self.close_connection and not drain_chunked(self.rfile):
            self.close_connection = True
        super().send_headers()


def drain_chunked(body: ChunkedRFile) -> bool:
    """Read ``body`` to its end if at most CHUNKED_DRAIN_LIMIT bytes are left; True if done."""
    drained = 0
    try:
        while drained <= CHUNKED_DRAIN_LIMIT:
            data = body.read(64 * 1024)
            if not data:
                return True
            drained += len(data)
    except (OSError, ValueError):
        return False
    return False


class _Connection(HTTPConnection):
    RequestHandlerClass = _Request


def _server(
    address: tuple[str, int], app: object, threads: int, tls: BuiltinSSLAdapter | None
) -> WSGIServer:
    server = WSGIServer(address, app, numthreads=threads, server_name="storage-gateway")
    # cheroot's 10 s socket timeout would cut off a client that pauses mid-upload (for
    # instance while it reads the next part from a slow disk); S3 itself waits minutes.
    server.timeout = 300
    server.ssl_adapter = tls
    server.ConnectionClass = _Connection
    server.gateway = DirectWriteGateway
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


def api_credentials(storage: Storage) -> SqlApiCredentials:
    """The native API's signing keys and refresh tokens, in ``storage``'s database."""
    metadata = storage.metadata
    if not isinstance(metadata, SqlMetadata):
        raise TypeError("the native API needs the SQL metadata store")
    return SqlApiCredentials(metadata.engine)


def native_api(settings: Settings, storage: Storage) -> ApiApplication:
    """The ``/v1`` API over ``storage``, with its credentials in the same database."""
    return api_application(settings, storage, api_credentials(storage))


def health_checks(settings: Settings, storage: Storage) -> HealthChecks:
    """The readiness checks of the components this process has: its database, its
    backend, the job queue, and the scanner when scanning is on."""
    health = HealthChecks(timeout=settings.health_timeout_seconds)
    health.register("database", storage.metadata.ping)
    health.register("backend", storage.blobs.ping)
    if isinstance(storage.metadata, SqlMetadata):
        queue = open_job_queue(settings, storage)
        # Not required: the queue lives in the metadata database, whose own check decides
        # readiness; this one reports the backlog and parked jobs.
        health.register("queue", lambda: queue_summary(queue.stats()), required=False)
    if scanning_enabled(settings):
        # Not required: uploads and reads go on while clamd is down; scans wait in the queue.
        health.register("scanner", scanner_from_settings(settings).ping, required=False)
    return health


def gateway_metrics(settings: Settings, storage: Storage) -> Metrics:
    """The process's metrics, with the storage totals and job queue levels of
    ``storage``'s database."""
    metrics = Metrics()
    metrics.watch_storage(storage.metadata.stats)
    if isinstance(storage.metadata, SqlMetadata):
        queue = open_job_queue(settings, storage)
        metrics.watch_queue(lambda: queue_levels(queue.stats()))
    return metrics


def queue_summary(stats: JobStats) -> str:
    """The queue check's detail: jobs waiting and parked (never failing on a backlog)."""
    waiting = sum(n for (_, state), n in stats.depth.items() if state == JOB_QUEUED)
    return f"{waiting} queued, {stats.failed} parked"


def queue_levels(stats: JobStats) -> dict[str, QueueLevel]:
    """The metrics' view of the queue: jobs waiting per kind (the oldest queued job's age
    is known for the queue as a whole only, so every kind with waiting jobs shows it)."""
    waiting: dict[str, int] = {}
    for (kind, state), count in stats.depth.items():
        if state == JOB_QUEUED:
            waiting[kind] = waiting.get(kind, 0) + count
    age = stats.oldest_queued_seconds or 0.0
    return {kind: QueueLevel(count, age if count else 0.0) for kind, count in waiting.items()}


def start(
    settings: Settings, storage: Storage, tls: BuiltinSSLAdapter | None = None
) -> RunningGateway:
    """Bind both listeners and serve them on background threads, over HTTPS with ``tls``.

    Every request of either listener is counted in the returned gateway's ``metrics``.
    """
    health = health_checks(settings, storage)
    metrics = gateway_metrics(settings, storage)
    s3 = _server(
        (settings.s3_listen.host, settings.s3_listen.port),
        metrics.instrument(S3Application(storage, settings), "s3"),
        settings.server_threads,
        tls,
    )
    http_app = HttpApplication(
        dav_application(settings, storage),
        native_api(settings, storage),
        health,
        metrics,
        MetricsAccess(settings.metrics_token),
    )
    http = _server(
        (settings.http_listen.host, settings.http_listen.port),
        metrics.instrument(http_app, http_protocol),
        settings.server_threads,
        tls,
    )
    for server in (s3, http):
        server.prepare()
    threads = tuple(
        threading.Thread(target=server.serve, name=name, daemon=True)
        for name, server in (("s3", s3), ("http", http))
    )
    for thread in threads:
        thread.start()
    # Native-API uploads expire by their own deadline, multipart uploads when configured.
    expiry = UploadExpiry(
        storage.metadata,
        settings.multipart_expiry_seconds or None,
        also=(file_expiry_sweep(storage),),
    )
    expiry.start()
    worker = start_worker(settings, storage, metrics=metrics) if settings.worker_threads else None
    return RunningGateway(s3, http, threads, health, metrics, expiry, worker)


def serve_forever(
    settings: Settings, storage: Storage, tls: BuiltinSSLAdapter | None = None
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly; over HTTPS with ``tls``."""
    running = start(settings, storage, tls)
    # Everything built so far (modules, SQLAlchemy mappers, wsgidav, pools) lives as long
    # as the process: keeping it out of the collector's generations saves every full
    # collection, which requests that allocate many objects (big listings) trigger, from
    # walking it again.
    gc.freeze()
    wait_for_stop_signal("shutting down")
    running.stop()
    storage.close()
