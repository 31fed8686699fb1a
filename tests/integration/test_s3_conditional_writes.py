"""Conditional writes (If-None-Match / If-Match on PUT and Complete) and copy-source
conditionals, against the real gateway."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_s3_helpers import expect_error, unique
from tests.support.gateway_server import GatewayProcess

MiB = 1024 * 1024


def test_if_none_match_star_creates_only(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"first", IfNoneMatch="*")
    expect_error(
        "PreconditionFailed", 412, s3.put_object, Bucket=bkt, Key="k", Body=b"second",
        IfNoneMatch="*",
    )  # fmt: skip
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"first"


def test_if_match_replaces_only_the_expected_version(s3: Any, bkt: str) -> None:
    etag = s3.put_object(Bucket=bkt, Key="k", Body=b"v1")["ETag"]
    s3.put_object(Bucket=bkt, Key="k", Body=b"v2", IfMatch=etag)
    expect_error(
        "PreconditionFailed", 412, s3.put_object, Bucket=bkt, Key="k", Body=b"v3", IfMatch=etag
    )
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"v2"
    expect_error("NoSuchKey", 404, s3.put_object, Bucket=bkt, Key="absent", Body=b"x", IfMatch=etag)


def test_complete_multipart_upload_honours_conditions(s3: Any, bkt: str) -> None:
    etag = s3.put_object(Bucket=bkt, Key="k", Body=b"existing")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="k")["UploadId"]
    part = s3.upload_part(Bucket=bkt, Key="k", UploadId=upload_id, PartNumber=1, Body=b"p")
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    expect_error(
        "PreconditionFailed", 412, s3.complete_multipart_upload, Bucket=bkt, Key="k",
        UploadId=upload_id, MultipartUpload=parts, IfNoneMatch="*",
    )  # fmt: skip
    s3.complete_multipart_upload(
        Bucket=bkt, Key="k", UploadId=upload_id, MultipartUpload=parts, IfMatch=etag
    )
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"p"


def _race(client: Any, bucket: str, key: str, writers: int) -> list[str]:
    """Outcomes ("ok" or the error code) of concurrent If-None-Match PUTs of one key."""
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        barrier.wait()
        try:
            client.put_object(Bucket=bucket, Key=key, Body=b"w%d" % n * 1000, IfNoneMatch="*")
            outcome = "ok"
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_concurrent_if_none_match_puts_have_one_winner(
    database: str,
    start_gateway: Callable[..., GatewayProcess],
    request: pytest.FixtureRequest,
) -> None:
    env = {}
    if database == "postgresql":
        env["GATEWAY_DATABASE_URL"] = request.getfixturevalue("postgres_database_factory")()
    gateway = start_gateway(env, name=database)
    client = gateway.client(max_pool_connections=16)
    bucket = unique("race")
    client.create_bucket(Bucket=bucket)
    for round_number in range(5):
        outcomes = _race(client, bucket, f"key-{round_number}", 8)
        assert outcomes.count("ok") == 1, outcomes
        assert set(outcomes) <= {"ok", "PreconditionFailed", "ConditionalRequestConflict"}


def test_copy_source_conditionals(s3: Any, bkt: str) -> None:
    etag = s3.put_object(Bucket=bkt, Key="src", Body=b"source")["ETag"]
    source = {"Bucket": bkt, "Key": "src"}
    past = datetime.now(UTC) - timedelta(days=1)
    future = datetime.now(UTC) + timedelta(days=1)

    def copy(**conditions: Any) -> Any:
        return s3.copy_object(Bucket=bkt, Key="dst", CopySource=source, **conditions)

    for failing in (
        {"CopySourceIfMatch": '"0123"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": future},
        {"CopySourceIfUnmodifiedSince": past},
        # S3: If-None-Match false and If-Modified-Since true fail.
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": past},
    ):
        expect_error("PreconditionFailed", 412, copy, **failing)
    # S3: If-Match true and If-Unmodified-Since false copy.
    copy(CopySourceIfMatch=etag, CopySourceIfUnmodifiedSince=past)
    copy(CopySourceIfNoneMatch='"0123"', CopySourceIfModifiedSince=past)
    assert s3.get_object(Bucket=bkt, Key="dst")["Body"].read() == b"source"
