"""Bucket operations against the real gateway: naming, ownership, listing, deletion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.test_s3_helpers import (
    NS,
    add_user,
    assert_s3_error,
    expect_error,
    parse_xml,
    raw_request,
    unique,
    user_client,
)
from tests.support.gateway_server import GatewayProcess, empty_bucket


@pytest.fixture(scope="module")
def bob(gateway_sqlite_local: GatewayProcess) -> Any:
    """A second, non-admin user made with ``gateway user add``."""
    _, access_key, secret_key = add_user(gateway_sqlite_local, "bob")
    return user_client(gateway_sqlite_local, access_key, secret_key)


def _bucket_names(client: Any) -> list[str]:
    return [b["Name"] for b in client.list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    "name",
    ["UPPER", "ab", "a..b", "192.168.1.1", "a" * 64, "-abc", "abc-", "a_b", "xn--abc"],
)
def test_invalid_bucket_name_is_rejected(s3: Any, name: str) -> None:
    expect_error("InvalidBucketName", 400, s3.create_bucket, Bucket=name)
    assert name not in _bucket_names(s3)


@pytest.mark.parametrize("length", [3, 63])
def test_bucket_names_at_the_length_limits_are_accepted(s3: Any, length: int) -> None:
    name = (unique("b") + "x" * 63)[:length] if length > 3 else unique("b")[-3:]
    s3.create_bucket(Bucket=name)
    try:
        assert name in _bucket_names(s3)
        s3.head_bucket(Bucket=name)
    finally:
        s3.delete_bucket(Bucket=name)


def test_bucket_name_with_dots_and_hyphens_is_accepted(s3: Any) -> None:
    name = unique("my.dotted-bucket")
    s3.create_bucket(Bucket=name)
    try:
        s3.put_object(Bucket=name, Key="k", Body=b"v")
        assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    finally:
        empty_bucket(s3, name)


def test_create_bucket_returns_location(gateway_sqlite_local: GatewayProcess, s3: Any) -> None:
    name = unique("loc")
    response = raw_request(gateway_sqlite_local, "PUT", f"/{name}")
    try:
        assert response.status_code == 200, response.text
        assert response.headers["Location"] == f"/{name}"
    finally:
        s3.delete_bucket(Bucket=name)


def test_create_bucket_with_malformed_configuration_is_rejected(
    gateway_sqlite_local: GatewayProcess, s3: Any
) -> None:
    name = unique("cfg")
    response = raw_request(gateway_sqlite_local, "PUT", f"/{name}", body=b"<CreateBucketConfig")
    assert_s3_error(response, 400, "MalformedXML")
    assert name not in _bucket_names(s3)


def test_create_bucket_with_location_constraint(s3: Any) -> None:
    name = unique("constraint")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    try:
        assert name in _bucket_names(s3)
    finally:
        s3.delete_bucket(Bucket=name)


def test_recreating_own_bucket_is_bucket_already_owned_by_you(s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="keep", Body=b"data")
    expect_error("BucketAlreadyOwnedByYou", 409, s3.create_bucket, Bucket=bkt)
    # The existing bucket and its content are untouched.
    assert s3.get_object(Bucket=bkt, Key="keep")["Body"].read() == b"data"


def test_other_user_cannot_take_the_bucket_name(s3: Any, bob: Any, bkt: str) -> None:
    expect_error("BucketAlreadyExists", 409, bob.create_bucket, Bucket=bkt)
    assert bkt not in _bucket_names(bob)
    assert bkt in _bucket_names(s3)


OTHER_USER_OPERATIONS: dict[str, Callable[[Any, str], Any]] = {
    "GetObject": lambda c, b: c.get_object(Bucket=b, Key="secret.txt"),
    "HeadObject": lambda c, b: c.head_object(Bucket=b, Key="secret.txt"),
    "PutObject": lambda c, b: c.put_object(Bucket=b, Key="secret.txt", Body=b"overwritten"),
    "PutNewObject": lambda c, b: c.put_object(Bucket=b, Key="new.txt", Body=b"intruder"),
    "CopyObjectOut": lambda c, b: c.copy_object(
        Bucket=b, Key="copy.txt", CopySource={"Bucket": b, "Key": "secret.txt"}
    ),
    "ListObjects": lambda c, b: c.list_objects(Bucket=b),
    "ListObjectsV2": lambda c, b: c.list_objects_v2(Bucket=b),
    "DeleteObject": lambda c, b: c.delete_object(Bucket=b, Key="secret.txt"),
    "DeleteObjects": lambda c, b: c.delete_objects(
        Bucket=b, Delete={"Objects": [{"Key": "secret.txt"}]}
    ),
    "DeleteBucket": lambda c, b: c.delete_bucket(Bucket=b),
    "GetBucketLocation": lambda c, b: c.get_bucket_location(Bucket=b),
    "CreateMultipartUpload": lambda c, b: c.create_multipart_upload(Bucket=b, Key="mp"),
    "ListMultipartUploads": lambda c, b: c.list_multipart_uploads(Bucket=b),
}


@pytest.mark.parametrize("operation", sorted(OTHER_USER_OPERATIONS))
def test_other_user_is_denied_access(s3: Any, bob: Any, bkt: str, operation: str) -> None:
    s3.put_object(Bucket=bkt, Key="secret.txt", Body=b"top secret")
    if operation == "HeadObject":
        expect_error("403", 403, OTHER_USER_OPERATIONS[operation], bob, bkt)
    else:
        expect_error("AccessDenied", 403, OTHER_USER_OPERATIONS[operation], bob, bkt)
    # Nothing of the owner's bucket changed.
    assert s3.get_object(Bucket=bkt, Key="secret.txt")["Body"].read() == b"top secret"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bkt).get("Contents", [])]
    assert keys == ["secret.txt"]
    assert s3.list_multipart_uploads(Bucket=bkt).get("Uploads", []) == []


def test_other_user_cannot_copy_into_own_bucket_from_foreign_one(
    s3: Any, bob: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="secret.txt", Body=b"top secret")
    own = unique("bobs")
    bob.create_bucket(Bucket=own)
    try:
        expect_error(
            "AccessDenied",
            403,
            bob.copy_object,
            Bucket=own,
            Key="stolen",
            CopySource={"Bucket": bkt, "Key": "secret.txt"},
        )
        assert bob.list_objects_v2(Bucket=own)["KeyCount"] == 0
    finally:
        empty_bucket(bob, own)


def test_list_buckets_shows_only_own_buckets(s3: Any, bob: Any, bkt: str) -> None:
    bobs = unique("bobs")
    bob.create_bucket(Bucket=bobs)
    try:
        mine = _bucket_names(s3)
        assert bkt in mine
        assert bobs not in mine
        assert _bucket_names(bob) == [bobs]
        listing = bob.list_buckets()
        assert listing["Owner"]["DisplayName"].startswith("bob-")
    finally:
        bob.delete_bucket(Bucket=bobs)
    assert _bucket_names(bob) == []


def test_list_buckets_is_sorted_and_has_creation_dates(s3: Any) -> None:
    names = [unique("zz-order"), unique("aa-order"), unique("mm-order")]
    for name in names:
        s3.create_bucket(Bucket=name)
    try:
        buckets = s3.list_buckets()["Buckets"]
        listed = [b["Name"] for b in buckets]
        assert listed == sorted(listed)
        assert set(names) <= set(listed)
        assert all(b["CreationDate"] is not None for b in buckets)
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)


def test_head_bucket_statuses(s3: Any, bob: Any, bkt: str) -> None:
    response = s3.head_bucket(Bucket=bkt)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    expect_error("404", 404, s3.head_bucket, Bucket=unique("missing"))
    expect_error("403", 403, bob.head_bucket, Bucket=bkt)


def test_delete_non_empty_bucket_is_refused(s3: Any) -> None:
    name = unique("full")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="a/b", Body=b"x")
    expect_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=name)
    assert s3.get_object(Bucket=name, Key="a/b")["Body"].read() == b"x"
    s3.delete_object(Bucket=name, Key="a/b")
    response = s3.delete_bucket(Bucket=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("404", 404, s3.head_bucket, Bucket=name)
    assert name not in _bucket_names(s3)


def test_delete_bucket_aborts_its_uploads_in_progress(
    gateway_sqlite_local: GatewayProcess, s3: Any
) -> None:
    """Uploads in progress do not keep a bucket alive: deleting it discards them."""
    name = unique("uploading")
    s3.create_bucket(Bucket=name)
    upload = s3.create_multipart_upload(Bucket=name, Key="big")["UploadId"]
    s3.upload_part(Bucket=name, Key="big", UploadId=upload, PartNumber=1, Body=b"p" * 1000)
    s3.delete_bucket(Bucket=name)
    expect_error("404", 404, s3.head_bucket, Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
        expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=name, Key="big", UploadId=upload)
    finally:
        s3.delete_bucket(Bucket=name)
    # The discarded part's chunk references were dropped consistently.
    fsck = gateway_sqlite_local.cli("fsck", "--quiet", check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_deleted_bucket_name_can_be_reused(s3: Any, bob: Any) -> None:
    name = unique("reuse")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="old", Body=b"old")
    s3.delete_object(Bucket=name, Key="old")
    s3.delete_bucket(Bucket=name)
    bob.create_bucket(Bucket=name)
    try:
        assert bob.list_objects_v2(Bucket=name)["KeyCount"] == 0
        expect_error("AccessDenied", 403, s3.list_objects_v2, Bucket=name)
    finally:
        bob.delete_bucket(Bucket=name)


def test_get_bucket_location(gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str) -> None:
    assert s3.get_bucket_location(Bucket=bkt)["LocationConstraint"] is None
    response = raw_request(gateway_sqlite_local, "GET", f"/{bkt}", query="location")
    assert response.status_code == 200
    root = parse_xml(response.content)
    assert root.tag == f"{NS}LocationConstraint"
    assert not (root.text or "").strip()


def test_get_bucket_versioning_reports_never_enabled(s3: Any, bkt: str) -> None:
    response = s3.get_bucket_versioning(Bucket=bkt)
    assert "Status" not in response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


MISSING_BUCKET_OPERATIONS: dict[str, Callable[[Any, str], Any]] = {
    "GetObject": lambda c, b: c.get_object(Bucket=b, Key="k"),
    "PutObject": lambda c, b: c.put_object(Bucket=b, Key="k", Body=b"v"),
    "CopyObject": lambda c, b: c.copy_object(
        Bucket=b, Key="k2", CopySource={"Bucket": b, "Key": "k"}
    ),
    "DeleteObject": lambda c, b: c.delete_object(Bucket=b, Key="k"),
    "DeleteObjects": lambda c, b: c.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "k"}]}),
    "ListObjects": lambda c, b: c.list_objects(Bucket=b),
    "ListObjectsV2": lambda c, b: c.list_objects_v2(Bucket=b),
    "ListObjectsV2MaxKeys0": lambda c, b: c.list_objects_v2(Bucket=b, MaxKeys=0),
    "DeleteBucket": lambda c, b: c.delete_bucket(Bucket=b),
    "GetBucketLocation": lambda c, b: c.get_bucket_location(Bucket=b),
    "CreateMultipartUpload": lambda c, b: c.create_multipart_upload(Bucket=b, Key="k"),
    "ListMultipartUploads": lambda c, b: c.list_multipart_uploads(Bucket=b),
}


@pytest.mark.parametrize("operation", sorted(MISSING_BUCKET_OPERATIONS))
def test_operations_on_missing_bucket_are_no_such_bucket(s3: Any, operation: str) -> None:
    name = unique("missing")
    expect_error("NoSuchBucket", 404, MISSING_BUCKET_OPERATIONS[operation], s3, name)
    assert name not in _bucket_names(s3)


def test_no_such_bucket_error_document(gateway_sqlite_local: GatewayProcess) -> None:
    name = unique("missing")
    response = raw_request(gateway_sqlite_local, "GET", f"/{name}", query="list-type=2")
    fields = assert_s3_error(response, 404, "NoSuchBucket")
    assert fields["Resource"] == f"/{name}"
    assert fields.get("BucketName", name) == name


def test_method_not_allowed_on_service(gateway_sqlite_local: GatewayProcess) -> None:
    response = raw_request(gateway_sqlite_local, "DELETE", "/")
    assert_s3_error(response, 405, "MethodNotAllowed")
