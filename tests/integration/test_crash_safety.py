"""Crash safety: a real ``gateway serve`` SIGKILLed at random moments under load.

Client threads write over S3 (PutObject, multipart uploads, CopyObject) and WebDAV (PUT,
COPY, MOVE) while ``gateway gc --grace-seconds 0`` runs now and then; the gateway is
killed, restarted on the same data directory and database, and loaded again. Every write
goes to a key of its own, so what a key must hold follows from the one write that made
it. At the end:

- every acknowledged write reads back byte-identical (a moved-away source is gone);
- a write cut off by the kill left its key absent or complete, never partial, and a MOVE
  cut off left exactly one of its two names;
- the listing holds no key that no write made;
- ``gateway fsck`` exits 0.

The default run does ``KILLS_DEFAULT`` kill points on SQLite; the ``soak`` marker runs
``GATEWAY_CRASH_KILLS`` (default 200) on SQLite and PostgreSQL (docs/crash-safety.md).
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.gateway_server import GatewayProcess, launch, random_key_id

KILLS_DEFAULT = 50
# Seconds of load between a start and its kill: short, so that the default run's kill
# points fit in about two minutes (a start costs about 2 s of imports and checks).
LOAD_SECONDS = (0.1, 0.8)
KILLS_SOAK = int(os.environ.get("GATEWAY_CRASH_KILLS", "200"))
THREADS = 4
BUCKET = "crash"
MIB = 1024 * 1024
ACKED = {200, 201, 204}
PRESENT, ABSENT, MAYBE = "present", "absent", "maybe"


def _content(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class Expectation:
    """What one key must hold: its content (a seed and a size) and whether it exists."""

    seed: int
    size: int
    state: str = MAYBE


@dataclass
class Ledger:
    """Every write attempted and what it was told, shared by the client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: dict[str, Expectation] = field(default_factory=dict)
    # MOVEs cut off by a kill: exactly one of (source, destination) must exist.
    open_moves: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def attempt(self, key: str, seed: int, size: int) -> None:
        with self.lock:
            self.keys[key] = Expectation(seed, size)

    def settle(self, key: str, state: str) -> None:
        with self.lock:
            self.keys[key].state = state

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1


@dataclass
class Client:
    """One load thread: its own keys (the sources of its copies and moves, so no other
    thread moves them away meanwhile) and, per gateway run, its connections."""

    ledger: Ledger
    rng: random.Random
    name: str
    mine: list[str] = field(default_factory=list)
    serial: int = 0
    pending: str | None = None
    gateway: Any = None
    s3: Any = None
    dav: Any = None

    def new_key(self, seed: int, size: int) -> str:
        """A key of its own for the next write, recorded as attempted."""
        self.serial += 1
        key = f"{self.name}-{self.serial}-{secrets.token_hex(3)}"
        self.ledger.attempt(key, seed, size)
        self.pending = key
        return key

    def done(self, key: str) -> None:
        """The write to ``key`` was acknowledged."""
        self.ledger.settle(key, PRESENT)
        self.mine.append(key)
        self.pending = None

    def body(self) -> tuple[int, int]:
        """A new body's seed and size: mostly small, up to 3 MiB; some repeat (dedup)."""
        if self.rng.random() < 0.2:
            return self.rng.randrange(4), 700_000
        return self.rng.randrange(2**32), int(3 * MIB * self.rng.random() ** 3)


def _dav_url(client: Client, key: str) -> str:
    return f"{client.gateway.http_url}/dav/{BUCKET}/{key}"


def _put(client: Client) -> None:
    seed, size = client.body()
    key = client.new_key(seed, size)
    client.s3.put_object(Bucket=BUCKET, Key=key, Body=_content(seed, size))
    client.done(key)


def _multipart(client: Client) -> None:
    seed, size = client.body()
    parts = 2 if client.rng.random() < 0.2 else 1
    size += (parts - 1) * 5 * MIB
    key = client.new_key(seed, size)
    data = _content(seed, size)
    upload = client.s3.create_multipart_upload(Bucket=BUCKET, Key=key).get("UploadId")
    if upload is None:
        # botocore takes an answer whose body the kill cut short for an empty one.
        raise ConnectionError("CreateMultipartUpload answered without its body")
    cuts = [0, 5 * MIB, size] if parts == 2 else [0, size]
    etags = [
        client.s3.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=n + 1, Body=data[low:high]
        )["ETag"]
        for n, (low, high) in enumerate(itertools.pairwise(cuts))
    ]
    client.s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]},
    )
    client.done(key)


def _source(client: Client) -> tuple[str, Expectation] | None:
    if not client.mine:
        return None
    key = client.rng.choice(client.mine)
    return key, client.ledger.keys[key]


def _s3_copy(client: Client) -> None:
    if (picked := _source(client)) is None:
        return
    source, expected = picked
    key = client.new_key(expected.seed, expected.size)
    client.s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": source})
    client.done(key)


def _dav_put(client: Client) -> None:
    seed, size = client.body()
    key = client.new_key(seed, size)
    response = client.dav.put(_dav_url(client, key), content=_content(seed, size))
    if response.status_code not in ACKED:
        raise Refused(response.status_code)
    client.done(key)


def _dav_copy_or_move(client: Client, method: str) -> None:
    if (picked := _source(client)) is None:
        return
    source, expected = picked
    key = client.new_key(expected.seed, expected.size)
    if method == "MOVE":
        client.mine.remove(source)
        client.ledger.settle(source, MAYBE)
        with client.ledger.lock:
            client.ledger.open_moves.append((source, key))
    response = client.dav.request(
        method,
        _dav_url(client, source),
        headers={"Destination": _dav_url(client, key), "Overwrite": "F"},
    )
    acked = response.status_code in ACKED
    if method == "MOVE":
        with client.ledger.lock:
            client.ledger.open_moves.remove((source, key))
        client.ledger.settle(source, ABSENT if acked else PRESENT)
        if not acked:
            client.mine.append(source)
    if not acked:
        raise Refused(response.status_code)
    client.done(key)


class Refused(Exception):
    """The gateway answered a WebDAV request with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


OPERATIONS: list[tuple[float, str, Callable[[Client], None]]] = [
    (0.35, "put", _put),
    (0.15, "multipart", _multipart),
    (0.15, "copy", _s3_copy),
    (0.15, "dav-put", _dav_put),
    (0.1, "dav-copy", lambda c: _dav_copy_or_move(c, "COPY")),
    (0.1, "dav-move", lambda c: _dav_copy_or_move(c, "MOVE")),
]
_TRANSPORT_ERRORS = (httpx.TransportError, BotoCoreError, OSError)


def _load(
    client: Client, stop: threading.Event, killed: threading.Event, failures: list[object]
) -> None:
    """Run random operations until ``stop``; the kill cuts off the one in flight."""
    weights = [w for w, _, _ in OPERATIONS]
    while not stop.is_set():
        _, name, operation = client.rng.choices(OPERATIONS, weights)[0]
        client.pending = None
        try:
            operation(client)
            client.ledger.count(f"{name} acknowledged")
        except (ClientError, Refused) as exc:
            # An error answer: nothing was committed, so the key must not exist.
            status = (
                exc.status
                if isinstance(exc, Refused)
                else exc.response["ResponseMetadata"]["HTTPStatusCode"]
            )
            client.ledger.count(f"{name} {status}")
            if status >= 500 and status != 503:
                failures.append(f"{name}: {status} {exc}")
            if client.pending is not None:
                client.ledger.settle(client.pending, ABSENT)
        except _TRANSPORT_ERRORS as exc:
            if not killed.is_set():
                failures.append(f"{name}: {exc!r} before the kill")
                return
            client.ledger.count(f"{name} cut off")
            return


def _gc(gateway: GatewayProcess, started: list[subprocess.Popen[bytes]]) -> None:
    """Start ``gateway gc --grace-seconds 0`` (killed with the gateway if still running)."""
    started.append(
        subprocess.Popen(
            [sys.executable, "-m", "gateway", "gc", "--grace-seconds", "0"],
            env=gateway.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )


def _connect(client: Client, gateway: GatewayProcess) -> None:
    client.gateway = gateway
    client.s3 = gateway.client(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)
    password = gateway.env["GATEWAY_ADMIN_PASSWORD"]
    client.dav = httpx.Client(auth=("admin", password), timeout=30)


def _run_until_killed(
    gateway: GatewayProcess, clients: list[Client], rng: random.Random, failures: list[object]
) -> None:
    """Load ``gateway`` for ``LOAD_SECONDS``, with a GC run now and then, then SIGKILL it."""
    stop, killed = threading.Event(), threading.Event()
    for client in clients:
        _connect(client, gateway)
    threads = [
        threading.Thread(target=_load, args=(client, stop, killed, failures)) for client in clients
    ]
    for thread in threads:
        thread.start()
    collectors: list[subprocess.Popen[bytes]] = []
    if rng.random() < 0.4:
        _gc(gateway, collectors)
    time.sleep(rng.uniform(*LOAD_SECONDS))
    killed.set()
    stop.set()
    gateway.process.send_signal(signal.SIGKILL)
    gateway.process.wait()
    for collector in collectors:
        if rng.random() < 0.5:
            collector.send_signal(signal.SIGKILL)
        collector.wait()
    for thread in threads:
        thread.join()
    for client in clients:
        client.dav.close()


def _verify(gateway: GatewayProcess, ledger: Ledger) -> dict[str, int]:
    """Check every key against the ledger; return how many keys were in each state."""
    s3 = gateway.client()
    listed: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        listed |= {o["Key"] for o in page.get("Contents", [])}
    assert listed <= set(ledger.keys), f"never written: {sorted(listed - set(ledger.keys))}"
    states: dict[str, int] = {}
    for key, expected in ledger.keys.items():
        states[expected.state] = states.get(expected.state, 0) + 1
        if key not in listed:
            assert expected.state != PRESENT, f"acknowledged {key} is gone"
            continue
        assert expected.state != ABSENT, f"{key} exists though its write was refused"
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == _content(expected.seed, expected.size), f"{key} differs"
    for source, destination in ledger.open_moves:
        assert (source in listed) != (destination in listed), f"MOVE {source} half done"
    return states


def _crash_cycles(tmp_path: Path, kills: int, database_url: str | None) -> None:
    seed = int(os.environ.get("GATEWAY_CRASH_SEED", "0")) or secrets.randbelow(2**32)
    print(f"GATEWAY_CRASH_SEED={seed}")  # shown with a failure, to replay the run
    rng = random.Random(seed)
    env = {
        "GATEWAY_ADMIN_ACCESS_KEY": random_key_id(),
        "GATEWAY_ADMIN_SECRET_KEY": secrets.token_urlsafe(30),
        "GATEWAY_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        **({"GATEWAY_DATABASE_URL": database_url} if database_url else {}),
    }
    data_dir = tmp_path / "gateway"
    ledger = Ledger()
    clients = [Client(ledger, random.Random(rng.random()), f"c{n}") for n in range(THREADS)]
    failures: list[object] = []
    started = time.monotonic()
    starting = 0.0
    for cycle in range(kills):
        starting -= time.monotonic()
        gateway = launch(data_dir, env)
        starting += time.monotonic()
        if cycle == 0:
            gateway.client().create_bucket(Bucket=BUCKET)
        _run_until_killed(gateway, clients, rng, failures)
        assert not failures, failures
    gateway = launch(data_dir, env)
    try:
        states = _verify(gateway, ledger)
    finally:
        gateway.stop()
    fsck = gateway.cli("fsck", "--quiet", check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    print(
        f"{kills} kill points in {time.monotonic() - started:.0f} s "
        f"({starting:.0f} s of it starting the gateway); keys {states}; "
        f"operations {dict(sorted(ledger.counts.items()))}"
    )


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    _crash_cycles(tmp_path, KILLS_DEFAULT, None)


@pytest.mark.soak
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sigkill_soak(request: pytest.FixtureRequest, tmp_path: Path, database: str) -> None:
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    _crash_cycles(tmp_path, KILLS_SOAK, url)
