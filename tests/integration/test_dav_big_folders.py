"""Big folders over WebDAV: a PROPFIND Depth 1 of a folder with 10,000 entries lists every
one of them, and the number of SQL queries a listing makes does not grow with its size.

Ten thousand S3 or WebDAV uploads would take minutes on a small machine, so most entries
are written straight into the gateway's database, in one transaction and in the same rows
the gateway writes (an object, an empty manifest, a current version); a few are made over
WebDAV so the listing mixes both. The gateway keeps nothing between requests, so it lists
them like any others.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, event, insert, select

from adapters.sql.engine import make_engine
from adapters.sql.metadata import SqlMetadata
from adapters.sql.models import BucketRow, DavPropertyRow, ManifestRow, ObjectRow, VersionRow
from gateway.core.identity import hash_password
from gateway.core.storage import Storage
from gateway.dav.app import DavApplication
from gateway.records import Actor
from gateway.server import dav_application, open_storage
from gateway.settings import Settings
from tests.support.gateway_server import GatewayProcess
from tests.support.webdav import (
    DAV,
    clark,
    dav_client,
    error_text,
    parse_multistatus,
    propfind,
    propfind_body,
    url,
)

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
ENTRIES = 10_000
NS = "urn:example:big"


def bulk_insert(
    engine: Engine,
    bucket: str,
    keys: list[str],
    properties: dict[str, str] | None = None,
) -> None:
    """Write empty objects ``keys`` into ``bucket`` in one transaction, the rows the gateway
    itself writes for an empty PUT; ``properties`` (path: value) adds a dead property."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        bucket_id = connection.scalar(select(BucketRow.id).where(BucketRow.name == bucket))
        assert bucket_id is not None
        manifests = connection.scalars(
            insert(ManifestRow).returning(ManifestRow.id, sort_by_parameter_order=True),
            [{"size": 0, "created_at": now} for _ in keys],
        ).all()
        objects = connection.scalars(
            insert(ObjectRow).returning(ObjectRow.id, sort_by_parameter_order=True),
            [{"bucket_id": bucket_id, "key": key} for key in keys],
        ).all()
        connection.execute(
            insert(VersionRow),
            [
                {
                    "object_id": object_id,
                    "version_id": uuid.uuid4().hex,
                    "manifest_id": manifest_id,
                    "is_current": True,
                    "size": 0,
                    "etag": EMPTY_MD5,
                    "content_type": "application/octet-stream",
                    "user_metadata": {},
                    "headers": {},
                    "created_at": now,
                }
                for object_id, manifest_id in zip(objects, manifests, strict=True)
            ],
        )
        if properties:
            connection.execute(
                insert(DavPropertyRow),
                [
                    {
                        "bucket_id": bucket_id,
                        "path": path,
                        "name": clark(NS, "tag"),
                        "value": f'<ns0:tag xmlns:ns0="{NS}">{value}</ns0:tag>',
                    }
                    for path, value in properties.items()
                ],
            )


# --- 10,000 entries over HTTP ------------------------------------------------------------------


def test_propfind_lists_ten_thousand_entries(start_gateway: Any) -> None:
    gw: GatewayProcess = start_gateway(name="big")
    bucket = "big-folder"
    with dav_client(gw, timeout=300) as dav:
        assert dav.request("MKCOL", f"/dav/{bucket}").status_code == 201
        assert dav.request("MKCOL", url(bucket, "big")).status_code == 201
        # A few entries made over WebDAV: folders (one with content) and files with odd names.
        real_folders = [f"sub-{index}" for index in range(4)]
        real_files = ["with space.txt", "umlaut-ä.txt", "zz-last.bin", "a&b.txt", "#hash.txt"]
        for name in real_folders:
            made = dav.request("MKCOL", url(bucket, f"big/{name}"))
            assert made.status_code == 201, error_text(made)
        assert dav.put(url(bucket, "big/sub-0/inner.txt"), content=b"inner").status_code == 201
        for name in real_files:
            response = dav.put(url(bucket, f"big/{quote(name)}"), content=name.encode())
            assert response.status_code == 201, error_text(response)
        made_count = len(real_folders) + len(real_files)
        bulk = [f"big/file-{index:05d}.dat" for index in range(ENTRIES - made_count)]
        engine = make_engine(f"sqlite:///{gw.data_dir / 'gateway.db'}")
        try:
            bulk_insert(engine, bucket, bulk, {"big/file-00042.dat": "forty-two"})
        finally:
            engine.dispose()

        body = propfind_body(
            [
                clark(DAV, "resourcetype"),
                clark(DAV, "getcontentlength"),
                clark(DAV, "getlastmodified"),
                clark(DAV, "displayname"),
                clark(NS, "tag"),
            ]
        )
        found = propfind(dav, url(bucket, "big/"), "1", body)
        expected = {
            f"/dav/{bucket}/big/",
            *(f"/dav/{bucket}/{key}" for key in bulk),
            *(f"/dav/{bucket}/big/{name}/" for name in real_folders),
            *(f"/dav/{bucket}/big/{name}" for name in real_files),
        }
        assert len(found) == ENTRIES + 1
        assert set(found) == expected
        for name in real_folders:
            assert found[f"/dav/{bucket}/big/{name}/"].is_collection
        assert f"/dav/{bucket}/big/sub-0/inner.txt" not in found
        for name in real_files:
            entry = found[f"/dav/{bucket}/big/{name}"]
            assert entry.text("displayname") == name
            assert int(entry.text("getcontentlength")) == len(name.encode())
        sample = found[f"/dav/{bucket}/big/file-00042.dat"]
        assert sample.text(clark(NS, "tag")) == "forty-two"
        assert sample.text("getcontentlength") == "0"
        assert found[f"/dav/{bucket}/big/file-00043.dat"].statuses[clark(NS, "tag")] == 404

        # The whole folder goes in one DELETE.
        deleted = dav.delete(url(bucket, "big/"))
        assert deleted.status_code == 204, error_text(deleted)
        assert set(propfind(dav, url(bucket), "1")) == {f"/dav/{bucket}/"}


# --- queries per listing, in-process -----------------------------------------------------------


class QueryCounter:
    """Counts the statements an engine runs while ``counting`` is set."""

    def __init__(self, engine: Engine) -> None:
        self.counting = False
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        # BEGIN is the transaction bracket the engine emits itself, not a query.
        if self.counting and statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE"):
            self.statements.append(statement)


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[tuple[Storage, DavApplication, QueryCounter]]:
    settings = Settings(data_dir=tmp_path / "data")
    storage = open_storage(settings, auto_migrate=True)
    try:
        app = dav_application(settings, storage)
        assert isinstance(storage.metadata, SqlMetadata)
        yield storage, app, QueryCounter(storage.metadata.engine)
    finally:
        storage.close()


def call(
    app: DavApplication, method: str, path: str, body: bytes, **headers: str
) -> tuple[str, bytes]:
    """Call the WSGI application like cheroot does; returns (status line, body)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/xml",
        "HTTP_HOST": "127.0.0.1:8080",
    }
    for name, value in headers.items():
        environ[f"HTTP_{name.upper()}"] = value
    answer: dict[str, str] = {}

    def start_response(status: str, _headers: list[tuple[str, str]], *_exc: Any) -> Any:
        answer["status"] = status
        return lambda _data: None

    chunks = app(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return answer["status"], data


def test_listing_queries_do_not_grow_with_entries(
    in_process: tuple[Storage, DavApplication, QueryCounter],
) -> None:
    storage, app, counter = in_process
    metadata = storage.metadata
    assert isinstance(metadata, SqlMetadata)
    user = metadata.create_user("lister", hash_password("lister-pw"))
    actor = Actor(user_id=user.id, remote_addr=None, protocol="test")
    storage.create_bucket(user, "listing", actor)
    auth = "Basic " + base64.b64encode(b"lister:lister-pw").decode()
    engine: Engine = metadata.engine
    for size in (10, 1000):
        files = [f"f{size}/file-{index:05d}" for index in range(size)]
        folders = [f"f{size}/dir-{index:04d}/x" for index in range(size // 10)]
        bulk_insert(
            engine,
            "listing",
            files + folders,
            {key: "tagged" for key in files[::7]} | {f"f{size}/": "folder"},
        )

    # Warm up: the first request checks the password with scrypt and fills caches.
    status, _ = call(app, "PROPFIND", "/dav/listing/", b"", DEPTH="1", AUTHORIZATION=auth)
    assert status.startswith("207"), status
    requests = {
        "allprop": b"",
        "named": propfind_body(
            [
                clark(DAV, "getcontentlength"),
                clark(DAV, "getlastmodified"),
                clark(DAV, "getetag"),
                clark(DAV, "resourcetype"),
                clark(DAV, "lockdiscovery"),
                clark(DAV, "quota-used-bytes"),
                clark(NS, "tag"),
            ]
        ),
    }
    counts: dict[tuple[str, int], int] = {}
    for kind, body in requests.items():
        for size in (10, 1000):
            counter.statements.clear()
            counter.counting = True
            status, data = call(
                app, "PROPFIND", f"/dav/listing/f{size}/", body, DEPTH="1", AUTHORIZATION=auth
            )
            counter.counting = False
            assert status.startswith("207"), (status, data[:500])
            found = parse_multistatus(data)
            assert len(found) == 1 + size + size // 10
            tagged = [r for r in found.values() if r.statuses.get(clark(NS, "tag")) == 200]
            assert len(tagged) == len(range(0, size, 7)) + 1
            counts[(kind, size)] = len(counter.statements)
    for kind in requests:
        small, big = counts[(kind, 10)], counts[(kind, 1000)]
        assert small == big, (kind, counts, counter.statements)
        assert big <= 10, (kind, counts, counter.statements)


def test_listing_queries_do_not_grow_with_locks(
    in_process: tuple[Storage, DavApplication, QueryCounter],
) -> None:
    """The locks inside a folder are read once per listing too, however many there are."""
    storage, app, counter = in_process
    metadata = storage.metadata
    assert isinstance(metadata, SqlMetadata)
    user = metadata.create_user("locker", hash_password("locker-pw"))
    actor = Actor(user_id=user.id, remote_addr=None, protocol="test")
    storage.create_bucket(user, "locked", actor)
    auth = "Basic " + base64.b64encode(b"locker:locker-pw").decode()
    bulk_insert(metadata.engine, "locked", [f"d/file-{index:04d}" for index in range(200)])
    lock_body = (
        b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
        b"<D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype>"
        b"</D:lockinfo>"
    )
    counts = []
    already = 0
    for locked in (1, 40):
        for index in range(already, locked):
            status, data = call(
                app,
                "LOCK",
                f"/dav/locked/d/file-{index:04d}",
                lock_body,
                DEPTH="0",
                TIMEOUT="Second-600",
                AUTHORIZATION=auth,
            )
            assert status.startswith("200"), (status, data[:300])
        already = locked
        counter.statements.clear()
        counter.counting = True
        status, data = call(app, "PROPFIND", "/dav/locked/d/", b"", DEPTH="1", AUTHORIZATION=auth)
        counter.counting = False
        assert status.startswith("207")
        found = parse_multistatus(data)
        assert len(found) == 201
        active = [
            response
            for response in found.values()
            if response.props[clark(DAV, "lockdiscovery")].find(clark(DAV, "activelock"))
            is not None
        ]
        assert len(active) == locked
        counts.append(len(counter.statements))
    assert counts[0] == counts[1], counts
