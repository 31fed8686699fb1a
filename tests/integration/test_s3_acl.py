"""Canned ACLs (private, public-read) of buckets and objects, and anonymous reads, over
real sockets with boto3, unsigned httpx requests and the gateway CLI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.test_s3_helpers import (
    add_user,
    assert_s3_error,
    expect_error,
    raw_request,
    unique,
    user_client,
)
from tests.support.gateway_server import GatewayProcess, empty_bucket

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def anonymous_get(gateway: GatewayProcess, path: str, query: str = "") -> httpx.Response:
    return raw_request(gateway, "GET", path, query=query, signed=False)


def grants(policy: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (grant["Grantee"].get("URI") or grant["Grantee"]["Type"], grant["Permission"])
        for grant in policy["Grants"]
    }


@pytest.fixture
def public_bucket(s3: Any) -> Iterator[str]:
    name = unique("pub")
    s3.create_bucket(Bucket=name, ACL="public-read")
    yield name
    empty_bucket(s3, name)


def test_bucket_acl_documents(s3: Any, bkt: str) -> None:
    private = s3.get_bucket_acl(Bucket=bkt)
    assert grants(private) == {("CanonicalUser", "FULL_CONTROL")}
    assert private["Owner"]["DisplayName"] == private["Grants"][0]["Grantee"]["DisplayName"]
    s3.put_bucket_acl(Bucket=bkt, ACL="public-read")
    assert grants(s3.get_bucket_acl(Bucket=bkt)) == {
        ("CanonicalUser", "FULL_CONTROL"),
        (ALL_USERS, "READ"),
    }
    s3.put_bucket_acl(Bucket=bkt, ACL="private")
    assert grants(s3.get_bucket_acl(Bucket=bkt)) == {("CanonicalUser", "FULL_CONTROL")}


def test_unimplemented_acls_are_refused(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    expect_error("NotImplemented", 501, s3.put_bucket_acl, Bucket=bkt, ACL="public-read-write")
    expect_error(
        "NotImplemented",
        501,
        s3.put_object,
        Bucket=bkt,
        Key="k",
        Body=b"x",
        ACL="authenticated-read",
    )
    expect_error("NotImplemented", 501, s3.put_bucket_acl, Bucket=bkt, GrantRead=f"uri={ALL_USERS}")
    owner = s3.get_bucket_acl(Bucket=bkt)["Owner"]
    expect_error(
        "NotImplemented",
        501,
        s3.put_bucket_acl,
        Bucket=bkt,
        AccessControlPolicy={"Owner": owner, "Grants": []},
    )
    response = raw_request(
        gateway_sqlite_local, "PUT", f"/{bkt}", query="acl", headers={"x-amz-acl": "everyone"}
    )
    assert_s3_error(response, 400, "InvalidArgument")


def test_private_objects_are_not_anonymous(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="secret", Body=b"hidden")
    assert_s3_error(anonymous_get(gateway_sqlite_local, f"/{bkt}/secret"), 403, "AccessDenied")
    assert_s3_error(anonymous_get(gateway_sqlite_local, f"/{bkt}"), 403, "AccessDenied")


def test_public_read_object_in_private_bucket(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="open", Body=b"for everyone", ACL="public-read")
    s3.put_object(Bucket=bkt, Key="closed", Body=b"hidden")
    got = anonymous_get(gateway_sqlite_local, f"/{bkt}/open")
    assert (got.status_code, got.content) == (200, b"for everyone")
    head = raw_request(gateway_sqlite_local, "HEAD", f"/{bkt}/open", signed=False)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "12"
    assert_s3_error(anonymous_get(gateway_sqlite_local, f"/{bkt}/closed"), 403, "AccessDenied")
    assert_s3_error(anonymous_get(gateway_sqlite_local, f"/{bkt}"), 403, "AccessDenied")
    assert grants(s3.get_object_acl(Bucket=bkt, Key="open")) == {
        ("CanonicalUser", "FULL_CONTROL"),
        (ALL_USERS, "READ"),
    }
    s3.put_object_acl(Bucket=bkt, Key="open", ACL="private")
    assert_s3_error(anonymous_get(gateway_sqlite_local, f"/{bkt}/open"), 403, "AccessDenied")
    s3.put_object_acl(Bucket=bkt, Key="closed", ACL="public-read")
    assert anonymous_get(gateway_sqlite_local, f"/{bkt}/closed").content == b"hidden"


def test_public_bucket_allows_anonymous_reads_and_listing_only(
    gateway_sqlite_local: GatewayProcess, s3: Any, public_bucket: str
) -> None:
    s3.put_object(Bucket=public_bucket, Key="a/b.txt", Body=b"hello")
    assert anonymous_get(gateway_sqlite_local, f"/{public_bucket}/a/b.txt").content == b"hello"
    listing = anonymous_get(gateway_sqlite_local, f"/{public_bucket}", "list-type=2")
    assert listing.status_code == 200
    assert b"<Key>a/b.txt</Key>" in listing.content
    assert_s3_error(
        anonymous_get(gateway_sqlite_local, f"/{public_bucket}/missing"), 404, "NoSuchKey"
    )
    for method, path, query in (
        ("PUT", f"/{public_bucket}/new", ""),
        ("DELETE", f"/{public_bucket}/a/b.txt", ""),
        ("GET", f"/{public_bucket}", "acl"),
        ("PUT", f"/{public_bucket}", "acl"),
        ("GET", f"/{public_bucket}", "cors"),
        ("POST", f"/{public_bucket}", "delete"),
    ):
        denied = raw_request(gateway_sqlite_local, method, path, query=query, signed=False)
        assert_s3_error(denied, 403, "AccessDenied")
    assert s3.get_object(Bucket=public_bucket, Key="a/b.txt")["Body"].read() == b"hello"


def test_acl_changes_are_owner_only(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"x")
    _, access_key, secret_key = add_user(gateway_sqlite_local, "acl")
    other = user_client(gateway_sqlite_local, access_key, secret_key)
    expect_error("AccessDenied", 403, other.put_bucket_acl, Bucket=bkt, ACL="public-read")
    expect_error("AccessDenied", 403, other.put_object_acl, Bucket=bkt, Key="k", ACL="public-read")
    expect_error("AccessDenied", 403, other.get_bucket_acl, Bucket=bkt)
    assert_s3_error(anonymous_get(gateway_sqlite_local, f"/{bkt}/k"), 403, "AccessDenied")


def test_copy_and_multipart_take_the_requested_acl(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="src", Body=b"source", ACL="public-read")
    s3.copy_object(Bucket=bkt, Key="copy", CopySource={"Bucket": bkt, "Key": "src"})
    assert_s3_error(anonymous_get(gateway_sqlite_local, f"/{bkt}/copy"), 403, "AccessDenied")
    s3.copy_object(
        Bucket=bkt, Key="copy2", CopySource={"Bucket": bkt, "Key": "src"}, ACL="public-read"
    )
    assert anonymous_get(gateway_sqlite_local, f"/{bkt}/copy2").content == b"source"
    upload = s3.create_multipart_upload(Bucket=bkt, Key="mp", ACL="public-read")
    part = s3.upload_part(
        Bucket=bkt, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"parts"
    )
    s3.complete_multipart_upload(
        Bucket=bkt,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert anonymous_get(gateway_sqlite_local, f"/{bkt}/mp").content == b"parts"


def test_cli_anonymous_flag_is_the_bucket_acl(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    gateway_sqlite_local.cli("bucket", "anonymous", bkt, "read")
    assert (ALL_USERS, "READ") in grants(s3.get_bucket_acl(Bucket=bkt))
    s3.put_object(Bucket=bkt, Key="k", Body=b"shared")
    assert anonymous_get(gateway_sqlite_local, f"/{bkt}/k").content == b"shared"
    gateway_sqlite_local.cli("bucket", "anonymous", bkt, "none")
    assert grants(s3.get_bucket_acl(Bucket=bkt)) == {("CanonicalUser", "FULL_CONTROL")}
    assert_s3_error(anonymous_get(gateway_sqlite_local, f"/{bkt}/k"), 403, "AccessDenied")
