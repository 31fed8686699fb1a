"""Additional checksums (x-amz-checksum-*): verified on write, stored, returned on request.

boto3 runs with its default integrity settings: it sends CRC32 with every upload (as an
aws-chunked trailer over HTTPS, as a header over HTTP), asks for checksums on every
GetObject and validates the body against the one returned.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import pytest
from awscrt import checksums as crt

from tests.integration.test_s3_helpers import expect_error, raw_request
from tests.support.gateway_server import GatewayProcess

MiB = 1024 * 1024

pytestmark = pytest.mark.schemes("http", "https")


def b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


def crc32(data: bytes) -> str:
    return b64(zlib.crc32(data), 4)


def test_default_put_stores_crc32_and_get_returns_it_validated(s3: Any, bkt: str) -> None:
    body = b"checksummed body " * 1000
    put = s3.put_object(Bucket=bkt, Key="k", Body=body)
    assert put["ChecksumCRC32"] == crc32(body)
    got = s3.get_object(Bucket=bkt, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body  # botocore validates the CRC32 while reading
    assert got["ChecksumCRC32"] == crc32(body)
    assert got["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bkt, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32(body)


def test_checksum_is_returned_only_when_asked_and_not_for_ranges(
    s3_gateway: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"0123456789")
    plain = raw_request(s3_gateway, "GET", f"/{bkt}/k")
    assert "x-amz-checksum-crc32" not in plain.headers
    ranged = s3.get_object(Bucket=bkt, Key="k", Range="bytes=0-3", ChecksumMode="ENABLED")
    assert ranged["Body"].read() == b"0123"
    assert "ChecksumCRC32" not in ranged


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_each_algorithm_round_trips(s3: Any, bkt: str, algorithm: str) -> None:
    body = b"some bytes" * 999
    put = s3.put_object(Bucket=bkt, Key="k", Body=body, ChecksumAlgorithm=algorithm)
    value = put[f"Checksum{algorithm}"]
    got = s3.get_object(Bucket=bkt, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"] == value


@pytest.mark.schemes("http")
def test_wrong_checksum_is_bad_digest_and_stores_nothing(s3: Any, bkt: str) -> None:
    expect_error(
        "BadDigest", 400, s3.put_object, Bucket=bkt, Key="k", Body=b"abc",
        ChecksumCRC32=crc32(b"abd"),
    )  # fmt: skip
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="k")


@pytest.mark.schemes("http")
def test_malformed_checksum_is_invalid_request(s3_gateway: GatewayProcess, bkt: str) -> None:
    response = raw_request(
        s3_gateway, "PUT", f"/{bkt}/k", body=b"abc", headers={"x-amz-checksum-crc32": "xx"}
    )
    assert response.status_code == 400
    assert b"<Code>InvalidRequest</Code>" in response.content


def _multipart(
    s3: Any, bkt: str, parts: list[bytes], algorithm: str, checksum_type: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    extra = {"ChecksumType": checksum_type} if checksum_type else {}
    created = s3.create_multipart_upload(Bucket=bkt, Key="mp", ChecksumAlgorithm=algorithm, **extra)
    assert created["ChecksumAlgorithm"] == algorithm
    upload_id = created["UploadId"]
    done = []
    for number, body in enumerate(parts, start=1):
        answer = s3.upload_part(
            Bucket=bkt, Key="mp", UploadId=upload_id, PartNumber=number, Body=body,
            ChecksumAlgorithm=algorithm,
        )  # fmt: skip
        done.append(
            {"PartNumber": number, "ETag": answer["ETag"],
             f"Checksum{algorithm}": answer[f"Checksum{algorithm}"]}
        )  # fmt: skip
    return upload_id, done


def test_multipart_composite_checksum(s3: Any, bkt: str) -> None:
    parts = [b"a" * (5 * MiB), b"b" * 1000]
    upload_id, done = _multipart(s3, bkt, parts, "CRC32")
    listed = s3.list_parts(Bucket=bkt, Key="mp", UploadId=upload_id)
    assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [crc32(p) for p in parts]
    result = s3.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    joined = b"".join(base64.b64decode(crc32(p)) for p in parts)
    expected = f"{crc32(joined)}-2"
    assert result["ChecksumCRC32"] == expected
    assert result["ChecksumType"] == "COMPOSITE"
    got = s3.get_object(Bucket=bkt, Key="mp", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(parts)
    assert got["ChecksumCRC32"] == expected
    assert got["ChecksumType"] == "COMPOSITE"


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC64NVME"])
def test_multipart_full_object_crc_combines_parts(s3: Any, bkt: str, algorithm: str) -> None:
    parts = [b"x" * (5 * MiB), b"y" * 777]
    upload_id, done = _multipart(s3, bkt, parts, algorithm, "FULL_OBJECT")
    result = s3.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    whole = b"".join(parts)
    expected = b64(crt.crc32c(whole), 4) if algorithm == "CRC32C" else b64(crt.crc64nvme(whole), 8)
    assert result[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bkt, Key="mp", ChecksumMode="ENABLED")
    assert got["Body"].read() == whole  # validated by botocore: a full-object CRC
    assert got["ChecksumType"] == "FULL_OBJECT"


def test_invalid_upload_checksum_type_is_invalid_request(s3: Any, bkt: str) -> None:
    expect_error(
        "InvalidRequest", 400, s3.create_multipart_upload, Bucket=bkt, Key="mp",
        ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT",
    )  # fmt: skip


def test_part_without_the_uploads_checksum_is_rejected(s3: Any, bkt: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="mp", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    expect_error(
        "InvalidRequest", 400, s3.upload_part, Bucket=bkt, Key="mp", UploadId=upload_id,
        PartNumber=1, Body=b"data", ChecksumAlgorithm="CRC32",
    )  # fmt: skip
    s3.abort_multipart_upload(Bucket=bkt, Key="mp", UploadId=upload_id)


def test_complete_checks_part_checksums(s3: Any, bkt: str) -> None:
    upload_id, done = _multipart(s3, bkt, [b"only part"], "SHA1")
    missing = [{"PartNumber": 1, "ETag": done[0]["ETag"]}]
    expect_error(
        "InvalidRequest", 400, s3.complete_multipart_upload, Bucket=bkt, Key="mp",
        UploadId=upload_id, MultipartUpload={"Parts": missing},
    )  # fmt: skip
    wrong = [{**done[0], "ChecksumSHA1": base64.b64encode(b"\0" * 20).decode()}]
    expect_error(
        "InvalidPart", 400, s3.complete_multipart_upload, Bucket=bkt, Key="mp",
        UploadId=upload_id, MultipartUpload={"Parts": wrong},
    )  # fmt: skip
    s3.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done}
    )


def test_copy_keeps_the_checksum(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="src", Body=b"copied", ChecksumAlgorithm="SHA256")
    copied = s3.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"})
    source = s3.head_object(Bucket=bkt, Key="src", ChecksumMode="ENABLED")
    assert copied["CopyObjectResult"]["ChecksumSHA256"] == source["ChecksumSHA256"]
    got = s3.get_object(Bucket=bkt, Key="dst", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"copied"
