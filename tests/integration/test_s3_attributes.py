"""GetObjectAttributes against the real gateway."""

from __future__ import annotations

import base64
import zlib
from typing import Any

from tests.integration.test_s3_helpers import expect_error, raw_request
from tests.support.gateway_server import GatewayProcess

MiB = 1024 * 1024
ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_attributes_of_a_simple_object(s3: Any, bkt: str) -> None:
    put = s3.put_object(Bucket=bkt, Key="k", Body=b"hello", ChecksumAlgorithm="CRC32")
    found = s3.get_object_attributes(Bucket=bkt, Key="k", ObjectAttributes=ALL)
    assert found["ETag"] == put["ETag"].strip('"')
    assert found["Checksum"] == {"ChecksumCRC32": crc32(b"hello"), "ChecksumType": "FULL_OBJECT"}
    assert found["StorageClass"] == "STANDARD"
    assert found["ObjectSize"] == 5
    assert "ObjectParts" not in found
    assert found["LastModified"]


def test_object_parts_are_paged(s3: Any, bkt: str) -> None:
    parts = [b"a" * (5 * MiB), b"b" * (5 * MiB), b"c" * 10]
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="mp", ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]
    done = []
    for number, body in enumerate(parts, start=1):
        answer = s3.upload_part(
            Bucket=bkt, Key="mp", UploadId=upload_id, PartNumber=number, Body=body
        )
        done.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": crc32(body)})
    s3.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    first = s3.get_object_attributes(
        Bucket=bkt, Key="mp", ObjectAttributes=["ObjectParts", "Checksum"], MaxParts=2
    )
    assert first["Checksum"]["ChecksumType"] == "COMPOSITE"
    page = first["ObjectParts"]
    assert (page["TotalPartsCount"], page["IsTruncated"], page["NextPartNumberMarker"]) == (
        3, True, 2,
    )  # fmt: skip
    assert [(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in page["Parts"]] == [
        (1, 5 * MiB, crc32(parts[0])),
        (2, 5 * MiB, crc32(parts[1])),
    ]
    rest = s3.get_object_attributes(
        Bucket=bkt, Key="mp", ObjectAttributes=["ObjectParts"], PartNumberMarker=2
    )["ObjectParts"]
    assert rest["IsTruncated"] is False
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]


def test_attribute_errors(s3_gateway: GatewayProcess, s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x")
    expect_error(
        "NoSuchKey", 404, s3.get_object_attributes, Bucket=bkt, Key="absent",
        ObjectAttributes=["ETag"],
    )  # fmt: skip
    bad = raw_request(
        s3_gateway, "GET", f"/{bkt}/k", query="attributes",
        headers={"x-amz-object-attributes": "ETag,Colour"},
    )  # fmt: skip
    assert (bad.status_code, b"<Code>InvalidArgument</Code>" in bad.content) == (400, True)
    missing = raw_request(s3_gateway, "GET", f"/{bkt}/k", query="attributes")
    assert (missing.status_code, b"<Code>InvalidRequest</Code>" in missing.content) == (400, True)
