"""The gateway's one typed settings object.

Precedence, lowest to highest: embedded defaults, the TOML file
(``config/gateway.toml`` when present, or the file named by ``--config`` /
``GATEWAY_CONFIG``), ``GATEWAY_*`` environment variables, command-line flags.
Settings are read once at start-up and never change afterwards.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gateway.core.keyring import MasterKeyError, parse_master_key
from gateway.core.scanning import OversizePolicy

DEFAULT_CONFIG_FILE = Path("config/gateway.toml")
# clamd (ClamAV 1.4) scans no file over 2 GiB - 3 bytes, whatever its MaxFileSize says;
# objects larger than scan_max_bytes are never sent to it (docs/scanning.md).
CLAMD_MAX_FILE_SIZE = 2**31 - 3
# Matches the clamd configuration docs/scanning.md recommends (StreamMaxLength and
# MaxFileSize 2000M): within clamd's hard limit, with room to spare.
DEFAULT_SCAN_MAX_BYTES = 2000 * 1024 * 1024
# Shortest metrics token accepted: a guessable token would open the metrics to anyone.
MIN_TOKEN_LENGTH = 16
# The algorithms the native API's signing keys may use (gateway.api.signing_keys).
SIGNING_ALGORITHMS = ("Ed25519", "RS256")


class SettingsError(ValueError):
    """A setting has a value the gateway cannot use."""


@dataclass(frozen=True)
class Listen:
    """A TCP address to listen on."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listen:
        """Parse ``host:port`` (``[v6]:port`` for IPv6); raise SettingsError when malformed."""
        host, sep, port = text.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise SettingsError(f"listen address must be HOST:PORT, got {text!r}")
        return cls(host.strip("[]"), int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class AdminCredentials:
    """Admin identity forced by the environment; unset fields are generated or kept."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be configured with."""

    data_dir: Path = Path("data")
    s3_listen: Listen = Listen("127.0.0.1", 9000)
    http_listen: Listen = Listen("127.0.0.1", 8080)
    database_url: str | None = None
    backend_url: str | None = None
    region: str = "us-east-1"
    # Host names under which buckets are addressed virtual-hosted style
    # (``bucket.s3.example.com``); path style always works.
    s3_domains: tuple[str, ...] = ("localhost",)
    chunk_avg_size: int = 1 << 20
    compression_level: int = 3
    gc_grace_seconds: int = 3600
    # Multipart uploads older than this are aborted (their chunks then collected by GC);
    # 0 keeps them forever.
    multipart_expiry_seconds: int = 7 * 24 * 3600
    max_clock_skew_seconds: int = 900
    server_threads: int = 32
    # PEM certificate (chain) and its private key: both set, both listeners speak HTTPS.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Encryption at rest: 32 bytes in hex or base64, given inline or in a file (not both).
    master_key: str | None = field(default=None, repr=False)
    master_key_file: Path | None = None
    # Pipeline jobs (docs/jobs.md): worker threads inside ``gateway serve`` (0: none), how
    # long a claimed job stays leased without renewal, how often idle workers poll, the
    # retry back-off (base doubling per failure, capped), and how long done jobs are kept
    # (0: forever).
    worker_threads: int = 2
    job_lease_seconds: float = 300.0
    job_poll_seconds: float = 1.0
    job_retry_base_seconds: float = 2.0
    job_retry_cap_seconds: float = 600.0
    job_retention_seconds: float = 7 * 24 * 3600.0
    # Malware scanner: "none" (scanning disabled), "clamd:///path/to/clamd.sock" or
    # "clamd://host:port" (docs/scanning.md).
    scanner_url: str = "none"
    # Objects larger than this are not sent to the scanner: the oversize policy applies.
    scan_max_bytes: int = DEFAULT_SCAN_MAX_BYTES
    scan_oversize_policy: OversizePolicy = OversizePolicy.QUARANTINE
    # Bearer token that reads /metrics from anywhere; without one, only loopback clients may.
    metrics_token: str | None = field(default=None, repr=False)
    # How long /healthz waits for each component's check before calling it failed.
    health_timeout_seconds: float = 2.0
    # Native-API uploads (docs/api.md, "Files"): the largest file one may announce, the
    # media types allowed ("type/subtype" or "type/*"; none listed: all), the bytes each
    # user may hold, stored plus announced (0: no quota), how long an upload may wait for
    # its finalize before its parts are deleted, and how long a pre-signed URL is valid.
    max_file_size: int = 5 * 1024**4
    allowed_content_types: tuple[str, ...] = ()
    user_quota_bytes: int = 0
    file_upload_expiry_seconds: int = 24 * 3600
    presigned_url_ttl_seconds: int = 3600
    # "gateway": parts go through the gateway's signed part route; "backend": clients
    # reach the S3 backend, and parts go straight to it (pre-signed UploadPart URLs at
    # the backend URL's public_endpoint_url, else its endpoint_url).
    api_direct_uploads: str = "gateway"
    # Native API (docs/api.md): the issuer and audience of its access tokens, how long
    # access and refresh tokens live, and the algorithm of newly made signing keys.
    api_issuer: str = "storage-gateway"
    api_audience: str = "storage-gateway-api"
    api_access_token_seconds: int = 900
    api_refresh_token_seconds: int = 30 * 24 * 3600
    api_signing_algorithm: str = "Ed25519"
    admin: AdminCredentials = AdminCredentials()

    @property
    def url_scheme(self) -> str:
        """``https`` when TLS is configured, else ``http``; the same for both listeners."""
        return "https" if self.tls_cert is not None else "http"

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or SQLite under the data directory."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @property
    def effective_backend_url(self) -> str:
        """The backend bucket URL: the configured one, or a directory under the data directory."""
        return self.backend_url or (self.data_dir / "blobs").resolve().as_uri()


# Environment variable -> settings field. These names are public interface.
ENVIRONMENT = {
    "GATEWAY_DATA_DIR": "data_dir",
    "GATEWAY_S3_LISTEN": "s3_listen",
    "GATEWAY_HTTP_LISTEN": "http_listen",
    "GATEWAY_DATABASE_URL": "database_url",
    "GATEWAY_BACKEND_URL": "backend_url",
    "GATEWAY_REGION": "region",
    "GATEWAY_S3_DOMAINS": "s3_domains",
    "GATEWAY_CHUNK_AVG_SIZE": "chunk_avg_size",
    "GATEWAY_COMPRESSION_LEVEL": "compression_level",
    "GATEWAY_GC_GRACE_SECONDS": "gc_grace_seconds",
    "GATEWAY_MULTIPART_EXPIRY_SECONDS": "multipart_expiry_seconds",
    "GATEWAY_SERVER_THREADS": "server_threads",
    "GATEWAY_TLS_CERT": "tls_cert",
    "GATEWAY_TLS_KEY": "tls_key",
    "GATEWAY_MASTER_KEY": "master_key",
    "GATEWAY_MASTER_KEY_FILE": "master_key_file",
    "GATEWAY_WORKER_THREADS": "worker_threads",
    "GATEWAY_JOB_LEASE_SECONDS": "job_lease_seconds",
    "GATEWAY_JOB_POLL_SECONDS": "job_poll_seconds",
    "GATEWAY_JOB_RETRY_BASE_SECONDS": "job_retry_base_seconds",
    "GATEWAY_JOB_RETRY_CAP_SECONDS": "job_retry_cap_seconds",
    "GATEWAY_JOB_RETENTION_SECONDS": "job_retention_seconds",
    "GATEWAY_SCANNER_URL": "scanner_url",
    "GATEWAY_SCAN_MAX_BYTES": "scan_max_bytes",
    "GATEWAY_SCAN_OVERSIZE_POLICY": "scan_oversize_policy",
    "GATEWAY_METRICS_TOKEN": "metrics_token",
    "GATEWAY_HEALTH_TIMEOUT_SECONDS": "health_timeout_seconds",
    "GATEWAY_MAX_FILE_SIZE": "max_file_size",
    "GATEWAY_ALLOWED_CONTENT_TYPES": "allowed_content_types",
    "GATEWAY_USER_QUOTA_BYTES": "user_quota_bytes",
    "GATEWAY_FILE_UPLOAD_EXPIRY_SECONDS": "file_upload_expiry_seconds",
    "GATEWAY_PRESIGNED_URL_TTL_SECONDS": "presigned_url_ttl_seconds",
    "GATEWAY_API_DIRECT_UPLOADS": "api_direct_uploads",
    "GATEWAY_API_ISSUER": "api_issuer",
    "GATEWAY_API_AUDIENCE": "api_audience",
    "GATEWAY_API_ACCESS_TOKEN_SECONDS": "api_access_token_seconds",
    "GATEWAY_API_REFRESH_TOKEN_SECONDS": "api_refresh_token_seconds",
    "GATEWAY_API_SIGNING_ALGORITHM": "api_signing_algorithm",
}
ADMIN_ENVIRONMENT = {
    "GATEWAY_ADMIN_USER": "user",
    "GATEWAY_ADMIN_PASSWORD": "password",
    "GATEWAY_ADMIN_ACCESS_KEY": "access_key",
    "GATEWAY_ADMIN_SECRET_KEY": "secret_key",
}


def _convert(name: str, value: Any) -> Any:
    """Coerce a raw TOML / environment / CLI value to the type of field ``name``."""
    try:
        if name == "data_dir":
            return Path(str(value))
        if name in ("tls_cert", "tls_key", "master_key_file"):
            return Path(str(value)) if value else None
        if name in ("s3_listen", "http_listen"):
            return Listen.parse(str(value))
        if name in ("s3_domains", "allowed_content_types"):
            items = value if isinstance(value, list) else str(value).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        if name in (
            "chunk_avg_size",
            "compression_level",
            "gc_grace_seconds",
            "multipart_expiry_seconds",
            "max_clock_skew_seconds",
            "server_threads",
            "worker_threads",
            "scan_max_bytes",
            "max_file_size",
            "user_quota_bytes",
            "file_upload_expiry_seconds",
            "presigned_url_ttl_seconds",
            "api_access_token_seconds",
            "api_refresh_token_seconds",
        ):
            return int(value)
        if name.startswith("job_") and name.endswith("_seconds"):
            number = float(value)
            if not math.isfinite(number):
                raise ValueError("not a finite number")
            return number
        if name == "scan_oversize_policy":
            policies = {policy.value: policy for policy in OversizePolicy}
            text = str(value).strip().lower()
            if text not in policies:
                raise ValueError(f"expected one of {', '.join(policies)}")
            return policies[text]
        if name == "scanner_url":
            return str(value).strip() or "none"
        if name == "health_timeout_seconds":
            return float(value)
        if name == "api_signing_algorithm":
            if str(value) not in SIGNING_ALGORITHMS:
                raise ValueError(f"expected one of {', '.join(SIGNING_ALGORITHMS)}")
            return str(value)
        return None if value in ("", None) else str(value)
    except (TypeError, ValueError) as exc:
        shown = "(hidden)" if name in ("master_key", "metrics_token") else repr(value)
        raise SettingsError(f"invalid value for {name}: {shown} ({exc})") from exc


def _validate(settings: Settings) -> Settings:
    if not 64 * 1024 <= settings.chunk_avg_size <= 16 * 1024 * 1024:
        raise SettingsError("chunk_avg_size must be between 64 KiB and 16 MiB")
    if not 1 <= settings.compression_level <= 19:
        raise SettingsError("compression_level must be between 1 and 19")
    if settings.gc_grace_seconds < 0 or settings.server_threads < 1:
        raise SettingsError("gc_grace_seconds must be >= 0 and server_threads >= 1")
    if settings.multipart_expiry_seconds < 0:
        raise SettingsError("multipart_expiry_seconds must be >= 0 (0: never expire)")
    if settings.worker_threads < 0:
        raise SettingsError("worker_threads must be >= 0 (0: no workers inside serve)")
    if min(settings.job_lease_seconds, settings.job_poll_seconds) <= 0:
        raise SettingsError("job_lease_seconds and job_poll_seconds must be > 0")
    if not 0 < settings.job_retry_base_seconds <= settings.job_retry_cap_seconds:
        raise SettingsError("job retry back-off needs 0 < job_retry_base_seconds <= cap")
    if settings.job_retention_seconds < 0:
        raise SettingsError("job_retention_seconds must be >= 0 (0: keep done jobs)")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise SettingsError(
            "TLS needs both a certificate and its key: set tls_cert and tls_key together "
            "(--tls-cert / GATEWAY_TLS_CERT and --tls-key / GATEWAY_TLS_KEY)"
        )
    if settings.api_direct_uploads not in ("gateway", "backend"):
        raise SettingsError("api_direct_uploads must be 'gateway' or 'backend'")
    if min(settings.max_file_size, settings.user_quota_bytes) < 0:
        raise SettingsError("max_file_size and user_quota_bytes must be >= 0")
    if min(settings.file_upload_expiry_seconds, settings.presigned_url_ttl_seconds) < 1:
        raise SettingsError(
            "file_upload_expiry_seconds and presigned_url_ttl_seconds must be at least 1"
        )
    if not 0 < settings.health_timeout_seconds <= 60:
        raise SettingsError("health_timeout_seconds must be more than 0 and at most 60")
    if settings.metrics_token is not None and len(settings.metrics_token) < MIN_TOKEN_LENGTH:
        raise SettingsError(f"metrics_token must be at least {MIN_TOKEN_LENGTH} characters long")
    if not 60 <= settings.api_access_token_seconds <= 24 * 3600:
        raise SettingsError("api_access_token_seconds must be between 60 and 86400")
    if settings.api_refresh_token_seconds < settings.api_access_token_seconds:
        raise SettingsError("api_refresh_token_seconds must be >= api_access_token_seconds")
    master_key_bytes(settings)
    _validate_scanning(settings)
    return settings


def _validate_scanning(settings: Settings) -> None:
    url = settings.scanner_url
    if url != "none" and not url.startswith("clamd://"):
        raise SettingsError(
            f"scanner_url must be none, clamd:///path/to/clamd.sock or clamd://host:port, "
            f"got {url!r}"
        )
    if not 1 <= settings.scan_max_bytes <= CLAMD_MAX_FILE_SIZE:
        raise SettingsError(
            f"scan_max_bytes must be between 1 and {CLAMD_MAX_FILE_SIZE} (clamd scans no "
            f"file over 2 GiB - 3 bytes), got {settings.scan_max_bytes}"
        )


def master_key_bytes(settings: Settings) -> bytes | None:
    """The master key's 32 bytes (read from ``master_key_file`` if that is how it is
    given), or None when encryption at rest is off; SettingsError when it is unusable."""
    if settings.master_key is not None and settings.master_key_file is not None:
        raise SettingsError("set master_key or master_key_file, not both")
    text = settings.master_key
    if settings.master_key_file is not None:
        try:
            text = settings.master_key_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"cannot read master_key_file {settings.master_key_file}: {exc}"
            ) from exc
    if text is None:
        return None
    try:
        return parse_master_key(text)
    except MasterKeyError as exc:
        raise SettingsError(f"invalid master key: {exc}") from None


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from defaults, file, environment and ``overrides`` (CLI flags).

    ``config_file`` None means ``GATEWAY_CONFIG`` or ``config/gateway.toml`` if it exists;
    a file that was named explicitly must exist. Unknown keys in the file are an error,
    so a typo never passes silently.
    """
    env = os.environ if environ is None else environ
    explicit = config_file or (Path(env["GATEWAY_CONFIG"]) if env.get("GATEWAY_CONFIG") else None)
    path = explicit or DEFAULT_CONFIG_FILE
    values: dict[str, Any] = {}
    admin: dict[str, Any] = {}
    if explicit is not None or path.exists():
        try:
            with path.open("rb") as handle:
                document = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read {path}: {exc}") from exc
        admin.update(document.pop("admin", {}))
        values.update(document)
    known = {f.name for f in fields(Settings)} - {"admin"}
    unknown = set(values) - known
    if unknown:
        raise SettingsError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    for variable, name in ENVIRONMENT.items():
        if env.get(variable):
            values[name] = env[variable]
    for variable, name in ADMIN_ENVIRONMENT.items():
        if env.get(variable):
            admin[name] = env[variable]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    converted = {name: _convert(name, value) for name, value in values.items()}
    try:
        admin_credentials = AdminCredentials(**{k: str(v) for k, v in admin.items()})
    except TypeError as exc:
        raise SettingsError(f"unknown [admin] setting: {exc}") from exc
    return _validate(dataclasses.replace(Settings(), admin=admin_credentials, **converted))
