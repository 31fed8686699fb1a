"""Wiring of the native API's files from the settings: the SQL file store, the core
service, the expiry sweep. The routes come from ``gateway.api.files.FileRoutes``."""

from __future__ import annotations

from functools import partial

from adapters.sql.files import SqlFileStore
from adapters.sql.metadata import SqlMetadata
from gateway.core.files import FileLimits, Files, expire_files
from gateway.core.storage import Storage
from gateway.ports import DirectUploads
from gateway.settings import Settings, SettingsError


def file_store(storage: Storage) -> SqlFileStore:
    """The upload state in the storage's metadata database."""
    metadata = storage.metadata
    if not isinstance(metadata, SqlMetadata):
        raise TypeError("native-API files need the SQL metadata store")
    return SqlFileStore(metadata.engine)


def file_limits(settings: Settings) -> FileLimits:
    """The operator's limits on native-API uploads."""
    return FileLimits(
        max_file_size=settings.max_file_size,
        allowed_content_types=tuple(t.lower() for t in settings.allowed_content_types),
        quota_bytes=settings.user_quota_bytes,
        upload_expiry_seconds=float(settings.file_upload_expiry_seconds),
        url_ttl_seconds=settings.presigned_url_ttl_seconds,
    )


def direct_uploads(storage: Storage) -> DirectUploads | None:
    """The backend's direct uploads, when it offers them (an S3 backend)."""
    return storage.blobs if isinstance(storage.blobs, DirectUploads) else None


def open_files(settings: Settings, storage: Storage) -> Files:
    """The file service with the configured limits; parts go straight to the backend
    when ``api_direct_uploads`` is ``backend`` (SettingsError unless it is S3)."""
    direct = None
    if settings.api_direct_uploads == "backend":
        direct = direct_uploads(storage)
        if direct is None:
            raise SettingsError("api_direct_uploads = backend needs an S3 backend_url")
    return Files(storage, file_store(storage), file_limits(settings), direct)


def file_expiry_sweep(storage: Storage) -> partial[int]:
    """The sweep deleting expired native-API uploads, for ``UploadExpiry``."""
    return partial(expire_files, storage, file_store(storage), direct_uploads(storage))
