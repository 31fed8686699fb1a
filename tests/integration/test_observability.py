"""/healthz and /metrics of a real gateway, over real sockets: readiness per component
(and 503 when the backend or the database is gone), request counters that grow by exactly
the requests made, body bytes, storage savings, and who may read the metrics."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.dav import admin_password
from tests.support.gateway_server import REGION, GatewayProcess, launch
from tests.support.metrics import Exposition, delta
from tests.support.net import free_port, wait_for_http

TOKEN = "metrics-token-" + uuid.uuid4().hex
REQUESTS = "gateway_http_requests_total"
RECEIVED = "gateway_http_request_body_bytes_total"
SENT = "gateway_http_response_body_bytes_total"
DURATION_COUNT = "gateway_http_request_duration_seconds_count"


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway of this module's own (its counters see no other test's requests), with a
    metrics token."""
    started = launch(tmp_path_factory.mktemp("observed"), {"GATEWAY_METRICS_TOKEN": TOKEN})
    yield started
    started.stop()


def health(gateway: GatewayProcess) -> httpx.Response:
    return httpx.get(f"{gateway.http_url}/healthz", timeout=30)


def wait_for_health(gateway: GatewayProcess, status: int, timeout: float = 30) -> dict[str, Any]:
    """The /healthz document once it answers ``status`` (results are reused for a second)."""
    deadline = time.monotonic() + timeout
    while True:
        response = health(gateway)
        if response.status_code == status:
            document: dict[str, Any] = response.json()
            return document
        assert time.monotonic() < deadline, f"/healthz still answers {response.text}"
        time.sleep(0.2)


def scrape(gateway: GatewayProcess, token: str | None = TOKEN) -> Exposition:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = httpx.get(f"{gateway.http_url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Exposition.parse(response.text)


def scrape_after(gateway: GatewayProcess, before: Exposition, requests: int) -> Exposition:
    """A scrape once ``requests`` more S3 and WebDAV requests are recorded than ``before``
    saw: a request is recorded when its response is closed, just after the client got it."""
    deadline = time.monotonic() + 10
    while True:
        after = scrape(gateway)
        made = sum(delta(before, after, REQUESTS, protocol=p) for p in ("s3", "webdav"))
        if made >= requests or time.monotonic() > deadline:
            assert made == requests
            return after
        time.sleep(0.05)


# --- /healthz ------------------------------------------------------------------------------


def test_healthz_reports_every_component(gateway_sqlite_local: GatewayProcess) -> None:
    response = health(gateway_sqlite_local)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    assert document["status"] == "ok"
    assert set(document["components"]) == {"database", "backend", "queue"}
    for component in document["components"].values():
        assert component["status"] == "ok"
    assert document["components"]["database"]["required"] is True
    assert document["components"]["backend"]["required"] is True
    assert document["components"]["queue"]["required"] is False
    head = httpx.head(f"{gateway_sqlite_local.http_url}/healthz")
    assert head.status_code == 200
    assert head.content == b""


def test_healthz_fails_while_the_local_backend_is_gone(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    gateway = start_gateway()
    blobs = gateway.data_dir / "blobs"
    moved = gateway.data_dir / "blobs-away"
    blobs.rename(moved)
    try:
        document = wait_for_health(gateway, 503)
    finally:
        moved.rename(blobs)
    assert document["status"] == "unavailable"
    assert document["failed"] == ["backend"]
    assert document["components"]["database"]["status"] == "ok"
    backend = document["components"]["backend"]
    assert backend["status"] == "failed"
    assert backend["reason"] == "BlobStoreUnavailable"
    # Nothing about where or how: no path, no exception text, no traceback.
    text = str(document)
    assert str(gateway.data_dir) not in text
    assert "Traceback" not in text
    assert wait_for_health(gateway, 200)["status"] == "ok"
    assert "health: backend check failed" in gateway.log()


@pytest.fixture
def private_moto(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A moto S3 server of this test's own, which the test may stop."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with (tmp_path / "moto.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"{endpoint}/moto-api/", timeout=30)
        yield endpoint, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.usefixtures("moto_endpoint")  # sets fake AWS credentials for the session
def test_healthz_fails_quickly_once_the_s3_backend_stops(
    private_moto: tuple[str, subprocess.Popen[bytes]],
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    endpoint, moto = private_moto
    bucket = f"backend-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=bucket)
    gateway = start_gateway(
        {
            "GATEWAY_BACKEND_URL": f"s3://{bucket}/gw?endpoint_url={endpoint}&region={REGION}",
            "GATEWAY_HEALTH_TIMEOUT_SECONDS": "3",
        }
    )
    assert health(gateway).json()["components"]["backend"]["status"] == "ok"
    moto.terminate()
    moto.wait(timeout=10)
    started = time.monotonic()
    document = wait_for_health(gateway, 503)
    assert time.monotonic() - started < 10
    assert document["failed"] == ["backend"]
    assert document["components"]["backend"]["reason"] == "BlobStoreUnavailable"
    assert endpoint not in str(document)


def _admin(server_url: str) -> psycopg.Connection[tuple[Any, ...]]:
    user, _, address = server_url.split("://", 1)[1].partition("@")
    host, _, port = address.partition(":")
    return psycopg.connect(host=host, port=int(port), user=user, dbname="postgres", autocommit=True)


def test_healthz_fails_while_the_database_refuses_connections(
    postgres_server: str, postgres_url: str, start_gateway: Callable[..., GatewayProcess]
) -> None:
    gateway = start_gateway({"GATEWAY_DATABASE_URL": postgres_url})
    assert health(gateway).status_code == 200
    name = postgres_url.rsplit("/", 1)[1]
    with _admin(postgres_server) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            document = wait_for_health(gateway, 503)
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert document["failed"] == ["database"]
    assert document["components"]["backend"]["status"] == "ok"
    reason = document["components"]["database"]["reason"]
    assert reason == "OperationalError"
    assert wait_for_health(gateway, 200)["status"] == "ok"


def test_the_s3_listener_leaves_healthz_to_buckets(observed: GatewayProcess) -> None:
    response = httpx.get(f"{observed.s3_url}/healthz")
    assert response.status_code == 404
    assert b"<Code>NoSuchBucket</Code>" in response.content


# --- /metrics ------------------------------------------------------------------------------


def test_metrics_count_exactly_the_requests_made(observed: GatewayProcess) -> None:
    s3 = observed.client()
    bucket = f"metrics-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3_body = b"s3 body " * 40_000
    dav_body = b"webdav body " * 30_000
    dav = httpx.Client(base_url=observed.http_url, auth=("admin", admin_password(observed)))
    before = scrape(observed)

    s3.put_object(Bucket=bucket, Key="object", Body=s3_body)
    assert s3.get_object(Bucket=bucket, Key="object")["Body"].read() == s3_body
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="missing")
    put = dav.put(f"/dav/{bucket}/file.txt", content=dav_body)
    assert put.status_code == 201
    got = dav.get(f"/dav/{bucket}/file.txt")
    assert got.content == dav_body
    after = scrape_after(observed, before, 5)

    def grew(name: str, **labels: str) -> float:
        return delta(before, after, name, **labels)

    assert grew(REQUESTS, protocol="s3", operation="PutObject", code="200") == 1
    assert grew(REQUESTS, protocol="s3", operation="GetObject", code="200") == 1
    assert grew(REQUESTS, protocol="s3", operation="GetObject", code="404") == 1
    assert grew(REQUESTS, protocol="s3") == 3
    assert grew(REQUESTS, protocol="webdav", operation="PUT", code="201") == 1
    assert grew(REQUESTS, protocol="webdav", operation="GET", code="200") == 1
    assert grew(REQUESTS, protocol="webdav") == 2
    assert grew(DURATION_COUNT, protocol="s3", operation="PutObject") == 1
    assert grew(DURATION_COUNT, protocol="webdav", operation="GET") == 1
    # Body bytes: what the clients sent and got, the 404's error document and the 201's
    # short page included.
    assert grew(RECEIVED, protocol="s3") == len(s3_body)
    assert grew(RECEIVED, protocol="webdav") == len(dav_body)
    not_found = s3_error_size(observed, bucket)
    assert grew(SENT, protocol="s3") == len(s3_body) + not_found
    assert grew(SENT, protocol="webdav") == len(put.content) + len(got.content)
    assert after.value("gateway_http_requests_in_flight", protocol="s3") == 0
    # The scrapes are counted apart from the protocols' requests.
    assert after.value(REQUESTS, protocol="internal", operation="metrics", code="200") >= 1
    dav.close()


def s3_error_size(gateway: GatewayProcess, bucket: str) -> int:
    """The body size of GetObject's 404 for ``missing`` in ``bucket`` (its request id
    has a fixed length, so every such answer has this size)."""
    s3 = gateway.client()
    try:
        s3.get_object(Bucket=bucket, Key="missing")
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPHeaders"]["content-length"])
    raise AssertionError("the key exists")


def test_metrics_show_dedup_and_compression_savings(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    gateway = start_gateway()
    s3 = gateway.client()
    s3.create_bucket(Bucket="dedup")
    # Compressible and smaller than the minimum chunk size: one chunk of its own.
    body = b"".join(b"line %06d of a log file that compresses well\n" % n for n in range(4000))
    for key in ("first", "second"):
        s3.put_object(Bucket="dedup", Key=key, Body=body)
    # The first scrape of this new gateway reads the totals from its database.
    scraped = scrape(gateway, token=None)
    assert scraped.value("gateway_storage_stats_success") == 1
    assert scraped.value("gateway_storage_objects") == 2
    assert scraped.value("gateway_storage_logical_bytes") == 2 * len(body)
    assert scraped.value("gateway_storage_unique_bytes") == len(body)
    assert scraped.value("gateway_storage_chunks") == 1
    assert 0 < scraped.value("gateway_storage_stored_bytes") < len(body) / 2


def test_metrics_without_a_token_are_open_to_loopback(
    gateway_sqlite_local: GatewayProcess,
) -> None:
    scraped = scrape(gateway_sqlite_local, token=None)
    assert scraped.total("gateway_build_info") == 1
    assert scraped.has("process_resident_memory_bytes")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
def test_metrics_with_a_token_need_it(observed: GatewayProcess, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.get(f"{observed.http_url}/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "gateway_" not in response.text
    assert scrape(observed).total("gateway_build_info") == 1
