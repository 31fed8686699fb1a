"""Pytest plugin: the real gateway (``gateway serve``) in a subprocess on loopback.

Fixtures:

``gateway`` (session, parametrised)
    A running gateway for each of the four combinations of metadata database
    (SQLite, PostgreSQL) and backend (local directory, S3 on moto). Tests that take
    it run four times. ``gateway_sqlite_local`` is the cheap single combination.
``tls_pair`` / ``gateway_tls`` (session)
    A self-signed certificate for localhost with its key, and one gateway (SQLite, local)
    serving both listeners over HTTPS with it; its clients trust that certificate.
``s3_client`` / ``bucket``
    A boto3 client for the gateway's admin, and a fresh bucket (deleted afterwards
    with everything in it).
``start_gateway`` (function)
    A factory to start extra gateways with custom environment (ports chosen here),
    over HTTPS when given a certificate pair.
"""

from __future__ import annotations

import os
import secrets
import ssl
import string
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from gateway.tls import CertificatePair, write_self_signed
from tests.support.net import free_port, wait_for_http

REGION = "us-east-1"


@dataclass
class GatewayProcess:
    """A started gateway and how to reach it."""

    process: subprocess.Popen[bytes]
    s3_url: str
    http_url: str
    data_dir: Path
    access_key: str
    secret_key: str
    env: dict[str, str]
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    # The certificate clients must trust when the gateway serves HTTPS; None for HTTP.
    ca_file: Path | None = None

    @property
    def verify(self) -> str | bool:
        """boto3's ``verify``: the CA file over HTTPS, else True (the default trust)."""
        return str(self.ca_file) if self.ca_file is not None else True

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """httpx's ``verify``: a context trusting the CA file (the system's CAs without one)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for the admin, path-style addressing."""
        return make_client(
            self.s3_url, self.access_key, self.secret_key, verify=self.verify, **config
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``gateway <args>`` against this gateway's settings."""
        return subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=600,
        )

    def log(self) -> str:
        """Everything the gateway printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate the process (SIGTERM), waiting for a clean exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def make_client(
    endpoint: str, access_key: str, secret_key: str, *, verify: str | bool = True, **config: Any
) -> Any:
    """A boto3 S3 client with path-style addressing and a few retries.

    ``verify`` is a CA bundle path for an HTTPS endpoint with a self-signed certificate.
    """
    options: dict[str, Any] = {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 2}}
    options.update(config)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        verify=verify,
        config=Config(**options),
    )


def random_key_id() -> str:
    """An access key id like the gateway generates."""
    return "GT" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(18))


def launch(
    data_dir: Path, extra_env: dict[str, str] | None = None, *, tls: CertificatePair | None = None
) -> GatewayProcess:
    """Start ``gateway serve`` with its data under ``data_dir``; wait until healthy.

    With ``tls`` both listeners serve HTTPS with that pair, and the returned process's
    URLs and clients use ``https`` and trust its certificate.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    s3_port, http_port = free_port(), free_port()
    access_key, secret_key = random_key_id(), secrets.token_urlsafe(30)
    tls_env = (
        {} if tls is None else {"GATEWAY_TLS_CERT": str(tls.cert), "GATEWAY_TLS_KEY": str(tls.key)}
    )
    scheme = "http" if tls is None else "https"
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_S3_LISTEN": f"127.0.0.1:{s3_port}",
        "GATEWAY_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "GATEWAY_ADMIN_USER": "admin",
        # Command-line clients (litmus, rclone obscure) take an argument that starts with
        # "-" for an option, so the password never does.
        "GATEWAY_ADMIN_PASSWORD": "pw" + secrets.token_urlsafe(12),
        "GATEWAY_ADMIN_ACCESS_KEY": access_key,
        "GATEWAY_ADMIN_SECRET_KEY": secret_key,
        **tls_env,
        **(extra_env or {}),
    }
    log_path = data_dir / "gateway.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
    gateway = GatewayProcess(
        process,
        f"{scheme}://127.0.0.1:{s3_port}",
        f"{scheme}://127.0.0.1:{http_port}",
        data_dir,
        env.get("GATEWAY_ADMIN_ACCESS_KEY", access_key),
        env.get("GATEWAY_ADMIN_SECRET_KEY", secret_key),
        env,
        log_path,
        ca_file=None if tls is None else tls.cert,
    )
    try:
        wait_for_http(f"{gateway.http_url}/healthz", timeout=60, context=gateway.ssl_context)
    except Exception:
        gateway.stop()
        raise RuntimeError(f"gateway did not start:\n{gateway.log()}") from None
    return gateway


COMBINATIONS = ["sqlite-local", "sqlite-s3", "postgresql-local", "postgresql-s3"]


@pytest.fixture(scope="session", params=COMBINATIONS)
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A running gateway for each database/backend combination."""
    database, backend = str(request.param).split("-")
    env: dict[str, str] = {}
    if database == "postgresql":
        env["GATEWAY_DATABASE_URL"] = request.getfixturevalue("postgres_database_factory")()
    if backend == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = f"backend-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=bucket)
        env["GATEWAY_BACKEND_URL"] = f"s3://{bucket}/gw?endpoint_url={endpoint}&region={REGION}"
    started = launch(tmp_path_factory.mktemp(str(request.param)), env)
    started.extra["combination"] = request.param
    yield started
    started.stop()


@pytest.fixture(scope="session")
def gateway_sqlite_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway on the embedded defaults (SQLite, local directory)."""
    started = launch(tmp_path_factory.mktemp("default"))
    yield started
    started.stop()


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> CertificatePair:
    """A self-signed certificate for localhost (and 127.0.0.1) with its key."""
    return write_self_signed(tmp_path_factory.mktemp("tls"), days=2)


@pytest.fixture(scope="session")
def gateway_tls(
    tmp_path_factory: pytest.TempPathFactory, tls_pair: CertificatePair
) -> Iterator[GatewayProcess]:
    """One gateway on the embedded defaults serving both listeners over HTTPS."""
    started = launch(tmp_path_factory.mktemp("tls-gateway"), tls=tls_pair)
    yield started
    started.stop()


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Start extra gateways with custom environment (HTTPS with ``tls``); stopped afterwards."""
    started: list[GatewayProcess] = []

    def factory(
        extra_env: dict[str, str] | None = None,
        name: str = "gw",
        tls: CertificatePair | None = None,
    ) -> GatewayProcess:
        process = launch(tmp_path / f"{name}-{len(started)}", extra_env, tls=tls)
        started.append(process)
        return process

    yield factory
    for process in started:
        process.stop()


@contextmanager
def temporary_bucket(gateway: GatewayProcess, prefix: str) -> Iterator[str]:
    """A new bucket of the gateway's admin, named after ``prefix``; emptied and deleted
    when the block ends."""
    s3 = gateway.client()
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)


def empty_bucket(client: Any, bucket: str) -> None:
    """Delete every object and upload in ``bucket``, then the bucket."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_client(gateway: GatewayProcess) -> Any:
    """A boto3 client for the parametrised gateway."""
    return gateway.client()


@pytest.fixture
def bucket(s3_client: Any) -> Iterator[str]:
    """A fresh bucket on the parametrised gateway, emptied and deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3_client, name)
