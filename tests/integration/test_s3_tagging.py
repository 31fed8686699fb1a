"""Object tagging and the SSE-S3 header, against the real gateway."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_s3_helpers import expect_error, raw_request
from tests.support.gateway_server import GatewayProcess


def tag_set(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def tags_of(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def test_put_get_delete_object_tagging(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x")
    assert tags_of(s3, bkt, "k") == {}
    s3.put_object_tagging(Bucket=bkt, Key="k", Tagging=tag_set({"a": "1", "b c": "x/y@z"}))
    assert tags_of(s3, bkt, "k") == {"a": "1", "b c": "x/y@z"}
    assert (
        s3.head_object(Bucket=bkt, Key="k")["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-tagging-count"
        ]
        == "2"
    )
    assert s3.get_object(Bucket=bkt, Key="k")["TagCount"] == 2
    s3.delete_object_tagging(Bucket=bkt, Key="k")
    assert tags_of(s3, bkt, "k") == {}
    assert "TagCount" not in s3.get_object(Bucket=bkt, Key="k")


def test_tagging_header_on_put_multipart_and_copy(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x", Tagging="team=a%20b&empty=")
    assert tags_of(s3, bkt, "k") == {"team": "a b", "empty": ""}
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="mp", Tagging="m=1")["UploadId"]
    part = s3.upload_part(Bucket=bkt, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    assert tags_of(s3, bkt, "mp") == {"m": "1"}
    source = {"Bucket": bkt, "Key": "k"}
    s3.copy_object(Bucket=bkt, Key="copied", CopySource=source)
    assert tags_of(s3, bkt, "copied") == {"team": "a b", "empty": ""}
    s3.copy_object(
        Bucket=bkt, Key="replaced", CopySource=source, TaggingDirective="REPLACE", Tagging="n=2"
    )
    assert tags_of(s3, bkt, "replaced") == {"n": "2"}


@pytest.mark.parametrize(
    ("tags", "code"),
    [
        ({f"k{n}": "v" for n in range(11)}, "BadRequest"),
        ({"k" * 129: "v"}, "InvalidTag"),
        ({"k": "v" * 257}, "InvalidTag"),
        ({"bad#key": "v"}, "InvalidTag"),
        ({"aws:reserved": "v"}, "InvalidTag"),
    ],
)
def test_invalid_tag_sets_are_rejected(s3: Any, bkt: str, tags: dict[str, str], code: str) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x")
    expect_error(code, 400, s3.put_object_tagging, Bucket=bkt, Key="k", Tagging=tag_set(tags))


def test_duplicate_keys_and_malformed_documents(
    s3_gateway: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x")
    duplicate = (
        b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
        b"<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>"
    )
    answer = raw_request(s3_gateway, "PUT", f"/{bkt}/k", query="tagging", body=duplicate)
    assert (answer.status_code, b"<Code>InvalidTag</Code>" in answer.content) == (400, True)
    answer = raw_request(s3_gateway, "PUT", f"/{bkt}/k", query="tagging", body=b"<Tagging/>")
    assert (answer.status_code, b"<Code>MalformedXML</Code>" in answer.content) == (400, True)
    expect_error(
        "InvalidTag", 400, s3.put_object, Bucket=bkt, Key="k2", Body=b"x", Tagging="a=1&a=2"
    )


def test_tagging_a_missing_key_and_bucket_tagging(s3: Any, bkt: str) -> None:
    expect_error("NoSuchKey", 404, s3.get_object_tagging, Bucket=bkt, Key="absent")
    expect_error(
        "NoSuchKey", 404, s3.put_object_tagging, Bucket=bkt, Key="absent", Tagging=tag_set({})
    )
    expect_error("NotImplemented", 501, s3.get_bucket_tagging, Bucket=bkt)


def test_sse_s3_header_is_stored_and_reported(s3: Any, bkt: str) -> None:
    put = s3.put_object(Bucket=bkt, Key="k", Body=b"x", ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bkt, Key="k")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bkt, Key="k")["ServerSideEncryption"] == "AES256"
    s3.put_object(Bucket=bkt, Key="plain", Body=b"x")
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bkt, Key="plain")
    copied = s3.copy_object(
        Bucket=bkt, Key="c", CopySource={"Bucket": bkt, "Key": "plain"},
        ServerSideEncryption="AES256",
    )  # fmt: skip
    assert copied["ServerSideEncryption"] == "AES256"
    created = s3.create_multipart_upload(Bucket=bkt, Key="mp", ServerSideEncryption="AES256")
    assert created["ServerSideEncryption"] == "AES256"
    s3.abort_multipart_upload(Bucket=bkt, Key="mp", UploadId=created["UploadId"])


def test_unsupported_encryption_is_refused(s3_gateway: GatewayProcess, s3: Any, bkt: str) -> None:
    expect_error(
        "NotImplemented", 501, s3.put_object, Bucket=bkt, Key="k", Body=b"x",
        ServerSideEncryption="aws:kms",
    )  # fmt: skip
    answer = raw_request(
        s3_gateway, "PUT", f"/{bkt}/k", body=b"x",
        headers={"x-amz-server-side-encryption": "rot13"},
    )  # fmt: skip
    assert (answer.status_code, b"<Code>InvalidArgument</Code>" in answer.content) == (400, True)
