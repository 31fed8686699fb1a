"""Who may do what over WebDAV: HTTP Basic, bearer tokens, other users' buckets, buckets
open to anonymous reading, and passwords kept out of the log."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.test_s3_helpers import parse_fields
from tests.support.gateway_server import GatewayProcess, empty_bucket, make_client
from tests.support.webdav import (
    dav_client,
    error_text,
    parse_multistatus,
    propfind,
    unique,
    url,
)


@pytest.fixture
def gw(gateway_sqlite_local: GatewayProcess) -> GatewayProcess:
    return gateway_sqlite_local


@pytest.fixture
def anonymous(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.http_url, timeout=60) as client:
        yield client


def add_user(gw: GatewayProcess, password: str) -> tuple[str, str, str]:
    """A new user with ``password``; returns (name, access key, secret key)."""
    name = unique("davuser")
    fields = parse_fields(gw.cli("user", "add", name, "--password", password).stdout)
    return name, fields["access key"], fields["secret key"]


SECOND_PASSWORD = "Log-Canary-second-user-" + unique("pw")


@pytest.fixture(scope="module")
def second_user(gateway_sqlite_local: GatewayProcess) -> Iterator[tuple[str, str, str]]:
    """One more user (not an admin) made with the CLI: (name, access key, secret key)."""
    created = add_user(gateway_sqlite_local, SECOND_PASSWORD)
    yield created
    gateway_sqlite_local.cli("user", "remove", created[0], check=False)


def create_token(gw: GatewayProcess, user: str, *extra: str) -> tuple[int, str]:
    """``gateway token create``; returns (token id, token)."""
    fields = parse_fields(gw.cli("token", "create", user, *extra).stdout)
    assert fields["token"].startswith("gwt_"), fields
    return int(fields["id"]), fields["token"]


def assert_challenge(response: httpx.Response) -> None:
    assert response.status_code == 401, error_text(response)
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Basic "), challenge
    assert "realm=" in challenge


def test_no_credentials_is_401_with_basic_challenge(
    anonymous: httpx.Client, dav_bucket_name: str
) -> None:
    for method, path in (
        ("PROPFIND", "/dav/"),
        ("PROPFIND", url(dav_bucket_name)),
        ("GET", url(dav_bucket_name, "file.txt")),
        ("PUT", url(dav_bucket_name, "new.txt")),
        ("MKCOL", "/dav/" + unique("anon")),
        ("DELETE", url(dav_bucket_name, "file.txt")),
        ("LOCK", url(dav_bucket_name, "file.txt")),
    ):
        response = anonymous.request(method, path, headers={"Depth": "0"})
        assert_challenge(response)


@pytest.fixture
def dav_bucket_name(s3: Any, bkt: str) -> str:
    s3.put_object(Bucket=bkt, Key="file.txt", Body=b"secret content")
    return bkt


def test_basic_credentials(gw: GatewayProcess, dav_bucket_name: str) -> None:
    password = gw.env["GATEWAY_ADMIN_PASSWORD"]
    with dav_client(gw) as good:
        assert good.get(url(dav_bucket_name, "file.txt")).content == b"secret content"
        assert f"/dav/{dav_bucket_name}/" in propfind(good, "/dav/", "1")
    for user, wrong in (
        ("admin", password + "x"),
        ("admin", ""),
        ("admin", password.upper() if password.upper() != password else password + "Y"),
        ("nobody-" + unique("u"), password),
    ):
        with dav_client(gw, user, wrong) as bad:
            response = bad.get(url(dav_bucket_name, "file.txt"))
            assert_challenge(response)
            assert b"secret content" not in response.content
    garbage = {"Authorization": "Basic !!!not-base64!!!"}
    with httpx.Client(base_url=gw.http_url, headers=garbage) as client:
        assert_challenge(client.get(url(dav_bucket_name, "file.txt")))
    no_colon = base64.b64encode(b"admin" + password.encode()).decode()
    with httpx.Client(base_url=gw.http_url, headers={"Authorization": f"Basic {no_colon}"}) as c:
        assert_challenge(c.get(url(dav_bucket_name, "file.txt")))


def test_bearer_tokens(gw: GatewayProcess, dav_bucket_name: str) -> None:
    token_id, token = create_token(gw, "admin", "--name", "pytest")
    _, expired = create_token(gw, "admin", "--name", "expired", "--expires-days", "-1")
    try:
        with dav_client(gw, token=token) as client:
            assert client.get(url(dav_bucket_name, "file.txt")).content == b"secret content"
            put = client.put(url(dav_bucket_name, "by-token.txt"), content=b"token")
            assert put.status_code == 201, error_text(put)
        for bad in (expired, "gwt_" + "A" * 40, "garbage", token + "x", token[:-1]):
            with dav_client(gw, token=bad) as client:
                assert_challenge(client.get(url(dav_bucket_name, "file.txt")))
        with httpx.Client(
            base_url=gw.http_url, headers={"Authorization": f"Negotiate {token}"}
        ) as client:
            assert_challenge(client.get(url(dav_bucket_name, "file.txt")))

        gw.cli("token", "revoke", str(token_id))
        with dav_client(gw, token=token) as client:
            assert_challenge(client.get(url(dav_bucket_name, "file.txt")))
            assert_challenge(client.put(url(dav_bucket_name, "late.txt"), content=b"late"))
    except BaseException:
        gw.cli("token", "revoke", str(token_id), check=False)
        raise


def test_users_see_only_their_own_buckets(
    gw: GatewayProcess, dav_bucket_name: str, second_user: tuple[str, str, str]
) -> None:
    name, access_key, secret_key = second_user
    theirs = unique("theirs")
    their_s3 = make_client(gw.s3_url, access_key, secret_key)
    with dav_client(gw, name, SECOND_PASSWORD) as other:
        made = other.request("MKCOL", f"/dav/{theirs}")
        assert made.status_code == 201, error_text(made)
        try:
            put = other.put(url(theirs, "mine.txt"), content=b"mine")
            assert put.status_code == 201, error_text(put)
            root = propfind(other, "/dav/", "1")
            assert set(root) == {"/dav/", f"/dav/{theirs}/"}
            with dav_client(gw) as admin:
                admin_root = propfind(admin, "/dav/", "1")
                assert f"/dav/{dav_bucket_name}/" in admin_root
                assert f"/dav/{theirs}/" not in admin_root

            target = url(dav_bucket_name, "file.txt")
            for method, path, headers in (
                ("GET", target, {}),
                ("PROPFIND", url(dav_bucket_name), {"Depth": "1"}),
                ("PUT", url(dav_bucket_name, "intruder.txt"), {}),
                ("DELETE", target, {}),
                ("MKCOL", url(dav_bucket_name, "intruder"), {}),
                ("COPY", target, {"Destination": url(theirs, "stolen.txt")}),
                ("MOVE", target, {"Destination": url(theirs, "stolen.txt")}),
                ("PROPPATCH", target, {}),
            ):
                response = other.request(method, path, headers=headers, content=b"")
                assert response.status_code == 403, (method, error_text(response))
                assert b"secret content" not in response.content
            # Copying into somebody else's bucket is refused as well.
            response = other.request(
                "COPY", url(theirs, "mine.txt"), headers={"Destination": target}
            )
            assert response.status_code == 403, error_text(response)
            listed = their_s3.list_objects_v2(Bucket=theirs).get("Contents", [])
            assert [obj["Key"] for obj in listed] == ["mine.txt"]
        finally:
            empty_bucket(their_s3, theirs)
    with dav_client(gw) as admin:
        assert admin.get(target).content == b"secret content"
        assert admin.get(url(dav_bucket_name, "intruder.txt")).status_code == 404


def test_anonymous_read_bucket(gw: GatewayProcess, anonymous: httpx.Client, s3: Any) -> None:
    public, private = unique("public"), unique("private")
    for name in (public, private):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="docs/readme.txt", Body=b"read me")
    try:
        gw.cli("bucket", "anonymous", public, "read")
        got = anonymous.get(url(public, "docs/readme.txt"))
        assert got.status_code == 200 and got.content == b"read me"
        head = anonymous.head(url(public, "docs/readme.txt"))
        assert head.status_code == 200 and head.headers["Content-Length"] == "7"
        listing = anonymous.request("PROPFIND", url(public), headers={"Depth": "infinity"})
        assert listing.status_code == 207, error_text(listing)
        assert set(parse_multistatus(listing.content)) == {
            f"/dav/{public}/",
            f"/dav/{public}/docs/",
            f"/dav/{public}/docs/readme.txt",
        }
        # The root lists nobody's buckets to anonymous callers; other buckets stay closed.
        root = anonymous.request("PROPFIND", "/dav/", headers={"Depth": "1"})
        if root.status_code == 207:
            assert set(parse_multistatus(root.content)) == {"/dav/"}
        else:
            assert_challenge(root)
        assert_challenge(anonymous.get(url(private, "docs/readme.txt")))
        assert_challenge(anonymous.request("PROPFIND", url(private), headers={"Depth": "1"}))

        for method, path, headers in (
            ("PUT", url(public, "docs/readme.txt"), {}),
            ("PUT", url(public, "docs/new.txt"), {}),
            ("DELETE", url(public, "docs/readme.txt"), {}),
            ("DELETE", url(public, "docs/"), {}),
            ("MKCOL", url(public, "newdir"), {}),
            ("PROPPATCH", url(public, "docs/readme.txt"), {}),
            ("LOCK", url(public, "docs/readme.txt"), {}),
            ("MOVE", url(public, "docs/readme.txt"), {"Destination": url(public, "x.txt")}),
            ("COPY", url(public, "docs/readme.txt"), {"Destination": url(public, "x.txt")}),
        ):
            response = anonymous.request(method, path, headers=headers, content=b"vandal")
            assert_challenge(response)
        assert {obj["Key"] for obj in s3.list_objects_v2(Bucket=public)["Contents"]} == {
            "docs/readme.txt"
        }
        assert s3.get_object(Bucket=public, Key="docs/readme.txt")["Body"].read() == b"read me"

        gw.cli("bucket", "anonymous", public, "none")
        assert_challenge(anonymous.get(url(public, "docs/readme.txt")))
    finally:
        for name in (public, private):
            empty_bucket(s3, name)


def test_password_never_logged(
    gw: GatewayProcess, dav_bucket_name: str, second_user: tuple[str, str, str]
) -> None:
    name, password = second_user[0], SECOND_PASSWORD
    with dav_client(gw, name, password) as client:
        assert propfind(client, "/dav/", "1")
        response = client.request("MKCOL", f"/dav/{unique('canary')}-nonexistent/x/y")
        assert response.status_code in (403, 409), error_text(response)
    with dav_client(gw, name, password + "-wrong") as client:
        assert_challenge(client.request("PROPFIND", "/dav/", headers={"Depth": "0"}))
    with dav_client(gw, "admin", password) as client:
        assert_challenge(client.get(url(dav_bucket_name, "file.txt")))
    encoded = base64.b64encode(f"{name}:{password}".encode()).decode()
    log = gw.log()
    assert "storage-gateway" in log or "Storage gateway" in log  # the log is the right one
    assert password not in log
    assert encoded not in log
    assert gw.env["GATEWAY_ADMIN_PASSWORD"] not in log
