"""Multipart uploads against the real gateway."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest

from tests.integration.test_s3_helpers import (
    assert_s3_error,
    expect_error,
    raw_request,
    s3_error,
)
from tests.support.gateway_server import GatewayProcess

MiB = 1024 * 1024

# Every test that reaches the gateway through ``s3_gateway`` (or ``s3`` / ``bkt``) runs over
# plain HTTP and over HTTPS; see tests/integration/conftest.py.
pytestmark = pytest.mark.schemes("http", "https")


def md5(data: bytes) -> hashlib._Hash:
    return hashlib.md5(data, usedforsecurity=False)


def multipart_etag(parts: list[bytes]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, ``-`` part count."""
    joined = b"".join(md5(part).digest() for part in parts)
    return f'"{md5(joined).hexdigest()}-{len(parts)}"'


def _upload(client: Any, bucket: str, key: str, parts: list[bytes]) -> tuple[str, list[dict]]:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for number, body in enumerate(parts, start=1):
        etag = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
    return upload_id, done


def test_multipart_upload_lifecycle(gateway: GatewayProcess, s3_client: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1 * MiB)]
    upload_id = s3_client.create_multipart_upload(
        Bucket=bucket,
        Key="big/object.bin",
        ContentType="application/x-big",
        Metadata={"purpose": "multipart"},
    )["UploadId"]
    completed = []
    for number, body in enumerate(parts, start=1):
        response = s3_client.upload_part(
            Bucket=bucket, Key="big/object.bin", UploadId=upload_id, PartNumber=number, Body=body
        )
        assert response["ETag"] == f'"{md5(body).hexdigest()}"'
        completed.append({"PartNumber": number, "ETag": response["ETag"]})

    # In progress: listed as an upload, invisible as an object.
    uploads = s3_client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big/object.bin", upload_id)]
    expect_error("404", 404, s3_client.head_object, Bucket=bucket, Key="big/object.bin")
    expect_error("NoSuchKey", 404, s3_client.get_object, Bucket=bucket, Key="big/object.bin")
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    listed = s3_client.list_parts(Bucket=bucket, Key="big/object.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed["Parts"]] == [
        (n, len(body), f'"{md5(body).hexdigest()}"') for n, body in enumerate(parts, start=1)
    ]
    assert listed["IsTruncated"] is False

    result = s3_client.complete_multipart_upload(
        Bucket=bucket,
        Key="big/object.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": completed},
    )
    expected_etag = multipart_etag(parts)
    assert result["ETag"] == expected_etag
    assert result["Key"] == "big/object.bin"

    whole = b"".join(parts)
    response = s3_client.get_object(Bucket=bucket, Key="big/object.bin")
    assert response["ETag"] == expected_etag
    assert response["ContentLength"] == len(whole)
    assert response["ContentType"] == "application/x-big"
    assert response["Metadata"] == {"purpose": "multipart"}
    assert hashlib.sha256(response["Body"].read()).digest() == hashlib.sha256(whole).digest()
    # A range across the boundary of parts 1 and 2.
    ranged = s3_client.get_object(
        Bucket=bucket, Key="big/object.bin", Range=f"bytes={5 * MiB - 100}-{5 * MiB + 99}"
    )
    assert ranged["Body"].read() == whole[5 * MiB - 100 : 5 * MiB + 100]
    listing = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listing] == [
        ("big/object.bin", len(whole), expected_etag)
    ]
    # The upload is finished: gone from the list, and its id no longer usable.
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    expect_error(
        "NoSuchUpload",
        404,
        s3_client.list_parts,
        Bucket=bucket,
        Key="big/object.bin",
        UploadId=upload_id,
    )
    expect_error(
        "NoSuchUpload",
        404,
        s3_client.upload_part,
        Bucket=bucket,
        Key="big/object.bin",
        UploadId=upload_id,
        PartNumber=4,
        Body=b"late",
    )


def test_completion_replaces_existing_object(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"old version")
    upload_id, done = _upload(s3, bkt, "k", [b"new version"])
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"old version"
    s3.complete_multipart_upload(
        Bucket=bkt, Key="k", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    response = s3.get_object(Bucket=bkt, Key="k")
    assert response["Body"].read() == b"new version"
    assert response["ETag"] == multipart_etag([b"new version"])


def test_completion_may_use_a_subset_of_parts(s3: Any, bkt: str) -> None:
    parts = [os.urandom(5 * MiB), b"second", b"third"]
    upload_id, done = _upload(s3, bkt, "k", parts)
    chosen = [done[0], done[2]]
    result = s3.complete_multipart_upload(
        Bucket=bkt, Key="k", UploadId=upload_id, MultipartUpload={"Parts": chosen}
    )
    assert result["ETag"] == multipart_etag([parts[0], parts[2]])
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == parts[0] + parts[2]


def test_abort(s3: Any, bkt: str) -> None:
    upload_id, done = _upload(s3, bkt, "k", [b"part one"])
    response = s3.abort_multipart_upload(Bucket=bkt, Key="k", UploadId=upload_id)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=bkt, Key="k", UploadId=upload_id)
    expect_error(
        "NoSuchUpload",
        404,
        s3.complete_multipart_upload,
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": done},
    )
    expect_error(
        "NoSuchUpload",
        404,
        s3.upload_part,
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        PartNumber=2,
        Body=b"x",
    )
    expect_error(
        "NoSuchUpload", 404, s3.abort_multipart_upload, Bucket=bkt, Key="k", UploadId=upload_id
    )
    assert s3.list_multipart_uploads(Bucket=bkt).get("Uploads", []) == []
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="k")


def test_complete_with_wrong_etag_is_invalid_part(s3: Any, bkt: str) -> None:
    upload_id, done = _upload(s3, bkt, "k", [b"only part"])
    wrong = [{"PartNumber": 1, "ETag": f'"{md5(b"something else").hexdigest()}"'}]
    expect_error(
        "InvalidPart",
        400,
        s3.complete_multipart_upload,
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": wrong},
    )
    missing = [*done, {"PartNumber": 2, "ETag": done[0]["ETag"]}]
    expect_error(
        "InvalidPart",
        400,
        s3.complete_multipart_upload,
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": missing},
    )
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="k")
    # The upload survives a failed completion and can still be completed.
    s3.complete_multipart_upload(
        Bucket=bkt, Key="k", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"only part"


def test_complete_with_no_parts(s3_gateway: GatewayProcess, s3: Any, bkt: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="k")["UploadId"]
    response = raw_request(
        s3_gateway,
        "POST",
        f"/{bkt}/k",
        query=f"uploadId={upload_id}",
        body=b"<CompleteMultipartUpload></CompleteMultipartUpload>",
    )
    assert response.status_code == 400
    assert s3_error(response)["Code"] in ("MalformedXML", "InvalidPart")
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="k")


def test_parts_out_of_order_is_invalid_part_order(s3: Any, bkt: str) -> None:
    upload_id, done = _upload(s3, bkt, "k", [os.urandom(5 * MiB), b"tail"])
    for order in ([done[1], done[0]], [done[0], done[0]]):
        expect_error(
            "InvalidPartOrder",
            400,
            s3.complete_multipart_upload,
            Bucket=bkt,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": order},
        )
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="k")


def test_small_non_last_part_is_entity_too_small(s3: Any, bkt: str) -> None:
    parts = [os.urandom(5 * MiB - 1), b"tail"]
    upload_id, done = _upload(s3, bkt, "k", parts)
    expect_error(
        "EntityTooSmall",
        400,
        s3.complete_multipart_upload,
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": done},
    )
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bkt, Key="k")


def test_reuploading_a_part_replaces_it(s3: Any, bkt: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="k")["UploadId"]
    first = s3.upload_part(Bucket=bkt, Key="k", UploadId=upload_id, PartNumber=1, Body=b"A" * 100)
    second = s3.upload_part(Bucket=bkt, Key="k", UploadId=upload_id, PartNumber=1, Body=b"B" * 200)
    parts = s3.list_parts(Bucket=bkt, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, 200, second["ETag"])]
    expect_error(
        "InvalidPart",
        400,
        s3.complete_multipart_upload,
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first["ETag"]}]},
    )
    s3.complete_multipart_upload(
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": second["ETag"]}]},
    )
    assert s3.get_object(Bucket=bkt, Key="k")["Body"].read() == b"B" * 200


def test_unknown_upload_id_is_no_such_upload(s3: Any, bkt: str) -> None:
    expect_error(
        "NoSuchUpload",
        404,
        s3.upload_part,
        Bucket=bkt,
        Key="k",
        UploadId="0" * 40,
        PartNumber=1,
        Body=b"x",
    )
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=bkt, Key="k", UploadId="nope")
    # An upload id is bound to its key.
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="mine")["UploadId"]
    expect_error(
        "NoSuchUpload",
        404,
        s3.upload_part,
        Bucket=bkt,
        Key="other",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"x",
    )
    assert s3.list_parts(Bucket=bkt, Key="mine", UploadId=upload_id).get("Parts", []) == []


@pytest.mark.parametrize("number", ["0", "10001", "-1", "one"])
def test_invalid_part_number(s3_gateway: GatewayProcess, s3: Any, bkt: str, number: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="k")["UploadId"]
    response = raw_request(
        s3_gateway,
        "PUT",
        f"/{bkt}/k",
        query=f"partNumber={number}&uploadId={upload_id}",
        body=b"data",
    )
    assert_s3_error(response, 400, "InvalidArgument")
    assert s3.list_parts(Bucket=bkt, Key="k", UploadId=upload_id).get("Parts", []) == []


def test_list_multipart_uploads_shows_each_upload(s3: Any, bkt: str) -> None:
    first = s3.create_multipart_upload(Bucket=bkt, Key="same")["UploadId"]
    second = s3.create_multipart_upload(Bucket=bkt, Key="same")["UploadId"]
    other = s3.create_multipart_upload(Bucket=bkt, Key="another")["UploadId"]
    assert len({first, second, other}) == 3
    uploads = s3.list_multipart_uploads(Bucket=bkt)["Uploads"]
    assert sorted((u["Key"], u["UploadId"]) for u in uploads) == sorted(
        [("same", first), ("same", second), ("another", other)]
    )
    assert all(u["Initiator"]["DisplayName"] == "admin" for u in uploads)
    # Completing one upload of a key leaves the other one in progress.
    s3.upload_part(Bucket=bkt, Key="same", UploadId=first, PartNumber=1, Body=b"1st")
    etag = s3.list_parts(Bucket=bkt, Key="same", UploadId=first)["Parts"][0]["ETag"]
    s3.complete_multipart_upload(
        Bucket=bkt,
        Key="same",
        UploadId=first,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    remaining = s3.list_multipart_uploads(Bucket=bkt)["Uploads"]
    assert sorted(u["UploadId"] for u in remaining) == sorted([second, other])


def test_list_parts_paging(s3: Any, bkt: str) -> None:
    upload_id, _ = _upload(s3, bkt, "k", [b"p1", b"p2", b"p3", b"p4", b"p5"])
    first = s3.list_parts(Bucket=bkt, Key="k", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True
    rest = s3.list_parts(
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        PartNumberMarker=first["NextPartNumberMarker"],
    )
    assert [p["PartNumber"] for p in rest["Parts"]] == [3, 4, 5]
    assert rest["IsTruncated"] is False


def test_part_with_content_md5(s3: Any, bkt: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="k")["UploadId"]
    expect_error(
        "BadDigest",
        400,
        s3.upload_part,
        Bucket=bkt,
        Key="k",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"body",
        ContentMD5=base64.b64encode(md5(b"other").digest()).decode(),
    )
    assert s3.list_parts(Bucket=bkt, Key="k", UploadId=upload_id).get("Parts", []) == []
