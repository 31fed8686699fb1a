"""Small objects PUT through the S3 API by parallel boto3 clients.

Each worker thread has its own boto3 client, made before the clock starts, and sends one
HEAD bucket request before it too, so that its keep-alive connection is open when the
timed PUTs begin. PutObject goes with botocore's defaults (over plain HTTP: the payload's
SHA-256 signed, a CRC32 checksum header, and botocore's retries), as for the other boto3
figures of the suite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from bench.endpoint import Endpoint
from bench.model import PutTally
from bench.timed_puts import timed_puts

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CLIENT_ERRORS = (BotoCoreError, ClientError, OSError)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{status} {error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _warm_client(endpoint: Endpoint, bucket: str) -> Iterator[S3Client]:
    """A client of its own whose keep-alive connection a HEAD bucket request opened."""
    client = endpoint.s3_client()
    try:
        # When this fails, the first PUT fails too and is counted.
        with contextlib.suppress(*_CLIENT_ERRORS):
            client.head_bucket(Bucket=bucket)
        yield client
    finally:
        client.close()


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

    def put(client: S3Client, item: tuple[str, bytes]) -> str | None:
        key, body = item
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body)
        except _CLIENT_ERRORS as exc:
            return f"PUT {key}: {_describe(exc)}"
        return None

    shares = [[(keys[i], payload(i)) for i in range(w, len(keys), workers)] for w in range(workers)]
    return timed_puts(shares, lambda: _warm_client(endpoint, bucket), put)
