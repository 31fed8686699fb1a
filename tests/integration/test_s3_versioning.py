"""Bucket versioning against the real gateway: boto3 and the aws CLI over real sockets."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.test_s3_helpers import (
    expect_error,
    parse_fields,
    parse_xml,
    raw_request,
    unique,
)
from tests.support.gateway_server import GatewayProcess, make_client


def remove_everything(client: Any, bucket: str) -> None:
    """Delete every version and delete marker of ``bucket``, then the bucket."""
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            client.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def vbkt(s3: Any) -> Iterator[str]:
    """A fresh bucket with versioning enabled, removed with all its versions afterwards."""
    name = unique("ver")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    remove_everything(s3, name)


def versions_of(
    gateway: GatewayProcess, bucket: str, query: str = ""
) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker) of a ListObjectVersions answer, in the
    order of its document (boto3 would split versions from delete markers)."""
    response = raw_request(gateway, "GET", f"/{bucket}", query="versions" + query)
    assert response.status_code == 200, response.text
    found = []
    for entry in parse_xml(response.content):
        tag = entry.tag.split("}")[-1]
        if tag in ("Version", "DeleteMarker"):
            fields = {child.tag.split("}")[-1]: child.text for child in entry}
            found.append(
                (
                    fields["Key"],
                    fields["VersionId"],
                    fields["IsLatest"] == "true",
                    tag == "DeleteMarker",
                )
            )
    return found


# --- configuration ------------------------------------------------------------------------


def test_versioning_status_round_trip(s3: Any, bkt: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bkt)
    s3.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bkt)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bkt)["Status"] == "Suspended"


def test_bad_versioning_configurations(s3: Any, bkt: str) -> None:
    expect_error(
        "IllegalVersioningConfigurationException",
        400,
        s3.put_bucket_versioning,
        Bucket=bkt,
        VersioningConfiguration={"Status": "Sometimes"},
    )
    expect_error(
        "NotImplemented",
        501,
        s3.put_bucket_versioning,
        Bucket=bkt,
        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
    )
    assert "Status" not in s3.get_bucket_versioning(Bucket=bkt)


def test_malformed_versioning_document(gateway_sqlite_local: GatewayProcess, bkt: str) -> None:
    response = raw_request(
        gateway_sqlite_local, "PUT", f"/{bkt}", query="versioning", body=b"<Versioning"
    )
    assert response.status_code == 400
    assert b"<Code>MalformedXML</Code>" in response.content


# --- writes and reads ----------------------------------------------------------------------


def test_unversioned_bucket_sends_no_version_header(s3: Any, bkt: str) -> None:
    put = s3.put_object(Bucket=bkt, Key="k", Body=b"one")
    assert "VersionId" not in put
    assert "VersionId" not in s3.get_object(Bucket=bkt, Key="k")
    listed = s3.list_object_versions(Bucket=bkt)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed] == [("k", "null", True)]
    assert s3.get_object(Bucket=bkt, Key="k", VersionId="null")["Body"].read() == b"one"


def test_versions_survive_overwrite_byte_identical(
    gateway_sqlite_local: GatewayProcess, s3: Any, vbkt: str
) -> None:
    bodies = [os.urandom(300_000) for _ in range(3)]
    ids = [s3.put_object(Bucket=vbkt, Key="doc", Body=body)["VersionId"] for body in bodies]
    assert len(set(ids)) == 3 and "null" not in ids
    latest = s3.get_object(Bucket=vbkt, Key="doc")
    assert latest["VersionId"] == ids[-1]
    assert latest["Body"].read() == bodies[-1]
    for version_id, body in zip(ids, bodies, strict=True):
        got = s3.get_object(Bucket=vbkt, Key="doc", VersionId=version_id)
        assert got["Body"].read() == body
        assert got["VersionId"] == version_id
        head = s3.head_object(Bucket=vbkt, Key="doc", VersionId=version_id)
        assert head["ContentLength"] == len(body)
    ranged = s3.get_object(Bucket=vbkt, Key="doc", VersionId=ids[0], Range="bytes=10-19")
    assert ranged["Body"].read() == bodies[0][10:20]
    listed = versions_of(gateway_sqlite_local, vbkt)
    assert listed == [
        ("doc", ids[2], True, False),
        ("doc", ids[1], False, False),
        ("doc", ids[0], False, False),
    ]
    # Listings of current objects see one key.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbkt)["Contents"]] == ["doc"]


def test_delete_marker_semantics(gateway_sqlite_local: GatewayProcess, s3: Any, vbkt: str) -> None:
    first = s3.put_object(Bucket=vbkt, Key="gone", Body=b"data")["VersionId"]
    deleted = s3.delete_object(Bucket=vbkt, Key="gone")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker != first
    error = expect_error("NoSuchKey", 404, s3.get_object, Bucket=vbkt, Key="gone")
    headers = error.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true"
    assert headers["x-amz-version-id"] == marker
    expect_error("404", 404, s3.head_object, Bucket=vbkt, Key="gone")
    by_id = expect_error(
        "MethodNotAllowed", 405, s3.get_object, Bucket=vbkt, Key="gone", VersionId=marker
    )
    assert by_id.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert s3.get_object(Bucket=vbkt, Key="gone", VersionId=first)["Body"].read() == b"data"
    assert "Contents" not in s3.list_objects_v2(Bucket=vbkt)
    assert "Contents" not in s3.list_objects(Bucket=vbkt)
    assert versions_of(gateway_sqlite_local, vbkt) == [
        ("gone", marker, True, True),
        ("gone", first, False, False),
    ]
    # Removing the delete marker brings the key back.
    undo = s3.delete_object(Bucket=vbkt, Key="gone", VersionId=marker)
    assert undo["DeleteMarker"] is True and undo["VersionId"] == marker
    assert s3.get_object(Bucket=vbkt, Key="gone")["Body"].read() == b"data"
    assert versions_of(gateway_sqlite_local, vbkt) == [("gone", first, True, False)]


def test_delete_current_version_promotes_the_previous(
    gateway_sqlite_local: GatewayProcess, s3: Any, vbkt: str
) -> None:
    old = s3.put_object(Bucket=vbkt, Key="k", Body=b"old")["VersionId"]
    new = s3.put_object(Bucket=vbkt, Key="k", Body=b"new")["VersionId"]
    answer = s3.delete_object(Bucket=vbkt, Key="k", VersionId=new)
    assert answer["VersionId"] == new and "DeleteMarker" not in answer
    got = s3.get_object(Bucket=vbkt, Key="k")
    assert (got["Body"].read(), got["VersionId"]) == (b"old", old)
    s3.delete_object(Bucket=vbkt, Key="k", VersionId=old)
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=vbkt, Key="k")
    assert versions_of(gateway_sqlite_local, vbkt) == []


def test_bad_and_unknown_version_ids(s3: Any, vbkt: str) -> None:
    s3.put_object(Bucket=vbkt, Key="k", Body=b"x")
    unknown = "0" * 32
    expect_error("NoSuchVersion", 404, s3.get_object, Bucket=vbkt, Key="k", VersionId=unknown)
    expect_error("InvalidArgument", 400, s3.get_object, Bucket=vbkt, Key="k", VersionId="nope")
    expect_error("InvalidArgument", 400, s3.delete_object, Bucket=vbkt, Key="k", VersionId="?")
    expect_error("400", 400, s3.head_object, Bucket=vbkt, Key="k", VersionId="bad id")
    # Removing a version that does not exist succeeds, as in S3.
    assert s3.delete_object(Bucket=vbkt, Key="k", VersionId=unknown)["VersionId"] == unknown


def test_suspended_bucket_writes_the_null_version(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_object(Bucket=bkt, Key="k", Body=b"from before")
    s3.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bkt, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=bkt, Key="k", Body=b"null one")["VersionId"] == "null"
    assert s3.put_object(Bucket=bkt, Key="k", Body=b"null two")["VersionId"] == "null"
    listed = versions_of(gateway_sqlite_local, bkt)
    assert listed == [("k", "null", True, False), ("k", kept, False, False)]
    assert s3.get_object(Bucket=bkt, Key="k", VersionId="null")["Body"].read() == b"null two"
    assert s3.get_object(Bucket=bkt, Key="k", VersionId=kept)["Body"].read() == b"versioned"
    deleted = s3.delete_object(Bucket=bkt, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    assert versions_of(gateway_sqlite_local, bkt) == [
        ("k", "null", True, True),
        ("k", kept, False, False),
    ]
    remove_everything(s3, bkt)
    s3.create_bucket(Bucket=bkt)


def test_copy_from_an_old_version(s3: Any, vbkt: str) -> None:
    old = s3.put_object(Bucket=vbkt, Key="src", Body=b"old bytes")["VersionId"]
    s3.put_object(Bucket=vbkt, Key="src", Body=b"new bytes")
    copied = s3.copy_object(
        Bucket=vbkt, Key="dst", CopySource={"Bucket": vbkt, "Key": "src", "VersionId": old}
    )
    assert copied["CopySourceVersionId"] == old
    assert copied["VersionId"] not in ("null", old)
    assert s3.get_object(Bucket=vbkt, Key="dst")["Body"].read() == b"old bytes"
    # Restoring an old version onto its own key is allowed and adds a newer version.
    restored = s3.copy_object(
        Bucket=vbkt, Key="src", CopySource={"Bucket": vbkt, "Key": "src", "VersionId": old}
    )
    assert s3.get_object(Bucket=vbkt, Key="src")["VersionId"] == restored["VersionId"]
    assert s3.get_object(Bucket=vbkt, Key="src")["Body"].read() == b"old bytes"
    marker = s3.delete_object(Bucket=vbkt, Key="src")["VersionId"]
    expect_error(
        "InvalidRequest",
        400,
        s3.copy_object,
        Bucket=vbkt,
        Key="x",
        CopySource={"Bucket": vbkt, "Key": "src", "VersionId": marker},
    )
    expect_error("NoSuchKey", 404, s3.copy_object, Bucket=vbkt, Key="x", CopySource=f"{vbkt}/src")


def test_multipart_complete_creates_a_version(s3: Any, vbkt: str) -> None:
    first = s3.put_object(Bucket=vbkt, Key="mp", Body=b"single")["VersionId"]
    upload = s3.create_multipart_upload(Bucket=vbkt, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=vbkt, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
    done = s3.complete_multipart_upload(
        Bucket=vbkt,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert done["VersionId"] not in (first, "null")
    assert s3.get_object(Bucket=vbkt, Key="mp", VersionId=first)["Body"].read() == b"single"


def test_delete_objects_with_version_ids(
    gateway_sqlite_local: GatewayProcess, s3: Any, vbkt: str
) -> None:
    a1 = s3.put_object(Bucket=vbkt, Key="a", Body=b"1")["VersionId"]
    s3.put_object(Bucket=vbkt, Key="a", Body=b"2")
    answer = s3.delete_objects(
        Bucket=vbkt,
        Delete={
            "Objects": [
                {"Key": "a", "VersionId": a1},
                {"Key": "b"},
                {"Key": "c", "VersionId": "not-an-id"},
            ]
        },
    )
    deleted = {d["Key"]: d for d in answer["Deleted"]}
    assert deleted["a"]["VersionId"] == a1 and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True
    marker = deleted["b"]["DeleteMarkerVersionId"]
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("c", "InvalidArgument")]
    undone = s3.delete_objects(
        Bucket=vbkt, Delete={"Objects": [{"Key": "b", "VersionId": marker}]}
    )["Deleted"]
    assert undone == [{"Key": "b", "VersionId": marker, "DeleteMarker": True}]
    assert [v[1] for v in versions_of(gateway_sqlite_local, vbkt) if v[0] == "a"] != [a1]


def test_bucket_not_empty_while_versions_remain(s3: Any) -> None:
    name = unique("ver")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=name, Key="k")["VersionId"]
    expect_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=name)
    s3.delete_object(Bucket=name, Key="k", VersionId=version)
    expect_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=name)
    s3.delete_object(Bucket=name, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=name)


# --- listing -------------------------------------------------------------------------------


def test_list_versions_paginates_in_s3_order(
    gateway_sqlite_local: GatewayProcess, s3: Any, vbkt: str
) -> None:
    expected: list[tuple[str, str, bool, bool]] = []
    for key in ["b", "a/2", "a/1", "c"]:
        ids = [
            s3.put_object(Bucket=vbkt, Key=key, Body=str(n).encode())["VersionId"] for n in range(4)
        ]
        expected += [(key, vid, n == 3, False) for n, vid in reversed(list(enumerate(ids)))]
    marker = s3.delete_object(Bucket=vbkt, Key="c")["VersionId"]
    expected = [e if e[0] != "c" else (e[0], e[1], False, False) for e in expected]
    c_start = next(i for i, e in enumerate(expected) if e[0] == "c")
    expected.insert(c_start, ("c", marker, True, True))
    expected.sort(key=lambda e: e[0].encode())  # stable: newest first within a key
    assert versions_of(gateway_sqlite_local, vbkt) == expected

    seen: list[tuple[str, str]] = []
    pages = 0
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=vbkt, PaginationConfig={"PageSize": 3}
    ):
        pages += 1
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        assert len(entries) <= 3
        seen += sorted(
            ((e["Key"], e["VersionId"]) for e in entries),
            key=lambda kv: [x[:2] for x in expected].index(kv),
        )
    assert seen == [e[:2] for e in expected]
    assert pages == 6

    grouped = s3.list_object_versions(Bucket=vbkt, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/"]
    assert {v["Key"] for v in grouped["Versions"]} == {"b", "c"}
    under = s3.list_object_versions(Bucket=vbkt, Prefix="a/", MaxKeys=5)
    assert under["IsTruncated"] is True
    assert (under["NextKeyMarker"], under["NextVersionIdMarker"]) == (
        "a/2",
        next(e for e in expected if e[0] == "a/2")[1],
    )
    rest = s3.list_object_versions(
        Bucket=vbkt,
        Prefix="a/",
        KeyMarker=under["NextKeyMarker"],
        VersionIdMarker=under["NextVersionIdMarker"],
    )
    assert [v["Key"] for v in rest["Versions"]] == ["a/2"] * 3
    assert rest["IsTruncated"] is False
    after_key = s3.list_object_versions(Bucket=vbkt, KeyMarker="b")
    assert {v["Key"] for v in after_key["Versions"]} == {"c"}
    expect_error(
        "InvalidArgument",
        400,
        s3.list_object_versions,
        Bucket=vbkt,
        KeyMarker="b",
        VersionIdMarker="f" * 32,
    )


def test_list_versions_pagination_across_many_versions(
    gateway_sqlite_local: GatewayProcess, s3: Any, vbkt: str
) -> None:
    for _ in range(25):
        s3.put_object(Bucket=vbkt, Key="many", Body=b"")
    ids: list[str] = []
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=vbkt, PaginationConfig={"PageSize": 7}
    ):
        ids += [v["VersionId"] for v in page.get("Versions", [])]
    assert len(ids) == len(set(ids)) == 25
    assert ids == [v[1] for v in versions_of(gateway_sqlite_local, vbkt)]


def test_aws_cli_list_object_versions(gateway_sqlite_local: GatewayProcess, vbkt: str) -> None:
    s3 = gateway_sqlite_local.client()
    first = s3.put_object(Bucket=vbkt, Key="cli/file", Body=b"1")["VersionId"]
    s3.put_object(Bucket=vbkt, Key="cli/file", Body=b"22")
    marker = s3.delete_object(Bucket=vbkt, Key="cli/file")["VersionId"]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": gateway_sqlite_local.access_key,
        "AWS_SECRET_ACCESS_KEY": gateway_sqlite_local.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if gateway_sqlite_local.ca_file is not None:
        env["AWS_CA_BUNDLE"] = str(gateway_sqlite_local.ca_file)
    result = subprocess.run(
        [
            "aws",
            "--endpoint-url",
            gateway_sqlite_local.s3_url,
            "s3api",
            "list-object-versions",
            "--bucket",
            vbkt,
            "--prefix",
            "cli/",
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    listed = json.loads(result.stdout)
    assert [(v["VersionId"], v["Size"], v["IsLatest"]) for v in listed["Versions"]][-1] == (
        first,
        1,
        False,
    )
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]


# --- storage: chunks stay referenced, and are released with their version --------------------


def _gc(gateway: GatewayProcess) -> dict[str, str]:
    return parse_fields(gateway.cli("gc", "--grace-seconds", "0").stdout)


def test_deleting_versions_releases_their_chunks(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    gateway = start_gateway()
    client = make_client(gateway.s3_url, gateway.access_key, gateway.secret_key)
    client.create_bucket(Bucket="chunks")
    client.put_bucket_versioning(Bucket="chunks", VersioningConfiguration={"Status": "Enabled"})
    old_body, new_body = os.urandom(2_000_000), os.urandom(2_000_000)
    old = client.put_object(Bucket="chunks", Key="k", Body=old_body)["VersionId"]
    client.put_object(Bucket="chunks", Key="k", Body=new_body)
    client.delete_object(Bucket="chunks", Key="k")
    _gc(gateway)
    # Nothing referenced goes missing: every version still reads back whole.
    assert gateway.cli("fsck", "--quiet", check=False).returncode == 0
    assert client.get_object(Bucket="chunks", Key="k", VersionId=old)["Body"].read() == old_body
    chunks_before = int(parse_fields(gateway.cli("stats").stdout)["chunks"])
    client.delete_object(Bucket="chunks", Key="k", VersionId=old)
    _gc(gateway)
    chunks_after = int(parse_fields(gateway.cli("stats").stdout)["chunks"])
    assert 0 < chunks_after < chunks_before
    assert gateway.cli("fsck", "--quiet", check=False).returncode == 0
    remaining = client.list_object_versions(Bucket="chunks")["Versions"]
    assert len(remaining) == 1
    got = client.get_object(Bucket="chunks", Key="k", VersionId=remaining[0]["VersionId"])
    assert got["Body"].read() == new_body


# --- every database and backend -------------------------------------------------------------


def test_version_life_cycle_on_every_configuration(s3_client: Any) -> None:
    name = unique("ver")
    s3_client.create_bucket(Bucket=name)
    s3_client.put_object(Bucket=name, Key="k", Body=b"null")
    s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    body = os.urandom(700_000)
    first = s3_client.put_object(Bucket=name, Key="k", Body=body)["VersionId"]
    s3_client.put_object(Bucket=name, Key="k", Body=b"latest")
    marker = s3_client.delete_object(Bucket=name, Key="k")["VersionId"]
    assert s3_client.get_object(Bucket=name, Key="k", VersionId=first)["Body"].read() == body
    listed = s3_client.list_object_versions(Bucket=name)
    assert [v["IsLatest"] for v in listed["Versions"]] == [False, False, False]
    assert listed["Versions"][-1]["VersionId"] == "null"
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == [marker]
    s3_client.delete_object(Bucket=name, Key="k", VersionId=marker)
    assert s3_client.get_object(Bucket=name, Key="k")["Body"].read() == b"latest"
    s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert s3_client.put_object(Bucket=name, Key="k", Body=b"n")["VersionId"] == "null"
    assert len(s3_client.list_object_versions(Bucket=name)["Versions"]) == 3
    remove_everything(s3_client, name)
