"""Encryption at rest on a real gateway: chunks sealed per bucket owner, no plaintext in
the backend, dedup within one owner only, tamper and wrong-key reads failing cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import urllib3
from botocore.exceptions import BotoCoreError, ClientError

from gateway.core.keyring import generate_master_key
from tests.integration.test_s3_helpers import local_blob_bytes, parse_fields, unique, user_client
from tests.support.gateway_server import GatewayProcess, launch
from tests.support.webdav import dav_client

MiB = 1024 * 1024
MARKER = b"PLAINTEXT-MARKER-7f3a"


def _body(size: int) -> bytes:
    """Compressible bytes sprinkled with MARKER, so it would show in any unsealed chunk."""
    block = MARKER + os.urandom(16).hex().encode() * 4
    return (block * (size // len(block) + 1))[:size]


def _blob_files(gateway: GatewayProcess) -> list[Path]:
    return [path for path in (gateway.data_dir / "blobs").rglob("*") if path.is_file()]


def _add_user(gateway: GatewayProcess) -> tuple[str, str, Any]:
    """A new user: name, password and a boto3 client."""
    name = unique("enc")
    fields = parse_fields(gateway.cli("user", "add", name).stdout)
    return (
        name,
        fields["password"],
        user_client(gateway, fields["access key"], fields["secret key"]),
    )


def _read_fails(client: Any, bucket: str, key: str, expected: bytes) -> bool:
    """Whether a GET ends in an error; it must never return other bytes successfully."""
    try:
        served = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError, urllib3.exceptions.HTTPError):
        return True
    assert served == expected, "a GET returned wrong bytes without an error"
    return False


@pytest.fixture
def encrypted(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Start (and restart) gateways over one data directory with a given master key."""
    started: list[GatewayProcess] = []
    key = generate_master_key()
    admin: dict[str, str] = {}

    def start(master_key: str | None = key) -> GatewayProcess:
        for process in started:
            process.stop()
        env = {**admin, "GATEWAY_MASTER_KEY": master_key or ""}
        process = launch(tmp_path / "gw", env)
        if not admin:
            admin.update({k: v for k, v in process.env.items() if k.startswith("GATEWAY_ADMIN_")})
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def test_s3_and_webdav_round_trips_leave_no_plaintext(
    encrypted: Callable[..., GatewayProcess],
) -> None:
    gateway = encrypted()
    assert "encryption    at rest" in gateway.log()
    client = gateway.client()
    client.create_bucket(Bucket="sealed")
    s3_body, dav_body = _body(5 * MiB + 123), _body(2 * MiB + 7)
    client.put_object(Bucket="sealed", Key="s3.bin", Body=s3_body)
    with dav_client(gateway) as dav:
        assert dav.put("/dav/sealed/dav.bin", content=dav_body).status_code in (200, 201, 204)
        assert dav.get("/dav/sealed/s3.bin").content == s3_body
    assert client.get_object(Bucket="sealed", Key="dav.bin")["Body"].read() == dav_body
    ranged = client.get_object(Bucket="sealed", Key="s3.bin", Range="bytes=1000000-3000000")
    assert ranged["Body"].read() == s3_body[1000000:3000001]
    files = _blob_files(gateway)
    assert files
    for path in files:
        assert MARKER not in path.read_bytes(), f"plaintext in {path}"
    assert gateway.cli("fsck", "--quiet").returncode == 0


def test_dedup_stays_within_one_owner(encrypted: Callable[..., GatewayProcess]) -> None:
    gateway = encrypted()
    body = os.urandom(3 * MiB)
    _, _, alice = _add_user(gateway)
    _, _, bob = _add_user(gateway)
    alice.create_bucket(Bucket="alice-a")
    alice.create_bucket(Bucket="alice-b")
    bob.create_bucket(Bucket="bob-a")
    alice.put_object(Bucket="alice-a", Key="f", Body=body)
    once = local_blob_bytes(gateway.data_dir)
    alice.put_object(Bucket="alice-b", Key="again", Body=body)
    assert local_blob_bytes(gateway.data_dir) == once, "one owner's second copy was stored again"
    bob.put_object(Bucket="bob-a", Key="f", Body=body)
    assert local_blob_bytes(gateway.data_dir) >= 2 * once - 1024, "two owners shared chunks"
    assert bob.get_object(Bucket="bob-a", Key="f")["Body"].read() == body


def test_tampered_chunk_is_never_served(encrypted: Callable[..., GatewayProcess]) -> None:
    gateway = encrypted()
    client = gateway.client()
    client.create_bucket(Bucket="tamper")
    body = _body(MiB)
    client.put_object(Bucket="tamper", Key="t", Body=body)
    (victim,) = _blob_files(gateway)
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    victim.write_bytes(bytes(raw))
    assert _read_fails(client, "tamper", "t", body)
    fsck = gateway.cli("fsck", "--quiet", check=False)
    assert fsck.returncode == 1 and "corrupt:" in fsck.stdout


def test_restarts_with_same_missing_and_wrong_key(encrypted: Callable[..., GatewayProcess]) -> None:
    gateway = encrypted(master_key=None)
    client = gateway.client()
    client.create_bucket(Bucket="keys")
    before = os.urandom(MiB)
    client.put_object(Bucket="keys", Key="before", Body=before)

    gateway = encrypted()
    client = gateway.client()
    after = _body(MiB)
    client.put_object(Bucket="keys", Key="after", Body=after)
    assert client.get_object(Bucket="keys", Key="before")["Body"].read() == before

    gateway = encrypted()
    client = gateway.client()
    assert client.get_object(Bucket="keys", Key="after")["Body"].read() == after
    assert client.get_object(Bucket="keys", Key="before")["Body"].read() == before

    for master_key in (None, generate_master_key()):
        gateway = encrypted(master_key=master_key)
        client = gateway.client()
        assert _read_fails(client, "keys", "after", after)
        assert client.get_object(Bucket="keys", Key="before")["Body"].read() == before
        with dav_client(gateway) as dav:
            try:
                failed = dav.get("/dav/keys/after").status_code != 200
            except httpx.HTTPError:
                failed = True
            assert failed


def test_malformed_master_key_stops_start_up(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_MASTER_KEY": "0123456789abcdef",
    }
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "invalid master key" in result.stderr and "0123456789abcdef" not in result.stderr


def test_webdav_copy_across_owners_reencrypts(encrypted: Callable[..., GatewayProcess]) -> None:
    gateway = encrypted()
    owner, owner_password, alice = _add_user(gateway)
    alice.create_bucket(Bucket="public-src")
    body = _body(2 * MiB)
    alice.put_object(Bucket="public-src", Key="dir/shared.bin", Body=body)
    gateway.cli("bucket", "anonymous", "public-src", "read")
    admin = gateway.client()
    admin.create_bucket(Bucket="admin-dst")
    before = local_blob_bytes(gateway.data_dir)
    with dav_client(gateway) as dav:
        copied = dav.request(
            "COPY",
            "/dav/public-src/dir/shared.bin",
            headers={"Destination": f"{gateway.http_url}/dav/admin-dst/mine.bin"},
        )
        assert copied.status_code in (201, 204), copied.text
        folder = dav.request(
            "COPY",
            "/dav/public-src/dir",
            headers={"Destination": f"{gateway.http_url}/dav/admin-dst/dir", "Depth": "infinity"},
        )
        assert folder.status_code in (201, 204), folder.text
    assert local_blob_bytes(gateway.data_dir) > before, "the copy shared the other owner's chunks"
    alice.delete_object(Bucket="public-src", Key="dir/shared.bin")
    gateway.cli("gc", "--grace-seconds", "0")
    assert admin.get_object(Bucket="admin-dst", Key="mine.bin")["Body"].read() == body
    assert admin.get_object(Bucket="admin-dst", Key="dir/shared.bin")["Body"].read() == body
    with dav_client(gateway, owner, owner_password) as dav:
        assert dav.get("/dav/public-src/dir/shared.bin").status_code == 404
