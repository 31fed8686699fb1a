"""The command-line client (``gateway push``, ``pull``, ``sync``) against a real gateway:
resumable parallel pushes, verified pulls, and two-way sync converging with S3 writers."""

from __future__ import annotations

import hashlib
import json
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

from gateway.client.connection import Connection, Credentials
from gateway.client.sync_engine import SyncEngine
from gateway.client.sync_state import STATE_DIR
from gateway.client.transfer import TransferOptions
from tests.support.api import api_client
from tests.support.gateway_server import GatewayProcess, temporary_bucket
from tests.support.waiting import wait_until

MIB = 1024 * 1024


@pytest.fixture
def gw(gateway_sqlite_local: GatewayProcess) -> GatewayProcess:
    return gateway_sqlite_local


@pytest.fixture
def bucket(gw: GatewayProcess) -> Iterator[str]:
    with temporary_bucket(gw, "client") as name:
        yield name


def client_env(gw: GatewayProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {
        **env,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "GATEWAY_URL": gw.http_url,
        "GATEWAY_ACCESS_KEY": gw.access_key,
        "GATEWAY_SECRET_KEY": gw.secret_key,
    }


def gateway_command(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=client_env(gw),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_push_killed_halfway_resumes_with_missing_parts_and_pulls_identical(
    gw: GatewayProcess, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(64):
            out.write(os.urandom(MIB))
    state_dir = tmp_path / "state"
    command = [
        sys.executable, "-m", "gateway", "push", "--quiet", "--parallel", "1",
        "--state-dir", str(state_dir), str(source), f"{bucket}/in",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=client_env(gw), stdout=subprocess.PIPE)
    with api_client(gw) as api:
        present: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(present) < 2:
            records = list(state_dir.glob("push-*.json"))
            if records:
                file_id = records[0].read_text().split('"')[3]
                parts = api.get(f"/v1/files/{file_id}/parts").json()
                present = [p["number"] for p in parts["parts"]]
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # A part whose bytes all left before the kill may still be stored: let it land.
        time.sleep(1)
        parts = api.get(f"/v1/files/{file_id}/parts").json()
        missing = parts["missing"]
        assert parts["status"] == "uploading" and 0 < len(missing) < 8, parts

        resumed = gateway_command(
            gw, "push", "--quiet", "--state-dir", str(state_dir), str(source), f"{bucket}/in"
        )
        assert resumed.returncode == 0, resumed.stderr
        file_id_out, name, status, sent = resumed.stdout.strip().split("\t")
        assert (file_id_out, name, status) == (file_id, f"{bucket}/in/big.bin", "ready")
        assert sent == f"sent {len(missing)} of 8 parts"
        assert not list(state_dir.glob("push-*.json"))

    out = tmp_path / "out"
    pulled = gateway_command(gw, "pull", "--quiet", "--parallel", "4", file_id, "-o", str(out))
    assert pulled.returncode == 0, pulled.stderr
    assert _sha(out / "big.bin") == _sha(source)
    assert [p.name for p in out.iterdir()] == ["big.bin"]


def test_pull_of_an_unknown_id_fails_cleanly(gw: GatewayProcess, tmp_path: Path) -> None:
    result = gateway_command(gw, "pull", "--quiet", "no-such-file", "-o", str(tmp_path))
    assert result.returncode == 1
    assert "404" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(MIB):
            digest.update(block)
    return digest.hexdigest()


# --- sync -------------------------------------------------------------------------


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and STATE_DIR not in p.relative_to(root).parts
    }


def remote_tree(gw: GatewayProcess, bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = gw.client()
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            found[obj["Key"][len(prefix) :]] = body
    return found


class Syncer:
    """An in-process sync client of one folder."""

    def __init__(self, gw: GatewayProcess, root: Path, bucket: str, host: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        credentials = Credentials(
            {"access_key_id": gw.access_key, "secret_access_key": gw.secret_key}
        )
        self.conn = Connection(gw.http_url, credentials)
        self.root = root
        options = TransferOptions(quiet=True, state_dir=root.parent / "unused")
        self.engine = SyncEngine(self.conn, root, bucket, "sync", options, host=host)

    def run(self) -> dict[str, int]:
        return self.engine.run().counts

    def close(self) -> None:
        self.engine.close()
        self.conn.close()


@pytest.fixture
def syncers(gw: GatewayProcess, bucket: str, tmp_path: Path) -> Iterator[list[Syncer]]:
    made = [
        Syncer(gw, tmp_path / "a", bucket, "hosta"),
        Syncer(gw, tmp_path / "b", bucket, "hostb"),
    ]
    yield made
    for syncer in made:
        syncer.close()


def settle(syncers: list[Syncer]) -> None:
    """Sync every client in turn until a whole round changes nothing."""
    for _ in range(6):
        counts = [s.run() for s in syncers]
        if not any(counts):
            return
    raise AssertionError(f"no quiescence: {counts}")


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def assert_converged(syncers: list[Syncer], gw: GatewayProcess, bucket: str) -> dict[str, bytes]:
    expected = remote_tree(gw, bucket, "sync/")
    for syncer in syncers:
        assert tree(syncer.root) == expected
    return expected


def test_two_folders_and_an_s3_writer_converge(
    syncers: list[Syncer], gw: GatewayProcess, bucket: str
) -> None:
    a, b = syncers
    s3 = gw.client()
    write(a.root / "a.txt", b"from a")
    write(a.root / "docs/b.txt", b"from a, in docs")
    write(b.root / "c.txt", b"from b")
    s3.put_object(Bucket=bucket, Key="sync/s3.txt", Body=b"from s3")
    s3.put_object(Bucket=bucket, Key="outside.txt", Body=b"not synced")
    settle(syncers)
    assert set(assert_converged(syncers, gw, bucket)) == {"a.txt", "docs/b.txt", "c.txt", "s3.txt"}

    write(a.root / "a.txt", b"from a, edited")
    (b.root / "c.txt").rename(b.root / "docs/c2.txt")
    s3.delete_object(Bucket=bucket, Key="sync/s3.txt")
    s3.put_object(Bucket=bucket, Key="sync/docs/new.txt", Body=b"new over s3")
    settle(syncers)
    (b.root / "docs/b.txt").unlink()
    s3.copy_object(
        Bucket=bucket,
        Key="sync/moved.txt",
        CopySource={"Bucket": bucket, "Key": "sync/docs/new.txt"},
    )
    s3.delete_object(Bucket=bucket, Key="sync/docs/new.txt")
    write(a.root / "docs/c2.txt", b"from b, renamed, edited by a")
    settle(syncers)
    assert assert_converged(syncers, gw, bucket) == {
        "a.txt": b"from a, edited",
        "docs/c2.txt": b"from b, renamed, edited by a",
        "moved.txt": b"new over s3",
    }
    assert s3.get_object(Bucket=bucket, Key="outside.txt")["Body"].read() == b"not synced"


def test_an_edit_on_both_sides_keeps_both(
    syncers: list[Syncer], gw: GatewayProcess, bucket: str
) -> None:
    a, b = syncers
    write(a.root / "notes.md", b"first")
    settle(syncers)
    write(a.root / "notes.md", b"edited on a")
    write(b.root / "notes.md", b"edited on b")
    assert a.run() == {"upload": 1}
    assert b.run() == {"conflict": 1}
    settle(syncers)
    final = assert_converged(syncers, gw, bucket)
    assert final.pop("notes.md") == b"edited on a"
    [(name, content)] = final.items()
    assert name.startswith("notes (conflict hostb ") and name.endswith(").md")
    assert content == b"edited on b"


def test_a_file_deleted_remotely_while_edited_locally_is_kept(
    syncers: list[Syncer], gw: GatewayProcess, bucket: str
) -> None:
    a = syncers[0]
    write(a.root / "keep.txt", b"v1")
    write(a.root / "drop.txt", b"unchanged")
    settle(syncers)
    s3 = gw.client()
    s3.delete_object(Bucket=bucket, Key="sync/keep.txt")
    s3.delete_object(Bucket=bucket, Key="sync/drop.txt")
    write(a.root / "keep.txt", b"v2, edited after the remote deletion")
    settle(syncers)
    assert assert_converged(syncers, gw, bucket) == {
        "keep.txt": b"v2, edited after the remote deletion"
    }


def test_sync_command_runs_once_and_reports_errors(
    gw: GatewayProcess, bucket: str, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    write(folder / "x/y.txt", b"over the command line")
    done = gateway_command(gw, "sync", "--quiet", str(folder), f"{bucket}/cli")
    assert done.returncode == 0, done.stderr
    assert "upload 1" in done.stdout
    assert remote_tree(gw, bucket, "cli/") == {"x/y.txt": b"over the command line"}
    refused = gateway_command(gw, "sync", "--quiet", str(folder), "no-such-bucket-x")
    assert refused.returncode == 1 and "404" in refused.stderr, refused.stderr
    anonymous = subprocess.run(
        [sys.executable, "-m", "gateway", "sync", str(folder), bucket],
        env={k: v for k, v in client_env(gw).items() if "KEY" not in k},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert anonymous.returncode == 1 and "no credentials" in anonymous.stderr


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    wait_until(condition, 30, what=what, interval=0.2)


def _remote_body(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return body


def test_sync_watch_follows_the_feed_and_the_folder(
    gw: GatewayProcess, bucket: str, tmp_path: Path
) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    command = [
        sys.executable, "-m", "gateway", "sync", "--quiet", "--watch", "--interval", "2",
        str(folder), f"{bucket}/w",
    ]  # fmt: skip
    watcher = subprocess.Popen(
        command, env=client_env(gw), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().startswith("sync "), "the first run reports itself"
        s3 = gw.client()
        s3.put_object(Bucket=bucket, Key="w/from-s3.txt", Body=b"written over S3")
        arrived = folder / "from-s3.txt"
        _wait_for(
            lambda: arrived.is_file() and arrived.read_bytes() == b"written over S3",
            "an S3 write reached the watched folder",
        )
        write(folder / "sub/local.txt", b"written in the folder")
        _wait_for(
            lambda: _remote_body(s3, bucket, "w/sub/local.txt") == b"written in the folder",
            "a local file reached the bucket",
        )
        s3.delete_object(Bucket=bucket, Key="w/from-s3.txt")
        _wait_for(lambda: not arrived.exists(), "a remote deletion reached the folder")
        assert watcher.poll() is None, watcher.stderr.read() if watcher.stderr else ""
    finally:
        watcher.terminate()
        watcher.communicate(timeout=30)
    assert tree(folder) == {"sub/local.txt": b"written in the folder"}


def _refused_with(gw: GatewayProcess, token: str) -> int:
    return httpx.get(
        f"{gw.http_url}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).status_code


def _retire_signing_key(gw: GatewayProcess) -> None:
    """Rotate the signing key and remove every key that no longer signs."""
    gw.cli("signing-key", "rotate")
    for line in gw.cli("signing-key", "list").stdout.splitlines():
        if "verifies only" in line:
            gw.cli("signing-key", "remove", line.split("\t", 1)[0])


class Wire:
    """What a Connection sent and got back: (method, path, bearer token or "", status)."""

    def __init__(self, conn: Connection) -> None:
        self.exchanges: list[tuple[str, str, str, int]] = []
        conn.http.event_hooks["response"].append(self._record)

    def _record(self, response: httpx.Response) -> None:
        request = response.request
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.exchanges.append((request.method, request.url.path, token, response.status_code))

    def take(self) -> list[tuple[str, str, str, int]]:
        taken, self.exchanges = self.exchanges, []
        return taken


def test_a_refused_access_token_is_refreshed_once_and_the_request_repeated(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    first = start_gateway()
    credentials = Credentials(
        {"access_key_id": first.access_key, "secret_access_key": first.secret_key}
    )
    shared = {"GATEWAY_DATA_DIR": str(first.data_dir)}
    with Connection(first.http_url, credentials) as conn:
        wire = Wire(conn)
        me = conn.json("GET", "/v1/me")
        signed_in = wire.take()
        assert [(m, p, s) for m, p, _, s in signed_in] == [
            ("POST", "/v1/auth/token", 200),
            ("GET", "/v1/me", 200),
        ]
        before = signed_in[1][2]
        # The key that signed the access token is removed; a gateway that starts now no
        # longer knows it, while the refresh token (kept in the database) stays valid.
        _retire_signing_key(first)
        second = start_gateway(shared, name="second")
        conn.base_url = second.http_url
        assert conn.json("GET", "/v1/me") == me
        refused, refreshed, repeated = wire.take()
        assert refused == ("GET", "/v1/me", before, 401)
        assert refreshed[1:] == ("/v1/auth/token", "", 200)
        assert repeated[:2] == ("GET", "/v1/me") and repeated[3] == 200
        renewed = repeated[2]
        assert renewed != before and _refused_with(second, before) == 401

        _retire_signing_key(second)
        third = start_gateway(shared, name="third")
        conn.base_url = third.http_url
        with conn.stream("GET", "/v1/me") as answer:
            assert answer.status_code == 200
            assert json.loads(answer.read()) == me
        statuses = [(p, t == renewed, s) for _, p, t, s in wire.take()]
        assert statuses == [
            ("/v1/me", True, 401),
            ("/v1/auth/token", False, 200),
            ("/v1/me", False, 200),
        ]
