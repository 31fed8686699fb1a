"""Request sequences of real WebDAV clients, with the headers those clients send: macOS
Finder (WebDAVFS), the Windows Mini-Redirector and Office, GNOME gvfs, davfs2 (neon) and
rclone's webdav backend."""

from __future__ import annotations

import os
import socket
import time
from base64 import b64encode
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.gateway_server import GatewayProcess
from tests.support.webdav import (
    DAV,
    MS,
    clark,
    dav_client,
    error_text,
    if_token,
    lock_token,
    parse_multistatus,
    propfind,
    unlock,
    url,
)

FINDER = "WebDAVFS/3.0.0 (03008000) Darwin/21.6.0 (x86_64)"
MINIREDIR = "Microsoft-WebDAV-MiniRedir/10.0.19043"
GVFS = "gvfs/1.50.2"
DAVFS2 = "davfs2/1.7.0 neon/0.32.5"
RCLONE = "rclone/v1.60.1"

FINDER_LOCK = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:lockinfo xmlns:D="DAV:">\n'
    b"<D:lockscope><D:exclusive/></D:lockscope>\n"
    b"<D:locktype><D:write/></D:locktype>\n"
    b"<D:owner>\n<D:href>http://www.apple.com/webdav_fs/</D:href>\n</D:owner>\n"
    b"</D:lockinfo>\n"
)
FINDER_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:propfind xmlns:D="DAV:">\n<D:prop>\n'
    b"<D:getlastmodified/>\n<D:getcontentlength/>\n<D:creationdate/>\n<D:resourcetype/>\n"
    b"</D:prop>\n</D:propfind>\n"
)
WINDOWS_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:">'
    b'<D:prop xmlns:Z="urn:schemas-microsoft-com:"><D:creationdate/><D:displayname/>'
    b"<D:getcontentlength/><D:getcontenttype/><D:getetag/><D:getlastmodified/>"
    b"<D:resourcetype/><D:quota-available-bytes/><D:quota-used-bytes/>"
    b"<Z:Win32FileAttributes/><Z:Win32CreationTime/><Z:Win32LastModifiedTime/>"
    b"<Z:Win32LastAccessTime/></D:prop></D:propfind>"
)
WINDOWS_LOCK = (
    b'<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner><D:href>WORKGROUP\\tester</D:href></D:owner></D:lockinfo>"
)
GVFS_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8" ?>\n <D:propfind xmlns:D="DAV:">\n  <D:prop>\n'
    b"<D:creationdate/>\n<D:displayname/>\n<D:getcontentlength/>\n<D:getcontenttype/>\n"
    b"<D:getetag/>\n<D:getlastmodified/>\n<D:resourcetype/>\n  </D:prop>\n </D:propfind>"
)
NEON_LOCK = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b"<lockinfo xmlns='DAV:'>\n <lockscope><exclusive/></lockscope>\n"
    b"<locktype><write/></locktype><owner>tester</owner>\n</lockinfo>\n"
)


@pytest.fixture
def gw(gateway_sqlite_local: GatewayProcess) -> GatewayProcess:
    return gateway_sqlite_local


def client_of(gw: GatewayProcess, agent: str, **headers: str) -> httpx.Client:
    return dav_client(gw, headers={"User-Agent": agent, **headers})


@pytest.fixture
def finder(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with client_of(gw, FINDER, Accept="*/*") as client:
        yield client


@pytest.fixture
def windows(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with client_of(gw, MINIREDIR, translate="f", Connection="Keep-Alive") as client:
        yield client


def dav_classes(response: httpx.Response) -> set[str]:
    return {part.strip() for part in response.headers.get("DAV", "").split(",") if part.strip()}


def chunks(body: bytes, size: int = 32_768) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def s3_keys(s3: Any, bucket: str) -> set[str]:
    return {obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


# --- macOS Finder ------------------------------------------------------------------------------


def test_finder_options_advertise_class_2(
    gw: GatewayProcess, finder: httpx.Client, bkt: str
) -> None:
    for path in ("/", "/dav/", url(bkt)):
        response = finder.options(path)
        assert response.status_code == 200, error_text(response)
        assert {"1", "2"} <= dav_classes(response), (path, response.headers.get("DAV"))
    anonymous = httpx.options(f"{gw.http_url}/", headers={"User-Agent": FINDER})
    assert anonymous.status_code == 200
    assert {"1", "2"} <= dav_classes(anonymous)


def test_finder_copy_sequence(finder: httpx.Client, s3: Any, bkt: str) -> None:
    """Finder's copy of a file: empty PUT, LOCK, chunked PUT with X-Expected-Entity-Length
    and the token, PROPFIND, UNLOCK; AppleDouble ``._`` file and ``.DS_Store`` alongside."""
    body = os.urandom(700_000)
    target = url(bkt, "photo.jpg")
    found = finder.request("PROPFIND", target, content=FINDER_PROPFIND, headers={"Depth": "0"})
    assert found.status_code == 404, error_text(found)

    empty = finder.put(target, content=b"", headers={"Content-Type": "application/octet-stream"})
    assert empty.status_code == 201, error_text(empty)
    locked = finder.request(
        "LOCK",
        target,
        content=FINDER_LOCK,
        headers={"Content-Type": "text/xml; charset=utf-8", "Depth": "0", "Timeout": "Second-600"},
    )
    assert locked.status_code == 200, error_text(locked)
    token = lock_token(locked)
    try:
        stored = finder.put(
            target,
            content=chunks(body),
            headers={"X-Expected-Entity-Length": str(len(body)), "If": if_token(token)},
        )
        assert stored.request.headers.get("Transfer-Encoding") == "chunked"
        assert stored.status_code in (200, 201, 204), error_text(stored)
        for name, data in (
            ("._photo.jpg", b"\x00\x05\x16\x07" + bytes(78)),
            (".DS_Store", b"x" * 6148),
        ):
            sidecar = finder.put(
                url(bkt, name),
                content=chunks(data),
                headers={"X-Expected-Entity-Length": str(len(data))},
            )
            assert sidecar.status_code == 201, error_text(sidecar)
        listing = propfind(finder, url(bkt), "1", FINDER_PROPFIND)
        assert int(listing[f"/dav/{bkt}/photo.jpg"].text("getcontentlength")) == len(body)
        assert int(listing[f"/dav/{bkt}/._photo.jpg"].text("getcontentlength")) == 82
        assert int(listing[f"/dav/{bkt}/.DS_Store"].text("getcontentlength")) == 6148
    finally:
        unlocked = unlock(finder, target, token)
    assert unlocked.status_code == 204, error_text(unlocked)
    assert finder.get(target).content == body
    assert s3.get_object(Bucket=bkt, Key="photo.jpg")["Body"].read() == body
    assert s3.get_object(Bucket=bkt, Key=".DS_Store")["Body"].read() == b"x" * 6148
    for name in ("._photo.jpg", ".DS_Store"):
        deleted = finder.delete(url(bkt, name))
        assert deleted.status_code == 204, error_text(deleted)
    assert s3_keys(s3, bkt) == {"photo.jpg"}


def test_finder_wrong_expected_length_stores_nothing(
    finder: httpx.Client, s3: Any, bkt: str
) -> None:
    body = os.urandom(100_000)
    for declared in (len(body) + 1, len(body) - 1):
        response = finder.put(
            url(bkt, "short.bin"),
            content=chunks(body),
            headers={"X-Expected-Entity-Length": str(declared)},
        )
        assert response.status_code == 400, error_text(response)
    assert finder.get(url(bkt, "short.bin")).status_code == 404
    assert s3_keys(s3, bkt) == set()

    # Over an existing file the old bytes stay.
    s3.put_object(Bucket=bkt, Key="kept.bin", Body=b"old bytes")
    response = finder.put(
        url(bkt, "kept.bin"),
        content=chunks(body),
        headers={"X-Expected-Entity-Length": str(len(body) * 2)},
    )
    assert response.status_code == 400, error_text(response)
    assert finder.get(url(bkt, "kept.bin")).content == b"old bytes"
    response = finder.put(
        url(bkt, "kept.bin"), content=chunks(body), headers={"X-Expected-Entity-Length": "lots"}
    )
    assert response.status_code == 400, error_text(response)
    assert s3.get_object(Bucket=bkt, Key="kept.bin")["Body"].read() == b"old bytes"


# --- Windows Mini-Redirector and Office ----------------------------------------------------------


def test_windows_probes_of_root(gw: GatewayProcess, windows: httpx.Client, bkt: str) -> None:
    headers = {"User-Agent": MINIREDIR, "translate": "f", "Connection": "Keep-Alive"}
    with httpx.Client(base_url=gw.http_url, headers=headers) as anonymous:
        options = anonymous.options("/")
        assert options.status_code == 200, error_text(options)
        assert {"1", "2"} <= dav_classes(options)
        assert options.headers.get("MS-Author-Via") == "DAV"
        assert "PROPFIND" in options.headers.get("Allow", "")
        probe = anonymous.request("PROPFIND", "/", headers={"Depth": "0", "Content-Length": "0"})
        # Anonymous: a Basic challenge (Windows then sends credentials) or the root itself.
        if probe.status_code == 401:
            assert probe.headers["WWW-Authenticate"].startswith("Basic ")
        else:
            assert probe.status_code == 207, error_text(probe)
            assert "/" in parse_multistatus(probe.content)

    options = windows.options("/")
    assert options.status_code == 200 and {"1", "2"} <= dav_classes(options)
    for path in ("/", "/dav/"):
        found = windows.request("PROPFIND", path, headers={"Depth": "0", "Content-Length": "0"})
        assert found.status_code == 207, error_text(found)
        assert found.headers["Content-Type"].startswith(("application/xml", "text/xml"))
        responses = parse_multistatus(found.content)
        assert path in responses and responses[path].is_collection
    listing = propfind(windows, "/dav/", "1", WINDOWS_PROPFIND)
    assert listing[f"/dav/{bkt}/"].is_collection
    assert int(listing[f"/dav/{bkt}/"].text("quota-available-bytes")) > 0


def test_windows_proppatch_of_win32_times(windows: httpx.Client, bkt: str) -> None:
    put = windows.put(url(bkt, "report.txt"), content=b"windows")
    assert put.status_code == 201, error_text(put)
    stamp = datetime(2020, 11, 4, 13, 25, 51, tzinfo=UTC)
    accessed = datetime(2020, 12, 5, 21, 16, 12, tzinfo=UTC)
    body = (
        '<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" '
        'xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
        f"<Z:Win32CreationTime>{format_datetime(stamp, usegmt=True)}</Z:Win32CreationTime>"
        f"<Z:Win32LastAccessTime>{format_datetime(accessed, usegmt=True)}</Z:Win32LastAccessTime>"
        f"<Z:Win32LastModifiedTime>{format_datetime(stamp, usegmt=True)}</Z:Win32LastModifiedTime>"
        "<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>"
        "</D:prop></D:set></D:propertyupdate>"
    ).encode()
    response = windows.request(
        "PROPPATCH",
        url(bkt, "report.txt"),
        content=body,
        headers={"Content-Type": 'text/xml; charset="utf-8"'},
    )
    assert response.status_code == 207, error_text(response)
    (answer,) = parse_multistatus(response.content).values()
    names = ("Win32CreationTime", "Win32LastAccessTime", "Win32LastModifiedTime")
    assert answer.statuses == {clark(MS, name): 200 for name in (*names, "Win32FileAttributes")}

    (found,) = propfind(windows, url(bkt, "report.txt"), "0", WINDOWS_PROPFIND).values()
    assert parsedate_to_datetime(found.text("getlastmodified")) == stamp
    assert found.text("getetag").strip('"')  # the bytes and the ETag stay
    assert windows.get(url(bkt, "report.txt")).content == b"windows"
    assert parsedate_to_datetime(windows.head(url(bkt, "report.txt")).headers["Last-Modified"]) == (
        stamp
    )


def test_office_save_sequence(gw: GatewayProcess, windows: httpx.Client, s3: Any, bkt: str) -> None:
    """Word saving doc.docx over WebDAV: owner file, temp file, LOCK, MOVE over, UNLOCK."""
    target = url(bkt, "doc.docx")
    s3.put_object(Bucket=bkt, Key="doc.docx", Body=b"version one")
    xml = {"Content-Type": 'text/xml; charset="utf-8"'}

    locked = windows.request(
        "LOCK",
        target,
        content=WINDOWS_LOCK,
        headers={**xml, "Depth": "0", "Timeout": "Second-3600"},
    )
    assert locked.status_code == 200, error_text(locked)
    token = lock_token(locked)
    try:
        owner = windows.put(url(bkt, "~$doc.docx"), content=b"\x06tester" + bytes(155))
        assert owner.status_code == 201, error_text(owner)
        temp = windows.put(url(bkt, "doc.tmp"), content=b"version two, longer")
        assert temp.status_code == 201, error_text(temp)
        # Without the token the locked target cannot be replaced.
        refused = windows.request(
            "MOVE", url(bkt, "doc.tmp"), headers={"Destination": target, "Overwrite": "T"}
        )
        assert refused.status_code == 423, error_text(refused)
        moved = windows.request(
            "MOVE",
            url(bkt, "doc.tmp"),
            headers={
                "Destination": f"{gw.http_url}{target}",
                "Overwrite": "T",
                "If": if_token(token, f"{gw.http_url}{target}"),
            },
        )
        assert moved.status_code == 204, error_text(moved)
    finally:
        unlocked = unlock(windows, target, token)
    # RFC 4918 9.9.3: the replaced destination loses its locks, so UNLOCK may find none.
    assert unlocked.status_code in (204, 409), error_text(unlocked)
    deleted = windows.delete(url(bkt, "~$doc.docx"))
    assert deleted.status_code == 204, error_text(deleted)
    assert windows.get(target).content == b"version two, longer"
    assert s3_keys(s3, bkt) == {"doc.docx"}
    # The target is free again: a plain PUT goes through.
    assert windows.put(target, content=b"three").status_code == 204


# --- GNOME gvfs --------------------------------------------------------------------------------


def test_gvfs_browse_read_and_upload(gw: GatewayProcess, s3: Any, bkt: str) -> None:
    s3.put_object(Bucket=bkt, Key="music/song.ogg", Body=b"ogg" * 1000, ContentType="audio/ogg")
    s3.put_object(Bucket=bkt, Key="music/cover.png", Body=b"png")
    with client_of(gw, GVFS, **{"Accept-Encoding": "gzip, deflate"}) as gvfs:
        listing = propfind(gvfs, url(bkt, "music/"), "1", GVFS_PROPFIND)
        assert set(listing) == {
            f"/dav/{bkt}/music/",
            f"/dav/{bkt}/music/song.ogg",
            f"/dav/{bkt}/music/cover.png",
        }
        song = listing[f"/dav/{bkt}/music/song.ogg"]
        for name in ("creationdate", "displayname", "getcontentlength", "getcontenttype"):
            assert song.statuses[clark(DAV, name)] == 200, name
        assert song.text("getcontenttype") == "audio/ogg"
        assert int(song.text("getcontentlength")) == 3000

        head = gvfs.head(url(bkt, "music/song.ogg"))
        assert head.status_code == 200, error_text(head)
        assert head.headers["Content-Length"] == "3000"
        assert head.headers["ETag"].strip('"') == song.text("getetag").strip('"')
        get = gvfs.get(url(bkt, "music/song.ogg"))
        assert get.content == b"ogg" * 1000
        assert get.headers["ETag"] == head.headers["ETag"]

    # libsoup waits for "100 Continue" before it sends a PUT body.
    body = os.urandom(50_000)
    status, interim = expect_continue_put(gw, url(bkt, "music/new.flac"), body, GVFS)
    assert interim, "the gateway did not answer Expect: 100-continue"
    assert status == 201
    assert s3.get_object(Bucket=bkt, Key="music/new.flac")["Body"].read() == body


def expect_continue_put(gw: GatewayProcess, path: str, body: bytes, agent: str) -> tuple[int, bool]:
    """PUT over a raw socket the way libsoup does with Expect: 100-continue: send the
    headers, wait for the interim answer, then the body. Returns (status, got 100)."""
    parts = urlsplit(gw.http_url)
    credentials = b64encode(f"admin:{gw.env['GATEWAY_ADMIN_PASSWORD']}".encode()).decode()
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: {agent}\r\n"
        f"Authorization: Basic {credentials}\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 30) as sock:
        sock.sendall(head)
        sock.settimeout(10)
        interim = sock.recv(4096)
        got_continue = interim.startswith(b"HTTP/1.1 100")
        sock.sendall(body)
        answer = b"" if got_continue else interim
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(4096)
            if not more:
                break
            answer += more
    status_line = answer.split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1]), got_continue


# --- davfs2 (neon) -----------------------------------------------------------------------------


def test_davfs2_locked_upload_with_etags(gw: GatewayProcess, s3: Any, bkt: str) -> None:
    target = url(bkt, "notes.txt")
    tagged = f"{gw.http_url}{target}"
    headers = {"Connection": "TE, Keep-Alive", "TE": "trailers"}
    with client_of(gw, DAVFS2, **headers) as davfs:
        # davfs2 locks a new file before it uploads it: the LOCK creates it empty.
        locked = davfs.request(
            "LOCK",
            target,
            content=NEON_LOCK,
            headers={"Content-Type": "application/xml", "Depth": "0", "Timeout": "Second-1800"},
        )
        assert locked.status_code == 201, error_text(locked)
        token = lock_token(locked)
        try:
            assert davfs.get(target).content == b""
            etag = davfs.head(target).headers["ETag"]
            with_lock = {"If": if_token(token, tagged)}

            first = davfs.put(
                target, content=b"first draft", headers={**with_lock, "If-Match": etag}
            )
            assert first.status_code == 204, error_text(first)
            new_etag = first.headers["ETag"]
            assert new_etag != etag

            stale = davfs.put(
                target, content=b"lost update", headers={**with_lock, "If-Match": etag}
            )
            assert stale.status_code == 412, error_text(stale)
            exists = davfs.put(
                target, content=b"clobber", headers={**with_lock, "If-None-Match": "*"}
            )
            assert exists.status_code == 412, error_text(exists)
            no_token = davfs.put(target, content=b"no token")
            assert no_token.status_code == 423, error_text(no_token)
            assert davfs.get(target).content == b"first draft"

            second = davfs.put(
                target, content=b"second draft", headers={**with_lock, "If-Match": new_etag}
            )
            assert second.status_code == 204, error_text(second)
            # If-None-Match: * on a new file creates it.
            fresh = davfs.put(
                url(bkt, "fresh.txt"), content=b"fresh", headers={"If-None-Match": "*"}
            )
            assert fresh.status_code == 201, error_text(fresh)
        finally:
            unlocked = unlock(davfs, target, token)
        assert unlocked.status_code == 204, error_text(unlocked)
        assert davfs.put(target, content=b"after unlock").status_code == 204
    assert s3.get_object(Bucket=bkt, Key="notes.txt")["Body"].read() == b"after unlock"
    assert s3_keys(s3, bkt) == {"notes.txt", "fresh.txt"}


# --- rclone webdav ------------------------------------------------------------------------------


def test_rclone_listing_and_mtime(gw: GatewayProcess, s3: Any, bkt: str) -> None:
    mtime = 1_577_836_800  # 2020-01-01T00:00:00Z
    with client_of(gw, RCLONE) as rclone:
        for name, body in (("a.txt", b"alpha"), ("dir/b.bin", b"bravo!")):
            if "/" in name:
                made = rclone.request("MKCOL", url(bkt, name.split("/")[0]))
                assert made.status_code == 201, error_text(made)
            response = rclone.put(
                url(bkt, name),
                content=body,
                headers={"X-OC-Mtime": str(mtime), "Content-Type": "application/octet-stream"},
            )
            assert response.status_code == 201, error_text(response)
        # rclone's listing for vendor "other": PROPFIND Depth 1 with an empty body (allprop).
        listing = rclone.request("PROPFIND", url(bkt), headers={"Depth": "1"})
        assert listing.status_code == 207, error_text(listing)
        found = parse_multistatus(listing.content)
        assert set(found) == {f"/dav/{bkt}/", f"/dav/{bkt}/a.txt", f"/dav/{bkt}/dir/"}
        for href, entry in found.items():
            assert entry.statuses[clark(DAV, "resourcetype")] == 200, href
            assert entry.statuses[clark(DAV, "getlastmodified")] == 200, href
            parsedate_to_datetime(entry.text("getlastmodified"))
        file = found[f"/dav/{bkt}/a.txt"]
        for name in ("getcontentlength", "getlastmodified", "getetag"):
            assert file.statuses[clark(DAV, name)] == 200, name
        assert int(file.text("getcontentlength")) == 5
        assert not file.is_collection
        assert found[f"/dav/{bkt}/dir/"].is_collection
        stamp = datetime.fromtimestamp(mtime, UTC)
        assert parsedate_to_datetime(file.text("getlastmodified")) == stamp
        (nested,) = propfind(rclone, url(bkt, "dir/b.bin"), "0").values()
        assert parsedate_to_datetime(nested.text("getlastmodified")) == stamp
        assert int(nested.text("getcontentlength")) == 6
    assert (
        s3.head_object(Bucket=bkt, Key="a.txt")["Metadata"].get("mtime", "").startswith(str(mtime))
    )
    assert (
        abs(s3.head_object(Bucket=bkt, Key="a.txt")["LastModified"].timestamp() - time.time()) < 300
    )
