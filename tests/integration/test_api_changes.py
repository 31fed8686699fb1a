"""``/v1/changes`` and bucket grants against real gateways over HTTP: writes of every front
end in the feed, what a user may see and do, long polls within and across processes,
cursors across restarts, refusals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from bench.clamd_service import ClamdService, eicar
from tests.integration.test_s3_helpers import unique
from tests.integration.test_scan_pipeline import FAST_JOBS
from tests.support.api import ApiUser, add_api_user, api_client
from tests.support.gateway_server import GatewayProcess, empty_bucket, make_client
from tests.support.webdav import dav_client, proppatch, url


def _follow(api: httpx.Client, cursor: str, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/changes", params={"cursor": cursor, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _latest(api: httpx.Client) -> str:
    response = api.get("/v1/changes/cursor")
    assert response.status_code == 200, response.text
    return str(response.json()["cursor"])


def _events(page: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [
        (c["event"], c["name"], c["source"]["name"] if c["source"] else None)
        for c in page["changes"]
    ]


def _user_client(gateway: GatewayProcess, user: ApiUser) -> Any:
    return make_client(gateway.s3_url, user.access_key, user.secret_key)


def test_writes_of_every_front_end_appear_in_order(gateway_sqlite_local: GatewayProcess) -> None:
    gateway = gateway_sqlite_local
    s3 = gateway.client()
    bucket = unique("feed")
    s3.create_bucket(Bucket=bucket)
    try:
        with api_client(gateway) as api, dav_client(gateway) as dav:
            start = _latest(api)
            s3.put_object(Bucket=bucket, Key="a.txt", Body=b"one")
            etag = s3.put_object(Bucket=bucket, Key="a.txt", Body=b"two!")["ETag"].strip('"')
            assert dav.put(url(bucket, "b.txt"), content=b"dav").status_code == 201
            moved = dav.request(
                "MOVE",
                url(bucket, "b.txt"),
                headers={"Destination": f"{gateway.http_url}{url(bucket, 'c.txt')}"},
            )
            assert moved.status_code == 201
            assert dav.delete(url(bucket, "c.txt")).status_code == 204
            s3.delete_object(Bucket=bucket, Key="a.txt")
            page = _follow(api, start)
            assert _events(page) == [
                ("created", "a.txt", None),
                ("updated", "a.txt", None),
                ("created", "b.txt", None),
                ("moved", "c.txt", "b.txt"),
                ("deleted", "c.txt", None),
                ("deleted", "a.txt", None),
            ]
            updated = page["changes"][1]
            assert updated["etag"] == etag and updated["size"] == 4 and updated["file_id"]
            assert updated["bucket"] == bucket and updated["at"].endswith("Z")
            assert page["changes"][3]["source"] == {"bucket": bucket, "name": "b.txt"}
            assert page["has_more"] is False
            # Paging: one change at a time, each change's cursor resumes right after it.
            first = _follow(api, start, limit=1)
            assert _events(first) == [("created", "a.txt", None)] and first["has_more"]
            assert first["cursor"] == first["changes"][0]["cursor"]
            assert _events(_follow(api, first["cursor"], limit=1))[0][0] == "updated"
            assert _follow(api, page["cursor"])["changes"] == []
            only = _follow(api, start, bucket=bucket)
            assert len(only["changes"]) == 6
    finally:
        empty_bucket(s3, bucket)


def test_grants_decide_what_a_user_sees_and_may_do(gateway_sqlite_local: GatewayProcess) -> None:
    gateway = gateway_sqlite_local
    s3 = gateway.client()
    bucket = unique("shared")
    s3.create_bucket(Bucket=bucket)
    bob = add_api_user(gateway, "bob")
    bob_s3 = _user_client(gateway, bob)
    try:
        with api_client(gateway, bob.access_key, bob.secret_key) as api:
            start = _latest(api)
            s3.put_object(Bucket=bucket, Key="doc", Body=b"secret")
            assert _follow(api, start)["changes"] == []
            refused = api.get("/v1/changes", params={"bucket": bucket})
            assert refused.status_code == 403
            with pytest.raises(ClientError) as denied:
                bob_s3.get_object(Bucket=bucket, Key="doc")
            assert denied.value.response["Error"]["Code"] == "AccessDenied"

            gateway.cli("bucket", "grant", bucket, bob.name, "read")
            assert f"{bob.name}\tread" in gateway.cli("bucket", "grants", bucket).stdout
            assert _events(_follow(api, start)) == [("created", "doc", None)]
            assert bob_s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"secret"
            listed = bob_s3.list_objects_v2(Bucket=bucket)["Contents"]
            assert [o["Key"] for o in listed] == ["doc"]
            assert bucket not in [b["Name"] for b in bob_s3.list_buckets()["Buckets"]]
            with pytest.raises(ClientError) as denied:
                bob_s3.put_object(Bucket=bucket, Key="bob", Body=b"no")
            assert denied.value.response["Error"]["Code"] == "AccessDenied"
            with pytest.raises(ClientError) as denied:
                bob_s3.delete_object(Bucket=bucket, Key="doc")
            assert denied.value.response["Error"]["Code"] == "AccessDenied"
            with dav_client(gateway, bob.name, bob.password) as dav:
                assert dav.get(url(bucket, "doc")).content == b"secret"
                assert dav.put(url(bucket, "bob"), content=b"no").status_code == 403
                assert dav.delete(url(bucket, "doc")).status_code == 403
                note = "{urn:test}note"
                assert proppatch(dav, url(bucket, "doc"), {note: "x"}).statuses[note] == 403

                gateway.cli("bucket", "grant", bucket, bob.name, "write")
                assert dav.put(url(bucket, "bob"), content=b"yes").status_code == 201
                assert proppatch(dav, url(bucket, "doc"), {note: "x"}).statuses[note] == 200
                bob_s3.put_object(Bucket=bucket, Key="bob2", Body=b"yes")
                bob_s3.delete_object(Bucket=bucket, Key="bob2")
                with pytest.raises(ClientError) as denied:
                    bob_s3.delete_bucket(Bucket=bucket)
                assert denied.value.response["Error"]["Code"] == "AccessDenied"

                gateway.cli("bucket", "revoke", bucket, bob.name)
                assert _follow(api, start)["changes"] == []
                assert dav.get(url(bucket, "doc")).status_code == 403
            with pytest.raises(ClientError) as denied:
                bob_s3.get_object(Bucket=bucket, Key="doc")
            assert denied.value.response["Error"]["Code"] == "AccessDenied"
    finally:
        empty_bucket(s3, bucket)


def test_malformed_requests_are_refused(gateway_sqlite_local: GatewayProcess) -> None:
    gateway = gateway_sqlite_local
    with api_client(gateway) as api:
        cursor = _latest(api)
        for params in (
            {"cursor": "not-a-cursor"},
            {"cursor": cursor + "A"},
            {"cursor": "ZmVlZC52MS4tMQ"},  # feed.v1.-1
            {"limit": "0"},
            {"limit": "1001"},
            {"limit": "x"},
            {"wait": "61"},
            {"wait": "-1"},
            {"wait": "soon"},
        ):
            response = api.get("/v1/changes", params=params)
            assert response.status_code == 400, params
            assert response.headers["Content-Type"] == "application/problem+json"
        assert api.get("/v1/changes", params={"bucket": unique("none")}).status_code == 404
    assert httpx.get(f"{gateway.http_url}/v1/changes").status_code == 401


def _long_poll(api: httpx.Client, cursor: str, result: dict[str, Any]) -> None:
    began = time.monotonic()
    result["page"] = _follow(api, cursor, wait=20)
    result["answered"] = time.monotonic()
    result["began"] = began


def _poll_during_write(api: httpx.Client, cursor: str, write: Callable[[], None]) -> float:
    """Seconds from the end of ``write`` (started once a long poll waits) to its answer."""
    result: dict[str, Any] = {}
    poll = threading.Thread(target=_long_poll, args=(api, cursor, result))
    poll.start()
    time.sleep(0.5)
    write()
    written = time.monotonic()
    poll.join(timeout=30)
    assert result["page"]["changes"], result
    return float(result["answered"] - written)


def test_a_long_poll_answers_promptly_after_a_write_of_the_same_process(
    gateway_sqlite_local: GatewayProcess,
) -> None:
    gateway = gateway_sqlite_local
    s3 = gateway.client()
    bucket = unique("poll")
    s3.create_bucket(Bucket=bucket)
    try:
        with api_client(gateway) as api:
            cursor = _latest(api)
            began = time.monotonic()
            assert _follow(api, cursor, wait=1)["changes"] == []
            assert time.monotonic() - began >= 1
            delay = _poll_during_write(
                api, cursor, lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v")
            )
            assert delay < 0.5
    finally:
        empty_bucket(s3, bucket)


def test_a_long_poll_sees_another_process_and_cursors_survive_a_restart(
    start_gateway: Callable[..., GatewayProcess],
    postgres_database_factory: Callable[[], str],
) -> None:
    database = {"GATEWAY_DATABASE_URL": postgres_database_factory()}
    first = start_gateway(database, name="first")
    second = start_gateway(
        {
            **database,
            "GATEWAY_ADMIN_ACCESS_KEY": first.access_key,
            "GATEWAY_ADMIN_SECRET_KEY": first.secret_key,
        },
        name="second",
    )
    s3_second = second.client()
    bucket = unique("multi")
    s3_second.create_bucket(Bucket=bucket)
    with api_client(first) as api:
        cursor = _latest(api)
        delay = _poll_during_write(
            api, cursor, lambda: s3_second.put_object(Bucket=bucket, Key="k", Body=b"v")
        )
        assert delay < 1.5
        after_put = _follow(api, cursor)["cursor"]
    first.stop()
    s3_second.put_object(Bucket=bucket, Key="later", Body=b"v")
    third = start_gateway(
        {
            **database,
            "GATEWAY_ADMIN_ACCESS_KEY": first.access_key,
            "GATEWAY_ADMIN_SECRET_KEY": first.secret_key,
        },
        name="third",
    )
    with api_client(third) as api:
        assert _events(_follow(api, after_put)) == [("created", "later", None)]


def test_a_quarantine_follows_the_upload_in_the_feed(
    clamd_server: ClamdService, start_gateway: Callable[..., GatewayProcess]
) -> None:
    gateway = start_gateway({**FAST_JOBS, "GATEWAY_SCANNER_URL": clamd_server.unix_url})
    s3 = gateway.client()
    bucket = unique("scan")
    s3.create_bucket(Bucket=bucket)
    with api_client(gateway) as api:
        cursor = _latest(api)
        s3.put_object(Bucket=bucket, Key="eicar.com", Body=eicar())
        seen: list[tuple[str, str, str | None]] = []
        deadline = time.monotonic() + 30
        while ("quarantined", "eicar.com", None) not in seen and time.monotonic() < deadline:
            page = _follow(api, cursor, wait=10)
            seen += _events(page)
            cursor = page["cursor"]
    assert seen == [("created", "eicar.com", None), ("quarantined", "eicar.com", None)]
