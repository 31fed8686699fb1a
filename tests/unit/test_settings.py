"""Settings: defaults, TOML file, GATEWAY_* environment and CLI overrides, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.scanning import OversizePolicy
from gateway.settings import Listen, SettingsError, load_settings


def test_embedded_defaults_need_no_file(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    assert settings.s3_listen == Listen("127.0.0.1", 9000)
    assert settings.http_listen == Listen("127.0.0.1", 8080)
    assert settings.data_dir == Path("data")
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("data/gateway.db")
    assert settings.effective_backend_url.startswith("file:///")


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        'data_dir = "/srv/file"\ns3_listen = "0.0.0.0:9100"\nregion = "eu-west-1"\n'
        '[admin]\nuser = "root-from-file"\n'
    )
    environ = {
        "GATEWAY_DATA_DIR": "/srv/env",
        "GATEWAY_HTTP_LISTEN": "127.0.0.1:18080",
        "GATEWAY_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "GATEWAY_BACKEND_URL": "s3://bucket/prefix?endpoint_url=http://127.0.0.1:9999",
        "GATEWAY_ADMIN_ACCESS_KEY": "AKIAEXAMPLE",
        "GATEWAY_ADMIN_SECRET_KEY": "s3cr3t",
        "GATEWAY_ADMIN_PASSWORD": "pw",
    }
    settings = load_settings(config, environ=environ, overrides={"s3_listen": "127.0.0.1:9200"})
    assert settings.data_dir == Path("/srv/env")
    assert settings.s3_listen == Listen("127.0.0.1", 9200)
    assert settings.http_listen == Listen("127.0.0.1", 18080)
    assert settings.region == "eu-west-1"
    assert settings.effective_database_url == "postgresql+psycopg://u@h/db"
    assert settings.effective_backend_url.startswith("s3://bucket/prefix")
    assert settings.admin.user == "root-from-file"
    assert settings.admin.access_key == "AKIAEXAMPLE"
    assert settings.admin.secret_key == "s3cr3t"
    assert "s3cr3t" not in repr(settings) and "'pw'" not in repr(settings)


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "other.toml"
    config.write_text("compression_level = 9\n")
    assert load_settings(environ={"GATEWAY_CONFIG": str(config)}).compression_level == 9


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("no_such_setting = 1\n", "unknown settings"),
        ('s3_listen = "nonsense"\n', "HOST:PORT"),
        ("chunk_avg_size = 10\n", "chunk_avg_size"),
        ("compression_level = 99\n", "compression_level"),
        ("this is = not toml = at all\n", "cannot read"),
    ],
)
def test_bad_files_are_rejected_clearly(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(SettingsError, match=message):
        load_settings(config, environ={})


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        load_settings(tmp_path / "missing.toml", environ={})


def test_ipv6_listen_address() -> None:
    assert Listen.parse("[::1]:9000") == Listen("::1", 9000)
    assert str(Listen("::1", 9000)) == "[::1]:9000"


def test_shipped_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "gateway.toml"
    settings = load_settings(example, environ={})
    assert settings.s3_listen == Listen("127.0.0.1", 9000)


def test_tls_pair_from_file_environment_and_flags(tmp_path: Path) -> None:
    assert load_settings(None, environ={}).url_scheme == "http"
    config = tmp_path / "tls.toml"
    config.write_text('tls_cert = "/etc/file/cert.pem"\ntls_key = "/etc/file/key.pem"\n')
    from_file = load_settings(config, environ={})
    assert (from_file.tls_cert, from_file.tls_key) == (
        Path("/etc/file/cert.pem"),
        Path("/etc/file/key.pem"),
    )
    assert from_file.url_scheme == "https"
    environ = {"GATEWAY_TLS_CERT": "env/cert.pem", "GATEWAY_TLS_KEY": "env/key.pem"}
    from_environment = load_settings(config, environ=environ, overrides={"tls_key": "flag.pem"})
    assert from_environment.tls_cert == Path("env/cert.pem")
    assert from_environment.tls_key == Path("flag.pem")


@pytest.mark.parametrize(
    "environ", [{"GATEWAY_TLS_CERT": "cert.pem"}, {"GATEWAY_TLS_KEY": "key.pem"}]
)
def test_tls_needs_certificate_and_key_together(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="both a certificate and its key"):
        load_settings(None, environ=environ)


def test_job_settings_defaults_file_and_environment(tmp_path: Path) -> None:
    defaults = load_settings(None, environ={})
    assert defaults.worker_threads == 2
    assert (defaults.job_lease_seconds, defaults.job_poll_seconds) == (300.0, 1.0)
    assert (defaults.job_retry_base_seconds, defaults.job_retry_cap_seconds) == (2.0, 600.0)
    assert defaults.job_retention_seconds == 7 * 24 * 3600
    config = tmp_path / "jobs.toml"
    config.write_text("worker_threads = 4\njob_lease_seconds = 60\n")
    environ = {
        "GATEWAY_WORKER_THREADS": "0",
        "GATEWAY_JOB_POLL_SECONDS": "0.25",
        "GATEWAY_JOB_RETRY_BASE_SECONDS": "0.5",
        "GATEWAY_JOB_RETRY_CAP_SECONDS": "30",
        "GATEWAY_JOB_RETENTION_SECONDS": "0",
    }
    settings = load_settings(config, environ=environ)
    assert settings.worker_threads == 0 and settings.job_lease_seconds == 60.0
    assert settings.job_poll_seconds == 0.25
    assert (settings.job_retry_base_seconds, settings.job_retry_cap_seconds) == (0.5, 30.0)
    assert settings.job_retention_seconds == 0


def test_scanning_defaults_disable_scanning() -> None:
    settings = load_settings(None, environ={})
    assert settings.scanner_url == "none"
    assert settings.scan_max_bytes == 2000 * 1024 * 1024
    assert settings.scan_oversize_policy is OversizePolicy.QUARANTINE


def test_scanning_from_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "scan.toml"
    config.write_text(
        'scanner_url = "clamd:///run/clamav/clamd.ctl"\n'
        "scan_max_bytes = 1048576\n"
        'scan_oversize_policy = "flag"\n'
    )
    from_file = load_settings(config, environ={})
    assert from_file.scanner_url == "clamd:///run/clamav/clamd.ctl"
    assert from_file.scan_max_bytes == 1 << 20
    assert from_file.scan_oversize_policy is OversizePolicy.FLAG
    environ = {
        "GATEWAY_SCANNER_URL": "clamd://127.0.0.1:3310",
        "GATEWAY_SCAN_MAX_BYTES": "2147483645",
        "GATEWAY_SCAN_OVERSIZE_POLICY": "Quarantine",
    }
    from_environment = load_settings(config, environ=environ)
    assert from_environment.scanner_url == "clamd://127.0.0.1:3310"
    assert from_environment.scan_max_bytes == 2**31 - 3
    assert from_environment.scan_oversize_policy is OversizePolicy.QUARANTINE


def test_metrics_token_and_health_timeout_from_file_and_environment(tmp_path: Path) -> None:
    defaults = load_settings(None, environ={})
    assert defaults.metrics_token is None
    assert defaults.health_timeout_seconds == 2.0
    config = tmp_path / "gateway.toml"
    config.write_text('metrics_token = "from-the-file-0123456"\nhealth_timeout_seconds = 5\n')
    from_file = load_settings(config, environ={})
    assert from_file.metrics_token == "from-the-file-0123456"
    assert from_file.health_timeout_seconds == 5.0
    environ = {
        "GATEWAY_METRICS_TOKEN": "from-the-environment",
        "GATEWAY_HEALTH_TIMEOUT_SECONDS": "0.5",
    }
    from_environment = load_settings(config, environ=environ)
    assert from_environment.metrics_token == "from-the-environment"
    assert from_environment.health_timeout_seconds == 0.5
    assert "from-the-environment" not in repr(from_environment)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GATEWAY_WORKER_THREADS": "-1"}, "worker_threads"),
        ({"GATEWAY_WORKER_THREADS": "two"}, "worker_threads"),
        ({"GATEWAY_JOB_LEASE_SECONDS": "0"}, "job_lease_seconds"),
        ({"GATEWAY_JOB_POLL_SECONDS": "nan"}, "job_poll_seconds"),
        ({"GATEWAY_JOB_RETRY_BASE_SECONDS": "900"}, "back-off"),
        ({"GATEWAY_JOB_RETENTION_SECONDS": "-5"}, "job_retention_seconds"),
    ],
)
def test_bad_job_settings_are_rejected(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(None, environ=environ)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GATEWAY_SCANNER_URL": "clamav://localhost"}, "scanner_url must be none, clamd:///"),
        ({"GATEWAY_SCANNER_URL": "/run/clamd.sock"}, "scanner_url must be none, clamd:///"),
        ({"GATEWAY_SCAN_MAX_BYTES": "0"}, "scan_max_bytes must be between 1 and 2147483645"),
        ({"GATEWAY_SCAN_MAX_BYTES": "4194304000"}, "clamd scans no file over 2 GiB"),
        ({"GATEWAY_SCAN_MAX_BYTES": "2000M"}, "invalid value for scan_max_bytes"),
        ({"GATEWAY_SCAN_OVERSIZE_POLICY": "serve"}, "expected one of quarantine, flag"),
    ],
)
def test_bad_scanning_settings_are_rejected_clearly(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(None, environ=environ)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GATEWAY_METRICS_TOKEN": "short"}, "at least 16 characters"),
        ({"GATEWAY_HEALTH_TIMEOUT_SECONDS": "0"}, "health_timeout_seconds"),
        ({"GATEWAY_HEALTH_TIMEOUT_SECONDS": "nan"}, "health_timeout_seconds"),
        ({"GATEWAY_HEALTH_TIMEOUT_SECONDS": "soon"}, "health_timeout_seconds"),
    ],
)
def test_unusable_observability_settings_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings(None, environ=environ)
    # A refused token is never echoed.
    assert "short" not in str(raised.value)
