"""Real WebDAV clients against the gateway, and WebDAV and S3 over the same namespace.

On every database/backend combination, over real sockets:

- litmus (the WebDAV compliance suite): every suite passes, without a warning.
- rclone's ``webdav`` backend, vendor ``owncloud`` (it sends ``X-OC-Mtime``; vendor
  ``other`` does not, and runs on SQLite/local only): a tree of 200 files up,
  ``check``, listing with sizes and modification times, server-side ``moveto`` and
  directory ``move``, ``check --download``, ``purge``; the S3 side is checked after
  every step.
- cadaver: a scripted session (folders, put/get, copy, move, dead properties, a lock
  held across sessions, delete), checked through S3 and raw WebDAV.
- Cross-protocol: bytes, ETag and Content-Type written on one side are read back
  identical on the other; folder moves and S3 key prefixes are the same tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.support.clients import (
    LARGE_TIMEOUT,
    MIB,
    RCLONE,
    RCLONE_REMOTE,
    SMALL_TIMEOUT,
    Result,
    require_binary,
    run,
)
from tests.support.dav import (
    CADAVER,
    CADAVER_NS,
    DAV,
    LITMUS,
    LITMUS_SUITES,
    RCLONE_DAV_REMOTE,
    DavHttp,
    dav_href,
    dav_url,
    litmus_lines,
    litmus_results,
    litmus_summaries,
    rclone_dav_env,
    run_cadaver,
    run_litmus,
)
from tests.support.gateway_server import GatewayProcess, empty_bucket

LITMUS_TIMEOUT = 180


def bucket_exists(client: Any, name: str) -> bool:
    try:
        client.head_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


def md5_etag(data: bytes) -> str:
    """The quoted ETag S3 gives a single-part object: its MD5."""
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def s3_objects(client: Any, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every key under ``prefix`` with its listing entry (Size, ETag, ...)."""
    found: dict[str, dict[str, Any]] = {}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        found.update({item["Key"]: item for item in page.get("Contents", [])})
    return found


@pytest.fixture
def dav(gateway: GatewayProcess) -> Iterator[DavHttp]:
    """Raw WebDAV requests to the parametrised gateway, as the admin."""
    with DavHttp(gateway) as client:
        yield client


@contextmanager
def made_dav_bucket(dav: DavHttp, s3_client: Any) -> Iterator[str]:
    """A bucket made with ``MKCOL /dav/<name>``; emptied and deleted afterwards (if the
    test did not delete it)."""
    name = f"dav-{uuid.uuid4().hex[:16]}"
    dav.mkcol(name)
    assert bucket_exists(s3_client, name), "MKCOL /dav/<bucket> made no S3 bucket"
    try:
        yield name
    finally:
        if bucket_exists(s3_client, name):
            empty_bucket(s3_client, name)


@pytest.fixture
def dav_bucket(dav: DavHttp, s3_client: Any) -> Iterator[str]:
    """A bucket made over WebDAV on the parametrised gateway."""
    with made_dav_bucket(dav, s3_client) as name:
        yield name


# --- litmus ----------------------------------------------------------------------------------


@pytest.mark.clients
def test_litmus(gateway: GatewayProcess, dav_bucket: str, tmp_path: Path) -> None:
    """Every litmus suite passes 100 % with authentication on, and warns about nothing."""
    require_binary(LITMUS)
    # Authentication really is on: without credentials the bucket is refused.
    anonymous = httpx.request(
        "PROPFIND", dav_url(gateway, dav_bucket) + "/", headers={"Depth": "0"}, timeout=30
    )
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic "), anonymous.headers

    workdir = tmp_path / "litmus"
    started = time.monotonic()
    result = run_litmus(gateway, dav_bucket, workdir, LITMUS_TIMEOUT)
    elapsed = time.monotonic() - started
    output = result.text + result.stderr
    summaries = litmus_summaries(output)

    problems: list[str] = []
    if result.returncode != 0:
        problems.append(f"litmus exited with {result.returncode}")
    missing = [suite for suite in LITMUS_SUITES if suite not in summaries]
    if missing:
        problems.append(f"no summary for suites {missing}")
    for suite in summaries.values():
        if suite.failed or suite.passed != suite.run or suite.percent != 100.0:
            problems.append(
                f"{suite.name}: {suite.passed}/{suite.run} passed, {suite.failed} failed "
                f"({suite.percent}%)"
            )
    results = litmus_results(output)
    if len(results) != sum(suite.run for suite in summaries.values()):
        problems.append(f"{len(results)} test results for {summaries}")
    flagged = [
        f"{suite}: {test} {status}" for suite, test, status in results if status != "pass"
    ] + [line for line in litmus_lines(output) if "warning" in line.lower()]
    if flagged:
        problems.append(f"litmus flagged: {flagged}")
    if problems:
        debug_log = workdir / "debug.log"
        debug_tail = (
            "\n".join(debug_log.read_text(errors="replace").splitlines()[-200:])
            if debug_log.exists()
            else "(no debug.log)"
        )
        pytest.fail(
            "litmus did not pass cleanly on "
            f"{gateway.extra.get('combination', '?')} ({elapsed:.1f} s):\n"
            + "\n".join(problems)
            + "\n--- litmus output ---\n"
            + "\n".join(litmus_lines(output))
            + f"\n--- debug.log (last 200 lines) ---\n{debug_tail}"
            + f"\n--- gateway log (tail) ---\n{gateway.log()[-6000:]}",
            pytrace=False,
        )


# --- rclone webdav -----------------------------------------------------------------------------

TREE_FILES = 200
# Nested folders with spaces, non-ASCII and URL-special characters.
TREE_DIRS = [
    "",
    "docs",
    "docs/sub dir",
    "docs/sub dir/déjà vu",
    "日本語",
    "日本語/深い/更に深い",
    "a+b & c #1",
    "media 100%",
]
TREE_SIZES = [0, 1, 17, 1000, 4096, 65_537, 300_001]
BIG_SIZES = {0: 2 * MIB + 12_345, 1: 3 * MIB}
MTIME_BASE = 1_600_000_000  # 2020-09-13, whole seconds: X-OC-Mtime carries seconds


def tree_name(index: int) -> str:
    kinds = [
        f"file {index:03d} ñandú.bin",
        f"f{index:03d}.txt",
        f"Ünïcode 😀 {index:03d}.dat",
        f"odd #{index:03d} 50% off+more;x=1.txt",
    ]
    return kinds[index % len(kinds)]


def make_tree(root: Path) -> dict[str, tuple[int, int]]:
    """200 files under ``root``: relative path -> (size, modification time)."""
    files: dict[str, tuple[int, int]] = {}
    for index in range(TREE_FILES):
        folder = TREE_DIRS[index % len(TREE_DIRS)]
        relative = f"{folder}/{tree_name(index)}".lstrip("/")
        size = BIG_SIZES.get(index, TREE_SIZES[index % len(TREE_SIZES)])
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        mtime = MTIME_BASE + index * 3_601
        os.utime(path, (mtime, mtime))
        files[relative] = (size, mtime)
    return files


def tree_dirs(files: dict[str, tuple[int, int]]) -> set[str]:
    """Every folder (relative, no trailing slash) some file of the tree lies in."""
    found: set[str] = set()
    for relative in files:
        parts = relative.split("/")[:-1]
        found.update("/".join(parts[: depth + 1]) for depth in range(len(parts)))
    return found


def rfc3339_seconds(text: str) -> float:
    """Epoch seconds of rclone's RFC 3339 time (nanoseconds cut to microseconds)."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(char for char in rest if char.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class RcloneDav:
    """``/usr/bin/rclone`` with a ``webdav`` remote on one bucket (and the ``s3`` one)."""

    def __init__(self, gateway: GatewayProcess, workdir: Path, bucket: str, vendor: str):
        self.gateway = gateway
        self.env = rclone_dav_env(gateway, workdir, bucket, vendor)

    def __call__(self, *args: str | Path, timeout: float = SMALL_TIMEOUT) -> Result:
        # One attempt per command and per request: a retry would hide a failing gateway.
        command = [RCLONE, "--retries", "1", "--low-level-retries", "1", *map(str, args)]
        return run(command, env=self.env, timeout=timeout, gateway=self.gateway)

    def lsjson(self, remote: str, *options: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = json.loads(self("lsjson", *options, remote).text)
        return entries

    def files(self, remote: str) -> dict[str, dict[str, Any]]:
        """``lsjson --recursive --files-only`` by path."""
        listed = self.lsjson(remote, "--recursive", "--files-only")
        return {entry["Path"]: entry for entry in listed}


def dav_remote(path: str) -> str:
    return f"{RCLONE_DAV_REMOTE}:{path}"


@pytest.mark.clients
def test_rclone_webdav_tree_owncloud(
    gateway: GatewayProcess, s3_client: Any, dav_bucket: str, tmp_path: Path
) -> None:
    """Vendor ``owncloud``: rclone sends X-OC-Mtime, so modification times must survive."""
    rclone_tree_round_trip("owncloud", gateway, s3_client, dav_bucket, tmp_path)


@pytest.mark.clients
def test_rclone_webdav_tree_other(gateway_sqlite_local: GatewayProcess, tmp_path: Path) -> None:
    """Vendor ``other`` (no X-OC-Mtime: times are the upload's), on one combination only:
    it differs from ``owncloud`` only in the time and checksum headers rclone sends, and
    ``owncloud`` runs on every combination."""
    s3_client = gateway_sqlite_local.client()
    with DavHttp(gateway_sqlite_local) as dav, made_dav_bucket(dav, s3_client) as bucket:
        rclone_tree_round_trip("other", gateway_sqlite_local, s3_client, bucket, tmp_path)


def rclone_tree_round_trip(
    vendor: str, gateway: GatewayProcess, s3_client: Any, dav_bucket: str, tmp_path: Path
) -> None:
    """rclone copies, checks, lists, moves and purges a 200-file tree over WebDAV."""
    require_binary(RCLONE)
    tree = tmp_path / "tree"
    files = make_tree(tree)
    sizes = {relative: size for relative, (size, _mtime) in files.items()}
    rclone = RcloneDav(gateway, tmp_path / "rclone", dav_bucket, vendor)
    keeps_mtime = vendor == "owncloud"

    # Up, then check: sizes only (the gateway offers rclone no hash over WebDAV).
    upload_started = time.time()
    rclone("copy", tree, dav_remote("up"), timeout=LARGE_TIMEOUT)
    upload_ended = time.time()
    checked = rclone("check", tree, dav_remote("up"))
    assert "0 differences found" in checked.stderr, checked.stderr
    assert f"{TREE_FILES} matching files" in checked.stderr, checked.stderr

    listed = rclone.files(dav_remote("up"))
    assert {path: entry["Size"] for path, entry in listed.items()} == sizes
    for path, entry in listed.items():
        modified = rfc3339_seconds(entry["ModTime"])
        if keeps_mtime:
            assert modified == files[path][1], (path, entry, "X-OC-Mtime did not survive")
        else:  # no X-OC-Mtime sent: the time of the upload
            assert int(upload_started) <= modified <= upload_ended + 1, (path, entry)
    dirs = {entry["Path"] for entry in rclone.lsjson(dav_remote("up"), "-R", "--dirs-only")}
    assert dirs == tree_dirs(files)

    # The S3 side: the same keys and sizes; markers only for the tree's folders.
    stored = s3_objects(s3_client, dav_bucket)
    assert {key: item["Size"] for key, item in stored.items() if not key.endswith("/")} == {
        f"up/{relative}": size for relative, size in sizes.items()
    }
    markers = {key for key in stored if key.endswith("/")}
    assert markers <= {"up/"} | {f"up/{folder}/" for folder in tree_dirs(files)}, markers
    if keeps_mtime:
        # rclone's S3 backend reads the same modification time (user metadata "mtime").
        sample = next(relative for relative in files if "日本語/" in relative)
        via_s3 = json.loads(
            rclone("lsjson", "--files-only", f"{RCLONE_REMOTE}:{dav_bucket}/up/{sample}").text
        )
        assert len(via_s3) == 1, via_s3
        assert rfc3339_seconds(via_s3[0]["ModTime"]) == files[sample][1], via_s3
        head = s3_client.head_object(Bucket=dav_bucket, Key=f"up/{sample}")
        assert float(head["Metadata"]["mtime"]) == files[sample][1], head["Metadata"]

    # A server-side moveto of one file, a directory move, and the file back in place.
    single = tree_name(2)  # in "docs/sub dir"
    moved_file = f"{TREE_DIRS[2]}/{single}"
    etag_before = stored[f"up/{moved_file}"]["ETag"]
    moving = rclone("moveto", "-v", dav_remote(f"up/{moved_file}"), dav_remote("single/x y.dat"))
    assert "Moved (server-side)" in moving.stderr, moving.stderr
    after_moveto = s3_objects(s3_client, dav_bucket)
    assert f"up/{moved_file}" not in after_moveto
    assert after_moveto["single/x y.dat"]["ETag"] == etag_before

    moving = rclone("move", "-v", dav_remote("up"), dav_remote("moved"))
    assert "Server side directory move succeeded" in moving.stderr, moving.stderr
    after_move = s3_objects(s3_client, dav_bucket)
    assert not [key for key in after_move if key.startswith("up/")], sorted(after_move)[:20]
    rclone("moveto", dav_remote("single/x y.dat"), dav_remote(f"moved/{moved_file}"))
    rclone("rmdir", dav_remote("single"))

    checked = rclone("check", "--download", tree, dav_remote("moved"), timeout=LARGE_TIMEOUT)
    assert "0 differences found" in checked.stderr, checked.stderr
    assert f"{TREE_FILES} matching files" in checked.stderr, checked.stderr
    listed = rclone.files(dav_remote("moved"))
    assert {path: entry["Size"] for path, entry in listed.items()} == sizes
    if keeps_mtime:
        assert {path: rfc3339_seconds(entry["ModTime"]) for path, entry in listed.items()} == {
            path: float(mtime) for path, (_size, mtime) in files.items()
        }
    stored = s3_objects(s3_client, dav_bucket)
    assert {key: item["Size"] for key, item in stored.items() if not key.endswith("/")} == {
        f"moved/{relative}": size for relative, size in sizes.items()
    }

    # Purge: nothing left, on either side.
    rclone("purge", dav_remote("moved"))
    assert s3_objects(s3_client, dav_bucket) == {}
    assert rclone.lsjson(dav_remote(""), "-R") == []


# --- cadaver ---------------------------------------------------------------------------------


@pytest.mark.clients
def test_cadaver_session(
    gateway: GatewayProcess,
    s3_client: Any,
    dav: DavHttp,
    dav_bucket: str,
    tmp_path: Path,
) -> None:
    """A scripted cadaver session, checked through S3 and raw WebDAV between sessions."""
    require_binary(CADAVER)
    workdir = tmp_path / "cadaver"
    workdir.mkdir()
    content = b"hello from cadaver\n" + os.urandom(5000)
    (workdir / "local.txt").write_bytes(content)
    url = dav_url(gateway, dav_bucket) + "/"
    base = dav_href(dav_bucket)

    first = run_cadaver(
        gateway,
        url,
        [
            "mkcol docs",
            "cd docs",
            "put local.txt",
            "ls",
            "get local.txt back.txt",
            "copy local.txt copy.txt",
            "move copy.txt moved.txt",
            "propset moved.txt author alice",
            "propget moved.txt author",
            "lock moved.txt",
            "discover moved.txt",
            "quit",
        ],
        workdir,
    ).text
    for expected in (
        "Creating `docs': succeeded.",
        f"Uploading local.txt to `{base}/docs/local.txt':",
        f"Listing collection `{base}/docs/': succeeded.",
        f"Downloading `{base}/docs/local.txt' to back.txt:",
        f"Copying `{base}/docs/local.txt' to `{base}/docs/copy.txt':  succeeded.",
        f"Moving `{base}/docs/copy.txt' to `{base}/docs/moved.txt':  succeeded.",
        "Setting property on `moved.txt': succeeded.",
        "Value of author is: alice",
        "Locking `moved.txt': succeeded.",
        "Scope: exclusive  Type: write",
    ):
        assert expected in first, f"{expected!r} not in:\n{first}"
    assert "failed" not in first, first
    listing = [line.split() for line in first.splitlines() if line.startswith("        ")]
    assert ["local.txt", str(len(content))] in [row[:2] for row in listing], first
    token = first.split("Lock token <", 1)[1].split(">", 1)[0]
    assert token.startswith("opaquelocktoken:"), first

    # The state after the first session, through S3 and raw WebDAV.
    assert (workdir / "back.txt").read_bytes() == content
    stored = s3_objects(s3_client, dav_bucket)
    assert set(stored) == {"docs/", "docs/local.txt", "docs/moved.txt"}
    for key in ("docs/local.txt", "docs/moved.txt"):
        got = s3_client.get_object(Bucket=dav_bucket, Key=key)
        assert got["Body"].read() == content, key
        assert got["ETag"] == md5_etag(content), key
    author = f"{{{CADAVER_NS}}}author"
    found = dav.propfind(dav_bucket, "docs/moved.txt", depth="0", names=[author])
    assert found[f"{base}/docs/moved.txt"].props.get(author) == "alice", found
    discovered = dav.propfind(dav_bucket, "docs/moved.txt", depth="0")
    lock_info = discovered[f"{base}/docs/moved.txt"].props.get(f"{DAV}lockdiscovery", "")
    assert token in lock_info, lock_info
    # The lock outlives cadaver's session: writing without its token is refused.
    dav.expect(423, "PUT", dav_bucket, "docs/moved.txt", content=b"intruder")
    dav.expect(423, "DELETE", dav_bucket, "docs/moved.txt")
    assert s3_client.get_object(Bucket=dav_bucket, Key="docs/moved.txt")["Body"].read() == content

    # A second session: unlock with the token (cadaver asks for it), remove everything.
    second = run_cadaver(
        gateway,
        url,
        [
            "unlock docs/moved.txt",
            token,
            "discover docs/moved.txt",
            "propdel docs/moved.txt author",
            "propget docs/moved.txt author",
            "delete docs/local.txt",
            "ls docs",
            "rmcol docs",
            "ls",
            "quit",
        ],
        workdir,
    ).text
    for expected in (
        "Unlocking `docs/moved.txt':",
        "Discovering locks on `docs/moved.txt': no locks found.",
        "Deleting property on `docs/moved.txt': succeeded.",
        "Could not fetch property: 404 Not Found",
        "Deleting `docs/local.txt': succeeded.",
        f"Listing collection `{base}/docs/': succeeded.",
        "Deleting collection `docs': succeeded.",
        f"Listing collection `{base}/': collection is empty.",
    ):
        assert expected in second, f"{expected!r} not in:\n{second}"
    assert "failed" not in second, second
    listing = [line.split() for line in second.splitlines() if line.startswith("        ")]
    assert [row[:2] for row in listing] == [["moved.txt", str(len(content))]], second
    assert s3_objects(s3_client, dav_bucket) == {}
    # Deleted with its file: the property does not come back with a new file there.
    s3_client.put_object(Bucket=dav_bucket, Key="docs/moved.txt", Body=b"new")
    found = dav.propfind(dav_bucket, "docs/moved.txt", depth="0", names=[author])
    assert author in found[f"{base}/docs/moved.txt"].missing, found
    s3_client.delete_object(Bucket=dav_bucket, Key="docs/moved.txt")

    # A third one removes the bucket itself from the root.
    third = run_cadaver(
        gateway, url, ["cd /dav/", "ls", f"rmcol {dav_bucket}", "ls", "quit"], workdir
    ).text
    assert f"Deleting collection `{dav_bucket}': succeeded." in third, third
    before, _, after = third.partition(f"rmcol {dav_bucket}")
    assert f"Coll:   {dav_bucket} " in before, third
    assert dav_bucket not in after.replace(f"`{dav_bucket}'", ""), third
    assert not bucket_exists(s3_client, dav_bucket), "rmcol of the bucket left it in S3"


# --- cross-protocol ----------------------------------------------------------------------------


def blocks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """``data`` in pieces: httpx sends such a body chunked, without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("body", ["content-length", "chunked"])
def test_dav_put_reads_identical_over_s3(
    body: str, dav: DavHttp, s3_client: Any, bucket: str
) -> None:
    """A random file PUT over WebDAV is the same bytes, ETag and type over S3."""
    data = os.urandom(6 * MIB + 12_345)
    key = "über folder/data file.bin"
    dav.mkcol(bucket, "über folder")
    put = dav.put(
        bucket,
        key,
        data if body == "content-length" else blocks(data),
        {"Content-Type": "application/x-gateway-test"},
    )
    sent = put.request.headers
    assert ("content-length" in sent) == (body == "content-length"), sent
    assert put.status_code == 201
    assert put.headers.get("ETag") == md5_etag(data), put.headers

    got = s3_client.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ETag"] == md5_etag(data)
    assert got["ContentType"] == "application/x-gateway-test"
    assert got["ContentLength"] == len(data)

    # Replaced over WebDAV (204), the S3 side sees the new version at once.
    other = os.urandom(MIB + 1)
    assert dav.put(bucket, key, other, {"Content-Type": "text/x-other"}).status_code == 204
    got = s3_client.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == other
    assert got["ETag"] == md5_etag(other)
    assert got["ContentType"] == "text/x-other"

    # Without a Content-Type the type comes from the name, the same on both sides.
    dav.put(bucket, "plain.json", b'{"a": 1}')
    head = s3_client.head_object(Bucket=bucket, Key="plain.json")
    found = dav.propfind(bucket, "plain.json", depth="0")[dav_href(bucket, "plain.json")]
    assert head["ContentType"] == found.props[f"{DAV}getcontenttype"] == "application/json"


def test_folder_properties_same_listed_or_alone(dav: DavHttp, bucket: str) -> None:
    """A folder made by MKCOL (a marker object) has the same times whichever way it is asked."""
    dav.mkcol(bucket, "marked")
    href = dav_href(bucket, "marked") + "/"
    alone = dav.propfind(bucket, "marked", depth="0")[href]
    listed = dav.propfind(bucket, depth="1")[href]
    assert alone.collection and listed.collection
    for name in (f"{DAV}getlastmodified", f"{DAV}creationdate"):
        assert name in alone.props, alone
        assert listed.props.get(name) == alone.props[name], (name, listed, alone)


@pytest.mark.parametrize("upload", ["put_object", "multipart"])
def test_s3_object_reads_identical_over_dav(
    upload: str, dav: DavHttp, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """An object written over S3 is the same bytes and ETag, type and length over WebDAV
    (GET headers and PROPFIND), whole and in ranges."""
    key = "from s3/ü data.bin"
    data = os.urandom(12 * MIB + 7)
    if upload == "put_object":
        s3_client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/x-test")
        etag = md5_etag(data)
    else:
        source = tmp_path / "upload.bin"
        source.write_bytes(data)
        config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
        s3_client.upload_file(
            str(source), bucket, key, ExtraArgs={"ContentType": "image/x-test"}, Config=config
        )
        etag = s3_client.head_object(Bucket=bucket, Key=key)["ETag"]
        assert etag.endswith('-3"'), etag
    assert s3_client.head_object(Bucket=bucket, Key=key)["ETag"] == etag

    got = dav.expect(200, "GET", bucket, key)
    assert got.content == data
    assert got.headers["ETag"] == etag
    assert got.headers["Content-Type"] == "image/x-test"
    assert got.headers["Content-Length"] == str(len(data))

    ranged = dav.expect(206, "GET", bucket, key, headers={"Range": "bytes=5242000-5243999"})
    assert ranged.content == data[5_242_000:5_244_000]
    assert ranged.headers["Content-Range"] == f"bytes 5242000-5243999/{len(data)}"

    names = [f"{DAV}getetag", f"{DAV}getcontenttype", f"{DAV}getcontentlength"]
    listed = dav.propfind(bucket, "from s3", depth="1", names=names)
    entry = listed[dav_href(bucket, key)]
    assert not entry.missing, entry
    # getetag carries the entity tag exactly as the ETag header does, quotes included.
    assert entry.props[f"{DAV}getetag"] == etag
    assert entry.props[f"{DAV}getcontenttype"] == "image/x-test"
    assert entry.props[f"{DAV}getcontentlength"] == str(len(data))


def test_dav_folder_move_and_copy_visible_in_s3(dav: DavHttp, s3_client: Any, bucket: str) -> None:
    """A WebDAV MOVE (and COPY) of a folder is the S3 listing of the very next request."""
    dav.mkcol(bucket, "src")
    dav.mkcol(bucket, "src/sub")
    dav.mkcol(bucket, "src/empty")
    dav.put(bucket, "src/a.txt", b"alpha")
    dav.put(bucket, "src/sub/b ü.bin", os.urandom(70_000))
    before = s3_objects(s3_client, bucket)
    assert set(before) == {"src/", "src/sub/", "src/empty/", "src/a.txt", "src/sub/b ü.bin"}

    dav.transfer("MOVE", bucket, "src", "dst")
    after = s3_objects(s3_client, bucket)
    assert set(after) == {key.replace("src/", "dst/", 1) for key in before}
    for key, item in before.items():
        moved = after[key.replace("src/", "dst/", 1)]
        assert (moved["ETag"], moved["Size"]) == (item["ETag"], item["Size"]), key
    assert s3_client.get_object(Bucket=bucket, Key="dst/a.txt")["Body"].read() == b"alpha"
    dav.expect(404, "PROPFIND", bucket, "src", headers={"Depth": "0"})

    dav.transfer("COPY", bucket, "dst", "copy of dst", headers={"Depth": "infinity"})
    copied = s3_objects(s3_client, bucket)
    assert set(copied) == set(after) | {key.replace("dst/", "copy of dst/", 1) for key in after}
    assert (
        s3_client.get_object(Bucket=bucket, Key="copy of dst/sub/b ü.bin")["Body"].read()
        == s3_client.get_object(Bucket=bucket, Key="dst/sub/b ü.bin")["Body"].read()
    )

    # Deleting a folder over WebDAV empties the prefix over S3.
    dav.expect(204, "DELETE", bucket, "dst")
    assert set(s3_objects(s3_client, bucket)) == {
        key for key in copied if key.startswith("copy of dst/")
    }


def test_s3_keys_are_dav_folders(dav: DavHttp, s3_client: Any, bucket: str) -> None:
    """``a/b/c.txt`` put over S3 shows as folders ``a/`` and ``a/b/`` over PROPFIND."""
    s3_client.put_object(Bucket=bucket, Key="a/b/c.txt", Body=b"abc", ContentType="text/plain")
    base = dav_href(bucket)

    root = dav.propfind(bucket, depth="1")
    assert set(root) == {f"{base}/", f"{base}/a/"}, sorted(root)
    assert root[f"{base}/a/"].collection

    folder_a = dav.propfind(bucket, "a", depth="1")
    assert set(folder_a) == {f"{base}/a/", f"{base}/a/b/"}, sorted(folder_a)
    assert folder_a[f"{base}/a/"].collection and folder_a[f"{base}/a/b/"].collection

    folder_b = dav.propfind(bucket, "a/b", depth="1")
    assert set(folder_b) == {f"{base}/a/b/", f"{base}/a/b/c.txt"}, sorted(folder_b)
    leaf = folder_b[f"{base}/a/b/c.txt"]
    assert not leaf.collection
    assert leaf.props[f"{DAV}getcontentlength"] == "3"
    assert leaf.props[f"{DAV}getcontenttype"] == "text/plain"

    assert dav.expect(200, "GET", bucket, "a/b/c.txt").content == b"abc"
    # Reading made no marker objects.
    assert set(s3_objects(s3_client, bucket)) == {"a/b/c.txt"}

    # A file put over WebDAV into the implied folder lands beside it.
    dav.put(bucket, "a/b/d.txt", b"dee")
    assert set(s3_objects(s3_client, bucket)) == {"a/b/c.txt", "a/b/d.txt"}
    dav.expect(204, "DELETE", bucket, "a")
    assert s3_objects(s3_client, bucket) == {}
