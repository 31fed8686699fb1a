"""Multipart, complete: UploadPartCopy, every CompleteMultipartUpload check, paged
ListParts and ListMultipartUploads, GetObject/HeadObject with partNumber, parallel
out-of-order parts and the expiry of abandoned uploads, against the real gateway."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.test_s3_helpers import (
    add_user,
    backend_bytes,
    expect_error,
    raw_request,
    unique,
    user_client,
)
from tests.integration.test_s3_versioning import remove_everything
from tests.support.gateway_server import GatewayProcess

MiB = 1024 * 1024

pytestmark = pytest.mark.schemes("http", "https")


def _random(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def _md5(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def _copy_part(s3: Any, bkt: str, upload_id: str, number: int, source: str, **extra: Any) -> Any:
    return s3.upload_part_copy(
        Bucket=bkt,
        Key="dst",
        UploadId=upload_id,
        PartNumber=number,
        CopySource=source,
        **extra,
    )


def _complete(s3: Any, bkt: str, key: str, upload_id: str, parts: list[dict[str, Any]]) -> Any:
    return s3.complete_multipart_upload(
        Bucket=bkt, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


def _manifest(gateway: GatewayProcess, bucket: str, key: str) -> list[tuple[int, int]]:
    """(offset, length) of each chunk of the key's current version, from the database."""
    with sqlite3.connect(gateway.data_dir / "gateway.db") as db:
        return db.execute(
            "SELECT e.offset, e.length FROM manifest_entries e"
            " JOIN versions v ON v.manifest_id = e.manifest_id"
            " JOIN objects o ON o.id = v.object_id JOIN buckets b ON b.id = o.bucket_id"
            " WHERE b.name = ? AND o.key = ? AND v.is_current ORDER BY e.seq",
            (bucket, key),
        ).fetchall()


# --- UploadPartCopy ---------------------------------------------------------------------


def test_part_copies_of_ranges_assemble_the_right_bytes(s3: Any, bkt: str) -> None:
    data = _random(12 * MiB)
    s3.put_object(Bucket=bkt, Key="src", Body=data)
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="dst")["UploadId"]
    ranges = [(0, 5 * MiB + 12345), (3, 5 * MiB + 2), (7 * MiB + 1, len(data) - 1)]
    parts = []
    for number, (first, last) in enumerate(ranges, start=1):
        result = _copy_part(
            s3, bkt, upload_id, number, f"{bkt}/src", CopySourceRange=f"bytes={first}-{last}"
        )["CopyPartResult"]
        assert result["ETag"] == _md5(data[first : last + 1])
        assert result["LastModified"]
        parts.append({"PartNumber": number, "ETag": result["ETag"]})
    listed = s3.list_parts(Bucket=bkt, Key="dst", UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in listed] == [last - first + 1 for first, last in ranges]
    _complete(s3, bkt, "dst", upload_id, parts)
    expected = b"".join(data[first : last + 1] for first, last in ranges)
    assert s3.get_object(Bucket=bkt, Key="dst")["Body"].read() == expected


@pytest.mark.schemes("http")
def test_chunk_aligned_part_copy_is_metadata_only(
    s3_gateway: GatewayProcess, s3: Any, bkt: str
) -> None:
    data = _random(16 * MiB, seed=2)
    s3.put_object(Bucket=bkt, Key="src", Body=data)
    chunks = _manifest(s3_gateway, bkt, "src")
    assert len(chunks) >= 6
    first, last = chunks[1][0], chunks[-2][0] + chunks[-2][1] - 1
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="dst")["UploadId"]
    before = backend_bytes(s3_gateway)
    _copy_part(s3, bkt, upload_id, 1, f"{bkt}/src", CopySourceRange=f"bytes={first}-{last}")
    whole = _copy_part(s3, bkt, upload_id, 2, f"{bkt}/src")
    assert backend_bytes(s3_gateway) == before  # not one byte stored for ~30 MiB of parts
    assert whole["CopyPartResult"]["ETag"] == _md5(data)
    # An unaligned range stores only its two edge chunks' bytes anew.
    _copy_part(s3, bkt, upload_id, 3, f"{bkt}/src", CopySourceRange=f"bytes=10-{len(data) - 10}")
    edges = chunks[0][1] + chunks[-1][1]
    assert backend_bytes(s3_gateway) - before < edges + 64 * 1024
    parts = s3.list_parts(Bucket=bkt, Key="dst", UploadId=upload_id)["Parts"]
    _complete(
        s3,
        bkt,
        "dst",
        upload_id,
        [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts],
    )
    body = s3.get_object(Bucket=bkt, Key="dst")["Body"].read()
    assert body == data[first : last + 1] + data + data[10 : len(data) - 9]
    assert "all well" in s3_gateway.cli("fsck", "--quiet").stdout


def test_part_copy_of_an_old_version_and_with_conditions(s3: Any) -> None:
    bkt = unique("upcv")
    s3.create_bucket(Bucket=bkt)
    s3.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Enabled"})
    try:
        old = s3.put_object(Bucket=bkt, Key="src", Body=b"old bytes")
        new = s3.put_object(Bucket=bkt, Key="src", Body=b"new bytes!")
        upload_id = s3.create_multipart_upload(Bucket=bkt, Key="dst")["UploadId"]
        copied = _copy_part(s3, bkt, upload_id, 1, f"{bkt}/src?versionId={old['VersionId']}")
        assert copied["CopySourceVersionId"] == old["VersionId"]
        assert copied["CopyPartResult"]["ETag"] == _md5(b"old bytes")
        _copy_part(s3, bkt, upload_id, 2, f"{bkt}/src", CopySourceIfMatch=new["ETag"])
        expect_error(
            "PreconditionFailed",
            412,
            _copy_part,
            s3,
            bkt,
            upload_id,
            3,
            f"{bkt}/src",
            CopySourceIfNoneMatch=new["ETag"],
        )
        s3.delete_object(Bucket=bkt, Key="src", VersionId=old["VersionId"])
        gone = f"{bkt}/src?versionId={old['VersionId']}"
        expect_error("NoSuchVersion", 404, _copy_part, s3, bkt, upload_id, 3, gone)
    finally:
        remove_everything(s3, bkt)


def test_part_copy_with_the_uploads_checksum(s3: Any, bkt: str) -> None:
    data = _random(300_000, seed=3)
    s3.put_object(Bucket=bkt, Key="src", Body=data)
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="dst", ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]
    result = _copy_part(s3, bkt, upload_id, 1, f"{bkt}/src", CopySourceRange="bytes=5-999")
    crc = base64.b64encode(zlib.crc32(data[5:1000]).to_bytes(4, "big")).decode()
    assert result["CopyPartResult"]["ChecksumCRC32"] == crc
    part = {"PartNumber": 1, "ETag": result["CopyPartResult"]["ETag"], "ChecksumCRC32": crc}
    _complete(s3, bkt, "dst", upload_id, [part])
    assert s3.get_object(Bucket=bkt, Key="dst")["Body"].read() == data[5:1000]


@pytest.mark.parametrize(
    ("value", "code", "status"),
    [
        ("bytes=0", "InvalidArgument", 400),
        ("bytes=-5", "InvalidArgument", 400),
        ("bytes=9-3", "InvalidArgument", 400),
        ("items=0-3", "InvalidArgument", 400),
        ("bytes=0-100", "InvalidRange", 416),
        ("bytes=64-70", "InvalidRange", 416),
    ],
)
def test_part_copy_range_errors(s3: Any, bkt: str, value: str, code: str, status: int) -> None:
    s3.put_object(Bucket=bkt, Key="src", Body=b"x" * 64)
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="dst")["UploadId"]
    error = expect_error(
        code, status, _copy_part, s3, bkt, upload_id, 1, f"{bkt}/src", CopySourceRange=value
    )
    if code == "InvalidArgument":
        assert "bytes=first-last" in error.response["Error"]["Message"]


def test_part_copy_source_and_upload_errors(s3_gateway: GatewayProcess, s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="src", Body=b"source")
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="dst")["UploadId"]
    expect_error("NoSuchKey", 404, _copy_part, s3, bkt, upload_id, 1, f"{bkt}/missing")
    expect_error("NoSuchBucket", 404, _copy_part, s3, bkt, upload_id, 1, "no-such-bkt-x1/k")
    expect_error("NoSuchUpload", 404, _copy_part, s3, bkt, "nope", 1, f"{bkt}/src")
    expect_error("InvalidArgument", 400, _copy_part, s3, bkt, upload_id, 0, f"{bkt}/src")
    _, access, secret = add_user(s3_gateway, "upc")
    other = user_client(s3_gateway, access, secret)
    their_bucket = f"{bkt}-theirs"
    other.create_bucket(Bucket=their_bucket)
    try:
        other.put_object(Bucket=their_bucket, Key="secret", Body=b"theirs")
        expect_error(
            "AccessDenied", 403, _copy_part, s3, bkt, upload_id, 1, f"{their_bucket}/secret"
        )
    finally:
        other.delete_object(Bucket=their_bucket, Key="secret")
        other.delete_bucket(Bucket=their_bucket)


def test_aws_cli_upload_part_copy(s3_gateway: GatewayProcess, s3: Any, bkt: str) -> None:
    data = _random(2 * MiB, seed=4)
    s3.put_object(Bucket=bkt, Key="src", Body=data)
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="dst")["UploadId"]
    output = subprocess.run(
        [
            "aws",
            "s3api",
            "upload-part-copy",
            "--endpoint-url",
            s3_gateway.s3_url,
            "--bucket",
            bkt,
            "--key",
            "dst",
            "--upload-id",
            upload_id,
            "--part-number",
            "1",
            "--copy-source",
            f"{bkt}/src",
            "--copy-source-range",
            "bytes=100-1048675",
        ],
        env=_cli_env(s3_gateway),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(output.stdout)["CopyPartResult"]["ETag"] == _md5(data[100:1048676])


def _cli_env(gateway: GatewayProcess) -> dict[str, str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": gateway.access_key,
        "AWS_SECRET_ACCESS_KEY": gateway.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if gateway.ca_file is not None:
        env["AWS_CA_BUNDLE"] = str(gateway.ca_file)
    return env


# --- CompleteMultipartUpload checks ------------------------------------------------------


def _two_parts(s3: Any, bkt: str, key: str, first: int = 5 * MiB) -> tuple[str, list[dict]]:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key=key)["UploadId"]
    parts = []
    for number, body in ((1, _random(first, 5)), (2, b"tail")):
        etag = s3.upload_part(
            Bucket=bkt, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    return upload_id, parts


def test_complete_checks_answer_s3_errors(s3: Any, bkt: str) -> None:
    upload_id, parts = _two_parts(s3, bkt, "k")
    expect_error("InvalidPartOrder", 400, _complete, s3, bkt, "k", upload_id, parts[::-1])
    expect_error("InvalidPartOrder", 400, _complete, s3, bkt, "k", upload_id, [parts[0]] * 2)
    missing = [*parts, {"PartNumber": 3, "ETag": parts[1]["ETag"]}]
    expect_error("InvalidPart", 400, _complete, s3, bkt, "k", upload_id, missing)
    wrong = [parts[0], {"PartNumber": 2, "ETag": parts[0]["ETag"]}]
    expect_error("InvalidPart", 400, _complete, s3, bkt, "k", upload_id, wrong)
    expect_error("MalformedXML", 400, _complete, s3, bkt, "k", upload_id, [])
    expect_error("NoSuchUpload", 404, _complete, s3, bkt, "k", "no-such-upload", parts)
    # Every failed attempt left the upload as it was: it still completes.
    assert _complete(s3, bkt, "k", upload_id, parts)["ETag"].endswith('-2"')
    expect_error("NoSuchUpload", 404, _complete, s3, bkt, "k", upload_id, parts)


def test_complete_rejects_a_small_part_before_the_last(s3: Any, bkt: str) -> None:
    upload_id, parts = _two_parts(s3, bkt, "small", first=MiB)
    expect_error("EntityTooSmall", 400, _complete, s3, bkt, "small", upload_id, parts)
    # Alone, the small part is the last one and is fine.
    _complete(s3, bkt, "small", upload_id, parts[:1])


@pytest.mark.schemes("http")
def test_complete_with_malformed_xml(s3_gateway: GatewayProcess, s3: Any, bkt: str) -> None:
    upload_id, _ = _two_parts(s3, bkt, "xml", first=1)
    for body in (b"<CompleteMultipartUpload><Part>", b"not xml", b"<Other/>"):
        response = raw_request(
            s3_gateway, "POST", f"/{bkt}/xml", query=f"uploadId={upload_id}", body=body
        )
        assert response.status_code == 400, response.text
        assert b"<Code>MalformedXML</Code>" in response.content


# --- ListParts and ListMultipartUploads paging ------------------------------------------------


def test_list_parts_pages_through_every_part(s3: Any, bkt: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="k")["UploadId"]
    for number in (9, 2, 5, 1, 7):
        s3.upload_part(Bucket=bkt, Key="k", UploadId=upload_id, PartNumber=number, Body=b"p")
    seen, marker = [], 0
    while True:
        page = s3.list_parts(
            Bucket=bkt, Key="k", UploadId=upload_id, MaxParts=2, PartNumberMarker=marker
        )
        seen.append([p["PartNumber"] for p in page["Parts"]])
        assert page["MaxParts"] == 2
        if not page["IsTruncated"]:
            break
        marker = page["NextPartNumberMarker"]
        assert marker == seen[-1][-1]
    assert seen == [[1, 2], [5, 7], [9]]
    paginator = s3.get_paginator("list_parts")
    pages = paginator.paginate(Bucket=bkt, Key="k", UploadId=upload_id, MaxParts=3)
    assert [p["PartNumber"] for page in pages for p in page["Parts"]] == [1, 2, 5, 7, 9]


def test_list_multipart_uploads_pages_in_s3_order(s3: Any, bkt: str) -> None:
    keys = ["a/1", "b", "b", "b", "c/x", "c/y", "d"]
    ids = [s3.create_multipart_upload(Bucket=bkt, Key=key)["UploadId"] for key in keys]
    expected = list(zip(keys, ids, strict=True))  # by key, then by initiation
    pages = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bkt, PaginationConfig={"PageSize": 2}
    )
    listed, truncated = [], []
    for page in pages:
        listed += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        truncated.append(page["IsTruncated"])
    assert listed == expected
    assert truncated == [True, True, True, False]
    first = s3.list_multipart_uploads(Bucket=bkt, MaxUploads=2)
    assert (first["NextKeyMarker"], first["NextUploadIdMarker"]) == ("b", ids[1])
    after_b = s3.list_multipart_uploads(Bucket=bkt, KeyMarker="b")
    assert [u["Key"] for u in after_b["Uploads"]] == ["c/x", "c/y", "d"]
    grouped = s3.list_multipart_uploads(Bucket=bkt, Delimiter="/", MaxUploads=3)
    assert [c["Prefix"] for c in grouped["CommonPrefixes"]] == ["a/"]
    assert [u["Key"] for u in grouped["Uploads"]] == ["b", "b"]
    assert grouped["IsTruncated"] is True
    rest = s3.list_multipart_uploads(
        Bucket=bkt,
        Delimiter="/",
        KeyMarker=grouped["NextKeyMarker"],
        UploadIdMarker=grouped["NextUploadIdMarker"],
    )
    assert [u["Key"] for u in rest["Uploads"]] == ["b", "d"]
    assert [c["Prefix"] for c in rest["CommonPrefixes"]] == ["c/"]
    under_c = s3.list_multipart_uploads(Bucket=bkt, Prefix="c/")
    assert [u["Key"] for u in under_c["Uploads"]] == ["c/x", "c/y"]


# --- GetObject / HeadObject with partNumber ----------------------------------------------


def test_get_and_head_by_part_number(s3: Any, bkt: str) -> None:
    bodies = [_random(5 * MiB, 6), _random(5 * MiB, 7), b"last part"]
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="mp")["UploadId"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        etag = s3.upload_part(
            Bucket=bkt, Key="mp", UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    etag = _complete(s3, bkt, "mp", upload_id, parts)["ETag"]
    total = sum(map(len, bodies))
    second = s3.get_object(Bucket=bkt, Key="mp", PartNumber=2)
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert second["ContentRange"] == f"bytes {5 * MiB}-{10 * MiB - 1}/{total}"
    assert (second["PartsCount"], second["ETag"]) == (3, etag)
    assert second["Body"].read() == bodies[1]
    head = s3.head_object(Bucket=bkt, Key="mp", PartNumber=3)
    assert (head["ContentLength"], head["PartsCount"]) == (len(bodies[2]), 3)
    assert head["ContentRange"] == f"bytes {10 * MiB}-{total - 1}/{total}"
    expect_error("InvalidPartNumber", 416, s3.get_object, Bucket=bkt, Key="mp", PartNumber=4)
    expect_error("416", 416, s3.head_object, Bucket=bkt, Key="mp", PartNumber=4)
    expect_error(
        "InvalidRequest", 400, s3.get_object, Bucket=bkt, Key="mp", PartNumber=1, Range="bytes=0-1"
    )


def test_part_number_of_a_single_part_object(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="plain", Body=b"0123456789")
    whole = s3.get_object(Bucket=bkt, Key="plain", PartNumber=1)
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert whole["ContentRange"] == "bytes 0-9/10"
    assert "PartsCount" not in whole
    assert whole["Body"].read() == b"0123456789"
    expect_error("InvalidPartNumber", 416, s3.get_object, Bucket=bkt, Key="plain", PartNumber=2)
    expect_error("InvalidArgument", 400, s3.get_object, Bucket=bkt, Key="plain", PartNumber=0)


# --- parallel parts ---------------------------------------------------------------------


def test_parts_uploaded_in_parallel_out_of_order(s3: Any, bkt: str) -> None:
    bodies = {n: _random(5 * MiB + n, seed=10 + n) for n in range(1, 9)}
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="par")["UploadId"]
    order = list(bodies)
    random.Random(5).shuffle(order)

    def send(number: int, body: bytes) -> tuple[int, str]:
        response = s3.upload_part(
            Bucket=bkt, Key="par", UploadId=upload_id, PartNumber=number, Body=body
        )
        return number, response["ETag"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        etags = dict(pool.map(lambda n: send(n, bodies[n]), order))
    bodies[4] = _random(5 * MiB, seed=99)  # re-uploading a part replaces it
    etags[4] = send(4, bodies[4])[1]
    listed = s3.list_parts(Bucket=bkt, Key="par", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == sorted(etags.items())
    chosen = [1, 3, 4, 6, 8]
    _complete(s3, bkt, "par", upload_id, [{"PartNumber": n, "ETag": etags[n]} for n in chosen])
    body = s3.get_object(Bucket=bkt, Key="par")["Body"].read()
    assert body == b"".join(bodies[n] for n in chosen)


# --- expiry of abandoned uploads ----------------------------------------------------------


@pytest.mark.schemes("http")
def test_abandoned_upload_expires_and_gc_collects_its_chunks(
    start_gateway: Any,
) -> None:
    gateway = start_gateway({"GATEWAY_MULTIPART_EXPIRY_SECONDS": "2"}, name="expiry")
    s3 = gateway.client()
    s3.create_bucket(Bucket="expiry")
    s3.put_object(Bucket="expiry", Key="kept", Body=_random(MiB, seed=20))
    baseline = backend_bytes(gateway)
    upload_id = s3.create_multipart_upload(Bucket="expiry", Key="gone")["UploadId"]
    s3.upload_part(
        Bucket="expiry", Key="gone", UploadId=upload_id, PartNumber=1, Body=_random(3 * MiB, 21)
    )
    assert backend_bytes(gateway) > baseline + 2 * MiB
    time.sleep(2.5)
    output = gateway.cli("gc", "--grace-seconds", "0").stdout
    assert "expired 1 abandoned multipart uploads" in output
    expect_error(
        "NoSuchUpload", 404, s3.list_parts, Bucket="expiry", Key="gone", UploadId=upload_id
    )
    assert backend_bytes(gateway) == baseline
    assert s3.get_object(Bucket="expiry", Key="kept")["Body"].read() == _random(MiB, seed=20)
    assert "all well" in gateway.cli("fsck", "--quiet").stdout
