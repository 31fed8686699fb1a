"""The scan stage end to end: real gateways, real clamd, S3 and WebDAV over real sockets."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from bench.clamd_service import ClamdService, eicar
from tests.support.gateway_server import GatewayProcess, empty_bucket
from tests.support.webdav import MOUNT, dav_client, propfind

MIB = 1 << 20
# Quick retries and polling, so that a verdict follows an upload within a second or so.
FAST_JOBS = {
    "GATEWAY_JOB_POLL_SECONDS": "0.1",
    "GATEWAY_JOB_RETRY_BASE_SECONDS": "0.2",
    "GATEWAY_JOB_RETRY_CAP_SECONDS": "1",
    "GATEWAY_WORKER_THREADS": "2",
}
VERDICT_TIMEOUT = 30.0

Starter = Callable[..., GatewayProcess]


@pytest.fixture(scope="module")
def scanning_gateway(
    clamd_server: ClamdService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """One gateway scanning with the session's clamd (never stopped by these tests)."""
    from tests.support.gateway_server import launch

    gateway = launch(
        tmp_path_factory.mktemp("scan-gw"),
        {**FAST_JOBS, "GATEWAY_SCANNER_URL": clamd_server.unix_url},
    )
    yield gateway
    gateway.stop()


@pytest.fixture
def scan_bucket(scanning_gateway: GatewayProcess) -> Iterator[str]:
    client = scanning_gateway.client()
    name = f"scan-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield name
    empty_bucket(client, name)


def scan_status(client: Any, bucket: str, key: str) -> str | None:
    """The version's scan status from HEAD, "quarantined"/"pending" when refused."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        headers = exc.response["ResponseMetadata"]["HTTPHeaders"]
        return str(headers.get("x-gateway-scan-status"))
    value = head["ResponseMetadata"]["HTTPHeaders"].get("x-gateway-scan-status")
    return None if value is None else str(value)


def wait_for_status(
    client: Any, bucket: str, key: str, wanted: str, timeout: float = VERDICT_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = scan_status(client, bucket, key)
        if status == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"{bucket}/{key}: scan status {status!r}, expected {wanted!r}")


def assert_refused_everywhere(gateway: GatewayProcess, bucket: str, key: str) -> None:
    client = gateway.client()
    with pytest.raises(ClientError) as raised:
        client.get_object(Bucket=bucket, Key=key)
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert "object is quarantined: malware detected (" in error["Message"]
    with pytest.raises(ClientError) as raised:
        client.head_object(Bucket=bucket, Key=key)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as raised:
        client.copy_object(Bucket=bucket, Key=f"{key}.copy", CopySource=f"{bucket}/{key}")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    with dav_client(gateway) as dav:
        answer = dav.get(f"{MOUNT}/{bucket}/{key}")
        assert answer.status_code == 403
        assert answer.text.startswith("object is quarantined: malware detected (")
        assert dav.head(f"{MOUNT}/{bucket}/{key}").status_code == 403
        copied = dav.request(
            "COPY",
            f"{MOUNT}/{bucket}/{key}",
            headers={"Destination": f"{gateway.http_url}{MOUNT}/{bucket}/{key}.dav-copy"},
        )
        assert copied.status_code == 403
        # Listings keep showing the key.
        listed = propfind(dav, f"{MOUNT}/{bucket}/")
        assert any(href.endswith(f"/{key}") for href in listed)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert key in keys


def test_eicar_is_quarantined_on_every_upload_path(
    scanning_gateway: GatewayProcess, scan_bucket: str
) -> None:
    client = scanning_gateway.client()
    client.put_object(Bucket=scan_bucket, Key="s3-put.txt", Body=b"header " + eicar())
    with dav_client(scanning_gateway) as dav:
        put = dav.put(f"{MOUNT}/{scan_bucket}/dav-put.com", content=eicar())
        assert put.status_code in (201, 204)
    upload = client.create_multipart_upload(Bucket=scan_bucket, Key="multipart.bin")
    first = client.upload_part(
        Bucket=scan_bucket,
        Key="multipart.bin",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=os.urandom(5 * MIB),
    )
    second = client.upload_part(
        Bucket=scan_bucket,
        Key="multipart.bin",
        UploadId=upload["UploadId"],
        PartNumber=2,
        Body=eicar(),
    )
    client.complete_multipart_upload(
        Bucket=scan_bucket,
        Key="multipart.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["ETag"]},
                {"PartNumber": 2, "ETag": second["ETag"]},
            ]
        },
    )
    for key in ("s3-put.txt", "dav-put.com", "multipart.bin"):
        wait_for_status(client, scan_bucket, key, "quarantined")
        assert_refused_everywhere(scanning_gateway, scan_bucket, key)
    listed = scanning_gateway.cli("quarantine", "list").stdout
    for key in ("s3-put.txt", "dav-put.com", "multipart.bin"):
        assert f"{scan_bucket}\t{key}\t" in listed
    assert "infected" in listed
    # The owner may still delete a quarantined object.
    client.delete_object(Bucket=scan_bucket, Key="dav-put.com")
    assert f"{scan_bucket}\tdav-put.com\t" not in scanning_gateway.cli("quarantine", "list").stdout


def test_clean_file_stays_readable_and_gets_status_clean(
    scanning_gateway: GatewayProcess, scan_bucket: str
) -> None:
    client = scanning_gateway.client()
    body = os.urandom(300_000)
    client.put_object(Bucket=scan_bucket, Key="clean.bin", Body=body)
    # Served at once under the default (async) policy, before its verdict.
    assert client.get_object(Bucket=scan_bucket, Key="clean.bin")["Body"].read() == body
    wait_for_status(client, scan_bucket, "clean.bin", "clean")
    assert client.get_object(Bucket=scan_bucket, Key="clean.bin")["Body"].read() == body
    with dav_client(scanning_gateway) as dav:
        assert dav.get(f"{MOUNT}/{scan_bucket}/clean.bin").content == body


def test_strict_bucket_serves_only_after_the_verdict(
    clamd_restartable: ClamdService, start_gateway: Starter
) -> None:
    gateway = start_gateway(
        {**FAST_JOBS, "GATEWAY_SCANNER_URL": clamd_restartable.unix_url}, name="strict"
    )
    client = gateway.client()
    client.create_bucket(Bucket="strict")
    assert "scan policy strict" in gateway.cli("bucket", "scan-policy", "strict", "strict").stdout
    # With clamd stopped the verdict cannot come: the version stays pending and refused.
    clamd_restartable.stop()
    client.put_object(Bucket="strict", Key="held.txt", Body=b"harmless text")
    with pytest.raises(ClientError) as raised:
        client.get_object(Bucket="strict", Key="held.txt")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert "scan is pending" in raised.value.response["Error"]["Message"]
    with dav_client(gateway) as dav:
        answer = dav.get(f"{MOUNT}/strict/held.txt")
        assert answer.status_code == 403
        assert "pending" in answer.text
    clamd_restartable.start()
    wait_for_status(client, "strict", "held.txt", "clean")
    assert client.get_object(Bucket="strict", Key="held.txt")["Body"].read() == b"harmless text"
    with dav_client(gateway) as dav:
        assert dav.get(f"{MOUNT}/strict/held.txt").content == b"harmless text"


def test_clamd_down_loses_nothing_and_remove_works(
    clamd_restartable: ClamdService, start_gateway: Starter
) -> None:
    gateway = start_gateway(
        {**FAST_JOBS, "GATEWAY_SCANNER_URL": clamd_restartable.tcp_url}, name="restart"
    )
    client = gateway.client()
    client.create_bucket(Bucket="outage")
    clamd_restartable.stop()
    clean = {f"clean-{n}.bin": os.urandom(50_000) for n in range(5)}
    for key, body in clean.items():
        client.put_object(Bucket="outage", Key=key, Body=body)
    client.put_object(Bucket="outage", Key="bad.txt", Body=eicar())
    with dav_client(gateway) as dav:
        assert dav.put(f"{MOUNT}/outage/bad-dav.txt", content=eicar()).status_code in (201, 204)
    # Jobs fail and back off while clamd is down; the versions stay pending.
    time.sleep(1.5)
    assert "scan" in gateway.cli("jobs").stdout
    for key in (*clean, "bad.txt", "bad-dav.txt"):
        assert scan_status(client, "outage", key) == "pending"
    health = httpx.get(f"{gateway.http_url}/healthz").json()
    assert health["components"]["scanner"]["status"] != "ok"
    clamd_restartable.start()
    for key in clean:
        wait_for_status(client, "outage", key, "clean")
    for key in ("bad.txt", "bad-dav.txt"):
        wait_for_status(client, "outage", key, "quarantined")
    for key, body in clean.items():
        assert client.get_object(Bucket="outage", Key=key)["Body"].read() == body
    removed = gateway.cli("quarantine", "remove", "outage", "bad.txt").stdout
    assert "removed outage/bad.txt" in removed
    listed = gateway.cli("quarantine", "list").stdout
    assert "outage\tbad.txt\t" not in listed
    assert "outage\tbad-dav.txt\t" in listed
    with pytest.raises(ClientError) as raised:
        client.head_object(Bucket="outage", Key="bad.txt")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert gateway.cli("quarantine", "remove", "outage", "bad.txt", check=False).returncode != 0
    metrics = httpx.get(f"{gateway.http_url}/metrics").text
    assert 'gateway_scan_verdicts_total{verdict="infected"}' in metrics


def test_scanner_none_writes_no_job_rows(start_gateway: Starter) -> None:
    gateway = start_gateway(FAST_JOBS, name="noscan")
    client = gateway.client()
    client.create_bucket(Bucket="plain")
    client.put_object(Bucket="plain", Key="eicar.txt", Body=eicar())
    with dav_client(gateway) as dav:
        assert dav.put(f"{MOUNT}/plain/other.txt", content=b"x").status_code in (201, 204)
    assert client.get_object(Bucket="plain", Key="eicar.txt")["Body"].read() == eicar()
    assert scan_status(client, "plain", "eicar.txt") is None
    jobs = gateway.cli("jobs").stdout
    assert "scan" not in jobs.split("oldest queued job")[0]
