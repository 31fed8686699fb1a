"""Small objects PUT through the S3 API by parallel boto3 clients.

Each worker thread has its own boto3 client, made before the clock starts, and sends one
HEAD bucket request before it too, so that its keep-alive connection is open when the
timed PUTs begin. PutObject goes with botocore's defaults (over plain HTTP: the payload's
SHA-256 signed, a CRC32 checksum header, and botocore's retries), as for the other boto3
figures of the suite.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from bench.endpoint import Endpoint
from bench.model import PutTally

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CLIENT_ERRORS = (BotoCoreError, ClientError, OSError)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{status} {error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


class _Worker(threading.Thread):
    """PUTs its share of the objects with its own client, after the start barrier."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        items: Sequence[tuple[str, bytes]],
        barrier: threading.Barrier,
        stop: threading.Event,
        tally: PutTally,
        lock: threading.Lock,
    ) -> None:
        super().__init__(daemon=True)
        self._client = client
        self._bucket = bucket
        self._items = items
        self._barrier = barrier
        self._stop_event = stop
        self._tally = tally
        self._lock = lock

    def run(self) -> None:
        # Opens the connection; when this fails, the first PUT fails too and is counted.
        with contextlib.suppress(*_CLIENT_ERRORS):
            self._client.head_bucket(Bucket=self._bucket)
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            return  # the batch was called off before it started
        for key, body in self._items:
            if self._stop_event.is_set():
                return
            error = None
            try:
                self._client.put_object(Bucket=self._bucket, Key=key, Body=body)
            except _CLIENT_ERRORS as exc:
                error = f"PUT {key}: {_describe(exc)}"
            with self._lock:
                self._tally.add(error)


def parallel_puts(
    endpoint: Endpoint,
    bucket: str,
    keys: Sequence[str],
    payload: Callable[[int], bytes],
    workers: int,
) -> PutTally:
    """PutObject ``payload(i)`` as ``bucket/keys[i]`` for every key, with ``workers``
    threads, worker ``w`` taking keys ``w``, ``w + workers``...

    The clients and payloads are made before the clock starts; the time runs from the
    moment every worker has opened its connection to the moment the last one finishes.
    A KeyboardInterrupt stops the workers before their next request.
    """
    shares = [[(keys[i], payload(i)) for i in range(w, len(keys), workers)] for w in range(workers)]
    clients = [endpoint.s3_client() for _ in range(workers)]
    barrier = threading.Barrier(workers + 1)
    stop = threading.Event()
    tally, lock = PutTally(), threading.Lock()
    threads = [
        _Worker(client, bucket, share, barrier, stop, tally, lock)
        for client, share in zip(clients, shares, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        tally.seconds = time.perf_counter() - started
    finally:
        stop.set()
        barrier.abort()
        for client in clients:
            client.close()
    return tally
