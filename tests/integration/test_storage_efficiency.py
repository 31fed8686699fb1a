"""Deduplication, compression, garbage collection and aborted uploads, measured in the backend.

Runs on every database/backend combination. "Stored bytes" comes from ``gateway stats``;
the backend itself is measured too (file sizes under ``<data_dir>/blobs`` for the local
backend, object sizes in the backend bucket for S3).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import re
import socket
import subprocess
import sys
import time
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from tests.integration.test_s3_helpers import (
    backend_bytes,
    expect_error,
    local_blob_bytes,
    parse_fields,
    sign,
)
from tests.support.gateway_server import GatewayProcess

MiB = 1024 * 1024
SIZE = 64 * MiB


@cache
def random_block() -> bytes:
    return random.Random(64).randbytes(SIZE)


@cache
def text_like() -> bytes:
    """64 MiB of log-like text: timestamps, levels, ids and Zipf-distributed words.

    Lines pick their phrase from a pool of ~150k phrases drawn from a 4000-word
    vocabulary, with a fresh timestamp, request id and duration each: nothing like a
    repeated block, but as compressible as real logs are.
    """
    rng = random.Random(20240607)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8]
    weights += [2.4, 2.4, 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1]
    vocabulary = sorted(
        {"".join(rng.choices(letters, weights, k=rng.randint(2, 11))) for _ in range(4000)}
    )
    rng.shuffle(vocabulary)
    zipf = list(itertools.accumulate(1 / rank for rank in range(1, len(vocabulary) + 1)))
    words = rng.choices(vocabulary, cum_weights=zipf, k=1_500_000)
    phrases, start = [], 0
    while start < len(words) - 14:
        count = rng.randint(3, 14)
        phrases.append(" ".join(words[start : start + count]))
        start += count
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
    lines, total, stamp, rand = [], 0, 1_700_000_000_000, rng.random
    while total < SIZE:
        stamp += int(rand() * 5000)
        line = (
            f"{stamp} {levels[int(rand() * 6)]} req={int(rand() * 1e9):09d} "
            f"{phrases[int(rand() * len(phrases))]} took {int(rand() * 2000)}ms\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:SIZE]


def stored_bytes(gateway: GatewayProcess) -> int:
    return stored_in(gateway.cli("stats").stdout)


def background(gateway: GatewayProcess, *args: str) -> subprocess.Popen[str]:
    """``gateway <args>`` started in the background (read-only commands may overlap)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", *args],
        env=gateway.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> str:
    """The output of a background command, which must have succeeded."""
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout + stderr
    return stdout


def fsck_ok(gateway: GatewayProcess, running: subprocess.Popen[str] | None = None) -> None:
    """Assert ``gateway fsck`` (the one ``running`` already, or a new one) finds no problem."""
    assert "all well" in finished(running or background(gateway, "fsck", "--quiet"))


def stored_in(output: str) -> int:
    """The ``stored bytes`` figure of ``gateway stats`` output."""
    return int(parse_fields(output)["stored bytes"])


def collect_garbage(gateway: GatewayProcess) -> None:
    gateway.cli("gc", "--grace-seconds", "0")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_text_like_data_is_not_trivially_repetitive() -> None:
    """The generator really produces varied text (guards the compression test's meaning)."""
    data = text_like()
    assert len(data) == SIZE
    blocks = {data[i : i + 4096] for i in range(0, SIZE, 4096)}
    assert len(blocks) == SIZE // 4096
    lines = data[: 4 * MiB].split(b"\n")
    assert len(set(lines)) > 0.99 * len(lines)
    assert max(data) < 128


def test_dedup_compression_and_gc(gateway: GatewayProcess, s3_client: Any, bucket: str) -> None:
    """Same bytes twice cost once, text costs under half, and gc frees it all afterwards."""
    collect_garbage(gateway)
    baseline, baseline_backend = stored_bytes(gateway), backend_bytes(gateway)
    random_body, text_body = random_block(), text_like()

    s3_client.put_object(Bucket=bucket, Key="original", Body=random_body)
    backend_first = backend_bytes(gateway)
    s3_client.put_object(Bucket=bucket, Key="duplicate", Body=random_body)
    after_copies, backend_copies = stored_bytes(gateway), backend_bytes(gateway)
    # Random bytes neither compress nor deduplicate: the first copy costs its size...
    assert backend_first - baseline_backend >= 0.99 * SIZE
    assert after_copies - baseline >= 0.99 * SIZE
    # ... and the second one next to nothing.
    assert backend_copies - backend_first < 0.01 * SIZE
    assert after_copies - baseline < 1.01 * SIZE

    s3_client.put_object(Bucket=bucket, Key="log.txt", Body=text_body)
    # stats and fsck run while the test reads everything back.
    stats_after_text = background(gateway, "stats")
    fsck = background(gateway, "fsck", "--quiet")
    backend_text = backend_bytes(gateway)
    assert 0 < backend_text - backend_copies < 0.5 * SIZE
    if not gateway.env.get("GATEWAY_BACKEND_URL"):
        assert local_blob_bytes(gateway.data_dir) == backend_text

    # What was deduplicated and compressed reads back exactly.
    duplicate = s3_client.get_object(Bucket=bucket, Key="duplicate")["Body"].read()
    assert sha256(duplicate) == sha256(random_body)
    text = s3_client.get_object(Bucket=bucket, Key="log.txt")
    assert text["ContentLength"] == SIZE
    assert sha256(text["Body"].read()) == sha256(text_body)
    middle = s3_client.get_object(Bucket=bucket, Key="log.txt", Range="bytes=33554000-33555000")
    assert middle["Body"].read() == text_body[33554000:33555001]
    assert 0 < stored_in(finished(stats_after_text)) - after_copies < 0.5 * SIZE
    fsck_ok(gateway, fsck)

    for key in ("original", "duplicate", "log.txt"):
        s3_client.delete_object(Bucket=bucket, Key=key)
    collect_garbage(gateway)
    final_stats, fsck = background(gateway, "stats"), background(gateway, "fsck", "--quiet")
    assert stored_in(finished(final_stats)) == baseline
    assert backend_bytes(gateway) == baseline_backend
    if baseline == 0:
        # Nothing else lives on this gateway: the backend is really empty again.
        assert baseline_backend == 0
    fsck_ok(gateway, fsck)


def _abort_upload_midway(gateway: GatewayProcess, bucket: str, key: str) -> None:
    """PUT declaring 10 MiB, send 3 MiB of it, then close the connection."""
    declared = os.urandom(10 * MiB)
    url = f"{gateway.s3_url}/{bucket}/{key}"
    headers = sign(
        "PUT",
        url,
        access_key=gateway.access_key,
        secret_key=gateway.secret_key,
        headers={"Content-Length": str(len(declared))},
        payload_hash=hashlib.sha256(declared).hexdigest(),
    )
    parts = urlsplit(url)
    head = f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as conn:
        conn.sendall(head.encode())
        conn.sendall(declared[: 3 * MiB])


def _logged_put_statuses(gateway: GatewayProcess, bucket: str, key: str, count: int) -> list[int]:
    """The statuses of the PUTs of ``key`` in the access log, once there are ``count``."""
    pattern = re.compile(rf"PUT /{bucket}/{key} PutObject (\d{{3}})")
    deadline = time.monotonic() + 30
    while True:
        found = [int(status) for status in pattern.findall(gateway.log())]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"the gateway never answered the PUT of {key}"
        time.sleep(0.1)


def test_upload_aborted_mid_body_leaves_nothing(
    gateway: GatewayProcess, s3_client: Any, bucket: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key="victim", Body=b"previous version")
    _abort_upload_midway(gateway, bucket, "aborted")
    _abort_upload_midway(gateway, bucket, "victim")
    # The gateway gives up on both bodies as a client error, not a server failure.
    assert [s // 100 for s in _logged_put_statuses(gateway, bucket, "aborted", 1)] == [4]
    assert [s // 100 for s in _logged_put_statuses(gateway, bucket, "victim", 2)] == [2, 4]
    expect_error("NoSuchKey", 404, s3_client.get_object, Bucket=bucket, Key="aborted")
    assert s3_client.get_object(Bucket=bucket, Key="victim")["Body"].read() == b"previous version"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["victim"]
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    fsck_ok(gateway)
    # The gateway still serves.
    s3_client.put_object(Bucket=bucket, Key="after", Body=b"fine")
    assert s3_client.get_object(Bucket=bucket, Key="after")["Body"].read() == b"fine"
