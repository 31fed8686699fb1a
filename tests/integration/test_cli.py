"""The ``gateway`` command line and the environment-variable interface, on real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import urllib3
from botocore.exceptions import BotoCoreError, ClientError

from tests.integration.test_s3_helpers import (
    add_user,
    expect_error,
    local_blob_bytes,
    parse_fields,
    raw_request,
    unique,
    user_client,
)
from tests.support.gateway_server import GatewayProcess, launch, make_client, random_key_id
from tests.support.net import free_port, wait_for_http

MiB = 1024 * 1024
STATS_LABELS = [
    "objects",
    "logical bytes",
    "unique bytes",
    "stored bytes",
    "chunks",
    "dedup ratio",
    "compression ratio",
    "overall ratio",
]


def run_cli(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``gateway <args>`` with exactly ``env``; never raises on a failing exit code."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def cli_parallel(
    gateway: GatewayProcess, *commands: tuple[str, ...]
) -> list[subprocess.CompletedProcess[str]]:
    """Run independent ``gateway`` commands at once (each is a Python start-up)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gateway", *command],
            env=gateway.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results = []
    for command, process in zip(commands, processes, strict=True):
        stdout, stderr = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return results


def _user_table(output: str) -> dict[str, str]:
    return {
        line.split("\t")[0]: line.split("\t")[1] for line in output.splitlines() if line.strip()
    }


def clean_environ() -> dict[str, str]:
    """``os.environ`` without any GATEWAY_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}


def blob_files(data_dir: Path) -> list[Path]:
    return sorted(
        Path(root) / name for root, _, names in os.walk(data_dir / "blobs") for name in names
    )


# --- stats ---------------------------------------------------------------------------------


def test_stats_fields(start_gateway: Callable[..., GatewayProcess]) -> None:
    gateway = start_gateway()
    empty = gateway.cli("stats").stdout
    assert [line.split("  ")[0].strip() for line in empty.strip().splitlines()] == STATS_LABELS
    assert parse_fields(empty) == {
        "objects": "0",
        "logical bytes": "0",
        "unique bytes": "0",
        "stored bytes": "0",
        "chunks": "0",
        "dedup ratio": "1.00",
        "compression ratio": "1.00",
        "overall ratio": "1.00",
    }

    client = gateway.client()
    client.create_bucket(Bucket="stats")
    body = os.urandom(MiB)
    client.put_object(Bucket="stats", Key="a", Body=body)
    client.put_object(Bucket="stats", Key="b", Body=body)
    client.put_object(Bucket="stats", Key="zeros", Body=bytes(MiB))
    fields = parse_fields(gateway.cli("stats").stdout)
    assert int(fields["objects"]) == 3
    assert int(fields["logical bytes"]) == 3 * MiB
    assert int(fields["unique bytes"]) == 2 * MiB
    stored = int(fields["stored bytes"])
    # The random MiB is stored as is (plus envelopes); the zeros nearly vanish.
    assert MiB < stored < MiB + 64 * 1024
    assert stored == local_blob_bytes(gateway.data_dir)
    assert int(fields["chunks"]) == len(blob_files(gateway.data_dir)) >= 2
    dedup, compression = 3 * MiB / (2 * MiB), 2 * MiB / stored
    assert fields["dedup ratio"] == f"{dedup:.2f}" == "1.50"
    assert fields["compression ratio"] == f"{compression:.2f}"
    assert float(fields["compression ratio"]) > 1.9
    assert fields["overall ratio"] == f"{dedup * compression:.2f}"


# --- fsck ----------------------------------------------------------------------------------


def test_fsck_healthy_then_corrupt_then_missing(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    gateway = start_gateway()
    client = gateway.client()
    client.create_bucket(Bucket="fsck")
    body = os.urandom(3 * MiB)
    client.put_object(Bucket="fsck", Key="data", Body=body)
    healthy = gateway.cli("fsck", "--quiet", check=False)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    files = blob_files(gateway.data_dir)
    assert len(files) >= 2
    assert f"checked {len(files)} chunks: all well" in healthy.stdout

    # Flip one byte in the payload (after the 20-byte envelope header) of one chunk.
    victim = files[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    corrupt = gateway.cli("fsck", "--quiet", check=False)
    assert corrupt.returncode == 1, corrupt.stdout + corrupt.stderr
    assert f"corrupt: chunks/{victim.name}" in corrupt.stdout
    assert "PROBLEMS FOUND" in corrupt.stdout
    assert corrupt.stdout.count("corrupt:") == 1

    # The damaged object is never served as if it were intact: the client sees an error.
    try:
        served: bytes | Exception = client.get_object(Bucket="fsck", Key="data")["Body"].read()
    except (ClientError, BotoCoreError, urllib3.exceptions.HTTPError) as exc:
        served = exc
    assert isinstance(served, Exception), "a corrupted object was served without an error"

    other = files[1]
    other.unlink()
    missing = gateway.cli("fsck", "--quiet", check=False)
    assert missing.returncode == 1
    assert f"missing: chunks/{other.name}" in missing.stdout
    assert f"corrupt: chunks/{victim.name}" in missing.stdout


def test_fsck_progress_goes_to_stderr(gateway_sqlite_local: GatewayProcess) -> None:
    result = gateway_sqlite_local.cli("fsck", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "chunk" in result.stderr  # tqdm's bar
    assert result.stdout.strip().startswith("checked ")


# --- users and keys ------------------------------------------------------------------------


def _user_names(gateway: GatewayProcess) -> dict[str, str]:
    return _user_table(gateway.cli("user", "list").stdout)


def test_user_add_list_remove(gateway_sqlite_local: GatewayProcess) -> None:
    gateway = gateway_sqlite_local
    name = unique("carol")
    added = gateway.cli("user", "add", name)
    fields = parse_fields(added.stdout)
    assert fields["user"] == name
    assert len(fields["password"]) >= 16
    assert fields["access key"].startswith("GW") and len(fields["access key"]) == 20
    assert len(fields["secret key"]) == 40
    client = user_client(gateway, fields["access key"], fields["secret key"])
    assert client.list_buckets()["Owner"]["DisplayName"] == name

    listed, duplicate = cli_parallel(gateway, ("user", "list"), ("user", "add", name))
    assert _user_table(listed.stdout)[name] == "user"
    assert duplicate.returncode == 2
    assert "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr

    removed = gateway.cli("user", "remove", name)
    assert f"removed user {name}" in removed.stdout
    expect_error("InvalidAccessKeyId", 403, client.list_buckets)
    listed, again = cli_parallel(gateway, ("user", "list"), ("user", "remove", name))
    assert name not in _user_table(listed.stdout)
    assert again.returncode == 2
    assert "Traceback" not in again.stderr


def test_user_add_admin_with_given_password(gateway_sqlite_local: GatewayProcess) -> None:
    name = unique("root")
    added = gateway_sqlite_local.cli("user", "add", name, "--admin", "--password", "s3cret-pw!")
    fields = parse_fields(added.stdout)
    assert fields["user"] == f"{name} (admin)"
    assert "password" not in fields
    assert "s3cret-pw!" not in added.stdout
    assert _user_names(gateway_sqlite_local)[name] == "admin"


def test_user_owning_a_bucket_cannot_be_removed(gateway_sqlite_local: GatewayProcess) -> None:
    name, access_key, secret_key = add_user(gateway_sqlite_local, "owner")
    client = user_client(gateway_sqlite_local, access_key, secret_key)
    bucket = unique("owned")
    client.create_bucket(Bucket=bucket)
    refused = gateway_sqlite_local.cli("user", "remove", name, check=False)
    assert refused.returncode == 2
    assert "owns buckets" in refused.stderr
    assert name in _user_names(gateway_sqlite_local)
    client.head_bucket(Bucket=bucket)  # the user and key still work
    client.delete_bucket(Bucket=bucket)
    gateway_sqlite_local.cli("user", "remove", name)
    assert name not in _user_names(gateway_sqlite_local)


def test_key_create_list_revoke(gateway_sqlite_local: GatewayProcess) -> None:
    gateway = gateway_sqlite_local
    name, first_key, first_secret = add_user(gateway, "dave")
    created = parse_fields(gateway.cli("key", "create", name).stdout)
    second_key, second_secret = created["access key"], created["secret key"]
    assert second_key != first_key
    first = user_client(gateway, first_key, first_secret)
    second = user_client(gateway, second_key, second_secret)
    assert first.list_buckets()["Owner"]["DisplayName"] == name
    assert second.list_buckets()["Owner"]["DisplayName"] == name

    listing, everyone = (
        result.stdout for result in cli_parallel(gateway, ("key", "list", name), ("key", "list"))
    )
    rows = {line.split("\t")[0]: line.split("\t") for line in listing.splitlines()}
    assert set(rows) == {first_key, second_key}
    assert all(row[1] == name and row[3] == "active" for row in rows.values())
    assert first_secret not in listing and second_secret not in listing
    assert gateway.access_key in everyone and second_key in everyone
    assert gateway.secret_key not in everyone

    gateway.cli("key", "revoke", first_key)
    listed, unknown, nobody = cli_parallel(
        gateway,
        ("key", "list", name),
        ("key", "revoke", random_key_id()),
        ("key", "create", unique("nobody")),
    )
    rows = {line.split("\t")[0]: line.split("\t") for line in listed.stdout.splitlines()}
    assert rows[first_key][3].startswith("revoked ")
    assert rows[second_key][3] == "active"
    expect_error("InvalidAccessKeyId", 403, first.list_buckets)
    assert second.list_buckets()["Owner"]["DisplayName"] == name
    assert unknown.returncode == 2
    assert nobody.returncode == 2
    assert "Traceback" not in unknown.stderr + nobody.stderr


# --- migrate -------------------------------------------------------------------------------


def test_migrate_is_idempotent_on_a_new_sqlite_database(tmp_path: Path) -> None:
    env = {**clean_environ(), "GATEWAY_DATA_DIR": str(tmp_path / "data")}
    for _ in range(2):
        result = run_cli(env, "migrate", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "is up to date" in result.stdout
    assert (tmp_path / "data" / "gateway.db").is_file()
    assert parse_fields(run_cli(env, "stats", cwd=tmp_path).stdout)["objects"] == "0"


def test_migrate_is_idempotent_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    env = {
        **clean_environ(),
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_DATABASE_URL": postgres_url,
    }
    for _ in range(2):
        result = run_cli(env, "migrate", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "is up to date" in result.stdout
    assert not (tmp_path / "data" / "gateway.db").exists()
    users = run_cli(env, "user", "list", cwd=tmp_path)
    assert users.returncode == 0, users.stderr


def test_migrate_keeps_existing_data(start_gateway: Callable[..., GatewayProcess]) -> None:
    gateway = start_gateway()
    client = gateway.client()
    client.create_bucket(Bucket="kept")
    client.put_object(Bucket="kept", Key="k", Body=b"still here")
    for _ in range(2):
        assert "is up to date" in gateway.cli("migrate").stdout
    assert client.get_object(Bucket="kept", Key="k")["Body"].read() == b"still here"
    assert client.list_objects_v2(Bucket="kept")["KeyCount"] == 1


# --- environment-variable interface ---------------------------------------------------------


def test_environment_variables_are_used(start_gateway: Callable[..., GatewayProcess]) -> None:
    admin = unique("operator")
    gateway = start_gateway(
        {
            "GATEWAY_ADMIN_USER": admin,
            "GATEWAY_REGION": "eu-west-1",
            "GATEWAY_S3_DOMAINS": "s3.example.test",
        }
    )
    env = gateway.env
    s3_port = int(env["GATEWAY_S3_LISTEN"].rsplit(":", 1)[1])
    http_port = int(env["GATEWAY_HTTP_LISTEN"].rsplit(":", 1)[1])
    assert gateway.s3_url == f"http://127.0.0.1:{s3_port}"

    # The forced admin credentials work and name the forced admin user.
    client = gateway.client()
    assert client.list_buckets()["Owner"]["DisplayName"] == admin
    assert _user_names(gateway)[admin] == "admin"
    # Both listeners are where the environment put them.
    health = httpx.get(f"http://127.0.0.1:{http_port}/healthz")
    assert health.json()["status"] == "ok"
    # On the S3 listener, /healthz is an anonymous request for a bucket named "healthz".
    not_health = httpx.get(f"http://127.0.0.1:{s3_port}/healthz")
    assert not_health.status_code == 404
    assert b"<Code>NoSuchBucket</Code>" in not_health.content
    # The region and the virtual-host domain come from the environment too.
    client.create_bucket(Bucket="envcheck")
    assert client.get_bucket_location(Bucket="envcheck")["LocationConstraint"] == "eu-west-1"
    host = f"envcheck.s3.example.test:{s3_port}"
    put = raw_request(gateway, "PUT", "/vhost", host=host, body=b"via domain")
    assert put.status_code == 200, put.text
    assert client.get_object(Bucket="envcheck", Key="vhost")["Body"].read() == b"via domain"

    # Data lands in GATEWAY_DATA_DIR: the SQLite database and the chunk files.
    data_dir = Path(env["GATEWAY_DATA_DIR"])
    assert data_dir == gateway.data_dir
    before = local_blob_bytes(data_dir)
    client.put_object(Bucket="envcheck", Key="big", Body=os.urandom(2 * MiB))
    assert (data_dir / "gateway.db").is_file()
    assert local_blob_bytes(data_dir) >= before + 2 * MiB

    # The banner names the forced access key but never prints the forced secrets.
    log = gateway.log()
    assert f"access key    {gateway.access_key}" in log
    assert f"http://127.0.0.1:{s3_port}" in log
    assert env["GATEWAY_ADMIN_SECRET_KEY"] not in log
    assert env["GATEWAY_ADMIN_PASSWORD"] not in log


def test_forced_secret_replaces_the_old_one_on_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = launch(data_dir)
    try:
        first.client().create_bucket(Bucket="survives")
        old_secret, access_key = first.secret_key, first.access_key
    finally:
        first.stop()
    new_secret = "a-new-secret-" + unique("x")
    second = launch(
        data_dir,
        {"GATEWAY_ADMIN_ACCESS_KEY": access_key, "GATEWAY_ADMIN_SECRET_KEY": new_secret},
    )
    try:
        assert second.secret_key == new_secret
        buckets = second.client().list_buckets()["Buckets"]
        assert [b["Name"] for b in buckets] == ["survives"]
        stale = make_client(second.s3_url, access_key, old_secret)
        expect_error("SignatureDoesNotMatch", 403, stale.list_buckets)
    finally:
        second.stop()


def test_invalid_settings_are_refused(tmp_path: Path) -> None:
    base = {**clean_environ(), "GATEWAY_DATA_DIR": str(tmp_path / "data")}
    for name, value, message in (
        ("GATEWAY_S3_LISTEN", "no-port-here", "HOST:PORT"),
        ("GATEWAY_CHUNK_AVG_SIZE", "1000", "chunk_avg_size"),
        ("GATEWAY_COMPRESSION_LEVEL", "high", "compression_level"),
    ):
        result = run_cli({**base, name: value}, "serve", cwd=tmp_path)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr


class _Server:
    """``gateway serve`` started by hand, without any GATEWAY_ADMIN_* variable."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.s3_port, self.http_port = free_port(), free_port()
        self.env = {
            **clean_environ(),
            "GATEWAY_DATA_DIR": str(data_dir),
            "GATEWAY_S3_LISTEN": f"127.0.0.1:{self.s3_port}",
            "GATEWAY_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
        }
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data_dir.parent,
            )
        try:
            wait_for_http(f"http://127.0.0.1:{self.http_port}/healthz", timeout=60)
        except Exception:
            self.stop()
            raise

    def output(self) -> str:
        deadline = time.monotonic() + 10
        while "aws --endpoint-url" not in self.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.log_path.read_text()

    def client(self, access_key: str, secret_key: str) -> Any:
        return make_client(f"http://127.0.0.1:{self.s3_port}", access_key, secret_key)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def manual_servers() -> Iterator[list[_Server]]:
    servers: list[_Server] = []
    yield servers
    for server in servers:
        server.stop()


def test_generated_credentials_are_printed_once(
    tmp_path: Path, manual_servers: list[_Server]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    first = _Server(data_dir, tmp_path / "first.log")
    manual_servers.append(first)
    output = first.output()
    fields = parse_fields(output)
    access_key, secret_key, password = (
        fields["access key"],
        fields["secret key"],
        fields["password"],
    )
    assert access_key.startswith("GW")
    assert len(secret_key) == 40
    assert len(password) >= 16
    assert "shown only this once" in output
    assert fields["admin user"] == "admin"

    client = first.client(access_key, secret_key)
    client.create_bucket(Bucket="generated")
    client.put_object(Bucket="generated", Key="k", Body=b"kept")
    first.stop()
    assert first.process.returncode == 0

    second = _Server(data_dir, tmp_path / "second.log")
    manual_servers.append(second)
    again = second.output()
    assert f"access key    {access_key}" in again
    assert secret_key not in again
    assert password not in again
    assert "password" not in parse_fields(again)
    assert "as set before" in again
    assert "shown only this once" not in again
    client = second.client(access_key, secret_key)
    assert client.get_object(Bucket="generated", Key="k")["Body"].read() == b"kept"
