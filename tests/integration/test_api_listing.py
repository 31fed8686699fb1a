"""The sync client's routes over HTTP: a bucket's files with their ids, and deleting a file
only while it is its name's current version."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import add_api_user, api_client
from tests.support.gateway_server import GatewayProcess, temporary_bucket


@pytest.fixture
def bucket(gateway_sqlite_local: GatewayProcess) -> Iterator[str]:
    with temporary_bucket(gateway_sqlite_local, "listing") as name:
        yield name


def current_id(api: httpx.Client, bucket: str, key: str) -> str:
    files = api.get(f"/v1/buckets/{bucket}/files", params={"prefix": key}).json()["files"]
    return str(next(f["id"] for f in files if f["name"] == key))


def test_listing_pages_through_current_files_with_their_ids(
    gateway_sqlite_local: GatewayProcess, bucket: str
) -> None:
    s3 = gateway_sqlite_local.client()
    for key in ["a/1.txt", "a/2.txt", "a/sub/3.txt", "b.txt"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    with api_client(gateway_sqlite_local) as api:
        seen: list[dict[str, object]] = []
        after = None
        while True:
            params = {"prefix": "a/", "limit": "2", **({"after": after} if after else {})}
            page = api.get(f"/v1/buckets/{bucket}/files", params=params)
            assert page.status_code == 200, page.text
            seen += page.json()["files"]
            after = page.json()["next_after"]
            if after is None:
                break
        assert [f["name"] for f in seen] == ["a/1.txt", "a/2.txt", "a/sub/3.txt"]
        for entry in seen:
            assert api.get(f"/v1/files/{entry['id']}").content == str(entry["name"]).encode()
        assert all(f["size"] == len(str(f["name"])) for f in seen)
        bad = api.get(f"/v1/buckets/{bucket}/files", params={"limit": "0"})
        assert bad.status_code == 400
        assert bad.headers["Content-Type"] == "application/problem+json"
        assert api.get("/v1/buckets/no-such-bucket-here/files").status_code == 404


def test_delete_removes_only_the_current_version(
    gateway_sqlite_local: GatewayProcess, bucket: str
) -> None:
    s3 = gateway_sqlite_local.client()
    with api_client(gateway_sqlite_local) as api:
        s3.put_object(Bucket=bucket, Key="k.txt", Body=b"one")
        old = current_id(api, bucket, "k.txt")
        s3.put_object(Bucket=bucket, Key="k.txt", Body=b"two")
        new = current_id(api, bucket, "k.txt")
        stale = api.delete(f"/v1/files/{old}")
        assert stale.status_code in (404, 409), stale.text
        assert s3.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"two"
        assert api.delete(f"/v1/files/{new}").status_code == 204
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=bucket, Key="k.txt")
        assert api.delete(f"/v1/files/{new}").status_code == 404


def test_another_users_bucket_is_refused(gateway_sqlite_local: GatewayProcess, bucket: str) -> None:
    s3 = gateway_sqlite_local.client()
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"x")
    with api_client(gateway_sqlite_local) as api:
        version = current_id(api, bucket, "private.txt")
    other = add_api_user(gateway_sqlite_local, "stranger")
    with api_client(gateway_sqlite_local, other.access_key, other.secret_key) as api:
        assert api.get(f"/v1/buckets/{bucket}/files").status_code in (403, 404)
        assert api.delete(f"/v1/files/{version}").status_code in (403, 404)
    assert s3.get_object(Bucket=bucket, Key="private.txt")["Body"].read() == b"x"
    assert (
        httpx.get(f"{gateway_sqlite_local.http_url}/v1/buckets/{bucket}/files").status_code == 401
    )
