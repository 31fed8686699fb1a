"""Native-API uploads end to end over HTTP: announce, pre-signed parts, resume, finalize,
ingest, status and downloads, against real gateways (every database/backend pair).

The large resumable upload runs on SQLite and the local backend only, to keep time down.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import httpx
import pytest

from tests.integration.test_s3_helpers import unique
from tests.support.api import add_api_user, api_client
from tests.support.gateway_server import REGION, GatewayProcess, temporary_bucket

MIB = 1024 * 1024


@pytest.fixture
def api(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with api_client(gateway) as client:
        yield client


@pytest.fixture
def bucket(gateway: GatewayProcess) -> Iterator[str]:
    with temporary_bucket(gateway, "files") as name:
        yield name


def announce(api: httpx.Client, bucket: str, name: str, size: int, **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/files", json={"bucket": bucket, "name": name, "size": size, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def put_part(url: str, data: bytes) -> httpx.Response:
    return httpx.put(url, content=data, timeout=120)


def wait_status(
    api: httpx.Client, file_id: str, wanted: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        meta = api.get(f"/v1/files/{file_id}/metadata").json()
        if meta["status"] == wanted or time.monotonic() > deadline:
            assert meta["status"] == wanted, meta
            return dict(meta)
        time.sleep(0.2)


def upload(api: httpx.Client, bucket: str, name: str, data: bytes) -> str:
    """Announce, send every part, finalize, and wait until the file is ready."""
    sha = hashlib.sha256(data).hexdigest()
    file = announce(api, bucket, name, len(data), content_type="text/plain", sha256=sha)
    for part in file["parts"]:
        body = data[part["offset"] : part["offset"] + part["size"]]
        assert put_part(part["url"], body).status_code == 200
    response = api.post(f"/v1/files/{file['id']}/finalize", json={"size": len(data), "sha256": sha})
    assert response.status_code == 202, response.text
    wait_status(api, file["id"], "ready")
    return str(file["id"])


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    if code is not None:
        assert response.json()["code"] == code, response.text


def test_upload_in_parts_is_ingested_and_readable_everywhere(
    gateway: GatewayProcess, api: httpx.Client, bucket: str
) -> None:
    data = random.Random(1).randbytes(17 * MIB + 5)
    sha = hashlib.sha256(data).hexdigest()
    file = announce(api, bucket, "docs/report.txt", len(data), content_type="text/plain")
    assert file["status"] == "uploading" and file["transport"] == "gateway"
    assert [p["size"] for p in file["parts"]] == [8 * MIB, 8 * MIB, MIB + 5]
    with ThreadPoolExecutor(3) as pool:
        answers = list(
            pool.map(
                lambda p: put_part(p["url"], data[p["offset"] : p["offset"] + p["size"]]),
                file["parts"],
            )
        )
    assert [a.status_code for a in answers] == [200, 200, 200]
    # Not in the S3 namespace until ingest commits.
    s3 = gateway.client()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    response = api.post(f"/v1/files/{file['id']}/finalize", json={"size": len(data), "sha256": sha})
    assert response.status_code == 202 and response.json()["status"] in ("processing", "ready")
    again = api.post(f"/v1/files/{file['id']}/finalize", json={"size": len(data), "sha256": sha})
    assert again.status_code == 202 and again.json()["id"] == file["id"]
    meta = wait_status(api, file["id"], "ready")
    assert meta["sha256"] == sha and meta["size"] == len(data) and meta["bucket"] == bucket
    assert meta["content_type"] == "text/plain" and meta["finalized_at"]

    got = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert got["Body"].read() == data

    whole = api.get(f"/v1/files/{file['id']}")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["ETag"] == got["ETag"]
    ranged = api.get(f"/v1/files/{file['id']}", headers={"Range": "bytes=100-8388707"})
    assert ranged.status_code == 206 and ranged.content == data[100:8388708]
    assert ranged.headers["Content-Range"] == f"bytes 100-8388707/{len(data)}"
    assert_problem(
        api.get(f"/v1/files/{file['id']}", headers={"Range": f"bytes={len(data)}-"}),
        416,
        "range_not_satisfiable",
    )

    chunks = api.get(f"/v1/files/{file['id']}/chunks").json()
    assert chunks["size"] == len(data) and len(chunks["chunks"]) > 1
    with ThreadPoolExecutor(4) as pool:
        pieces = list(pool.map(lambda c: httpx.get(c["url"]).content, chunks["chunks"]))
    assert b"".join(pieces) == data

    redirect = api.get(f"/v1/files/{file['id']}", params={"redirect": "1"})
    assert redirect.status_code == 302
    assert httpx.get(redirect.headers["Location"]).content == data

    listed = api.get("/v1/files", params={"ids": f"{file['id']},nosuchid"}).json()
    assert [f["id"] for f in listed["files"]] == [file["id"]]
    assert listed["missing"] == ["nosuchid"]


def test_wrong_checksum_or_missing_part_is_refused_and_nothing_becomes_visible(
    gateway: GatewayProcess, api: httpx.Client, bucket: str
) -> None:
    data = random.Random(2).randbytes(9 * MIB)
    file = announce(api, bucket, "bad.bin", len(data))
    first, second = file["parts"]
    assert put_part(first["url"], data[: first["size"]]).status_code == 200
    right = hashlib.sha256(data).hexdigest()
    finalize = f"/v1/files/{file['id']}/finalize"
    assert_problem(api.post(finalize, json={"size": len(data), "sha256": right}), 422, "incomplete")
    assert put_part(second["url"], data[first["size"] :]).status_code == 200
    wrong = hashlib.sha256(b"something else").hexdigest()
    assert_problem(
        api.post(finalize, json={"size": len(data), "sha256": wrong}), 422, "checksum_mismatch"
    )
    assert_problem(
        api.post(finalize, json={"size": len(data) + 1, "sha256": right}), 422, "checksum_mismatch"
    )
    assert api.get(f"/v1/files/{file['id']}/metadata").json()["status"] == "uploading"
    assert_problem(api.get(f"/v1/files/{file['id']}"), 409, "not_finalized")
    assert "Contents" not in gateway.client().list_objects_v2(Bucket=bucket)
    # The client fixes nothing but the checksum it sends: now it goes through.
    assert api.post(finalize, json={"size": len(data), "sha256": right}).status_code == 202
    wait_status(api, file["id"], "ready")


def test_part_urls_allow_only_their_part_until_they_expire(api: httpx.Client, bucket: str) -> None:
    data = random.Random(3).randbytes(9 * MIB)
    file = announce(api, bucket, "signed.bin", len(data))
    first, second = file["parts"]
    body = data[: first["size"]]

    def altered(url: str, **changes: str) -> str:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query.update(changes)
        return parts._replace(query=urlencode(query)).geturl()

    later = str(int(parse_qs(urlsplit(first["url"]).query)["expires"][0]) + 3600)
    assert_problem(put_part(altered(first["url"], expires=later), body), 403)
    assert_problem(put_part(altered(first["url"], signature="0" * 64), body), 403)
    assert_problem(put_part(altered(first["url"], expires="1"), body), 403)
    # The first part's signature on the second part's path.
    other = second["url"].split("?")[0] + "?" + first["url"].split("?")[1]
    assert_problem(put_part(other, data[first["size"] :]), 403)
    # Another file's id on a genuine signature.
    forged = first["url"].replace(file["id"], "0" * 32)
    assert_problem(put_part(forged, body), 403)
    # A body of the wrong size is refused and nothing is recorded.
    assert_problem(put_part(first["url"], body[:-1]), 400)
    assert_problem(put_part(first["url"], body + b"x"), 400)
    state = api.get(f"/v1/files/{file['id']}/parts").json()
    assert state["parts"] == [] and state["missing"] == [1, 2]


def test_a_batch_of_100_small_files(
    gateway: GatewayProcess, api: httpx.Client, bucket: str
) -> None:
    blobs = {f"batch/{i:03d}.txt": f"file {i}\n".encode() * (i + 1) for i in range(100)}
    items = [{"bucket": bucket, "name": n, "size": len(d)} for n, d in blobs.items()]
    items.append({"bucket": bucket, "name": "too/big", "size": 1 << 60})
    items.append({"bucket": bucket, "name": "", "size": 1})
    answer = api.post("/v1/files:batch", json={"files": items})
    assert answer.status_code == 200, answer.text
    files = answer.json()["files"]
    assert files[-2]["error"]["code"] == "rejected" and files[-1]["error"]["status"] == 400

    def send(entry: dict[str, Any]) -> str:
        data = blobs[entry["name"]]
        (part,) = entry["parts"]
        assert put_part(part["url"], data).status_code == 200
        sha = hashlib.sha256(data).hexdigest()
        done = api.post(
            f"/v1/files/{entry['id']}/finalize", json={"size": len(data), "sha256": sha}
        )
        assert done.status_code == 202, done.text
        return str(entry["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(send, files[:100]))
    deadline = time.monotonic() + 120
    while True:
        listed = api.get("/v1/files", params={"ids": ",".join(ids)}).json()
        if all(f["status"] == "ready" for f in listed["files"]) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert listed["missing"] == [] and {f["status"] for f in listed["files"]} == {"ready"}
    s3 = gateway.client()
    for name in ("batch/000.txt", "batch/099.txt"):
        assert s3.get_object(Bucket=bucket, Key=name)["Body"].read() == blobs[name]


def test_another_users_file_is_not_found(
    gateway: GatewayProcess, api: httpx.Client, bucket: str
) -> None:
    file_id = upload(api, bucket, "private.txt", b"mine alone")
    other = add_api_user(gateway, "stranger")
    with api_client(gateway, other.access_key, other.secret_key) as stranger:
        for path in ("", "/metadata", "/parts", "/chunks"):
            assert_problem(stranger.get(f"/v1/files/{file_id}{path}"), 404, "not_found")
        assert_problem(
            stranger.post(f"/v1/files/{file_id}/finalize", json={"size": 10, "sha256": "0" * 64}),
            404,
        )
        assert stranger.get("/v1/files", params={"ids": file_id}).json()["missing"] == [file_id]
        refused = stranger.post("/v1/files", json={"bucket": bucket, "name": "x", "size": 1})
        assert_problem(refused, 403)


def test_files_written_over_s3_have_their_version_id_as_file_id(
    gateway: GatewayProcess, api: httpx.Client, bucket: str
) -> None:
    s3 = gateway.client()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=bucket, Key="s3.txt", Body=b"over s3")["VersionId"]
    meta = api.get(f"/v1/files/{version}/metadata").json()
    assert meta["status"] == "ready" and meta["name"] == "s3.txt" and meta["size"] == 7
    assert api.get(f"/v1/files/{version}").content == b"over s3"
    s3.delete_object(Bucket=bucket, Key="s3.txt", VersionId=version)
    assert_problem(api.get(f"/v1/files/{version}/metadata"), 404, "not_found")


def _stream(seed: int, size: int, offset: int, length: int) -> bytes:
    """Bytes ``[offset, offset+length)`` of a deterministic pseudo-random file, made one
    piece at a time (each MiB of the file is generated from its own seed)."""
    out = bytearray()
    position = offset
    while position < offset + length:
        block = position // MIB
        data = random.Random(seed * 100_003 + block).randbytes(min(MIB, size - block * MIB))
        low = position - block * MIB
        take = min(len(data) - low, offset + length - position)
        out += data[low : low + take]
        position += take
    return bytes(out)


@pytest.mark.parametrize("gateway", ["sqlite-local"], indirect=True)
def test_300_mib_upload_interrupted_resumed_and_read_back(
    gateway: GatewayProcess, api: httpx.Client, bucket: str
) -> None:
    size, seed = 300 * MIB + 12345, 7
    whole = hashlib.sha256()
    for offset in range(0, size, 8 * MIB):
        whole.update(_stream(seed, size, offset, min(8 * MIB, size - offset)))
    sha = whole.hexdigest()
    file = announce(api, bucket, "big/video.bin", size, sha256=sha)
    parts = file["parts"]
    assert len(parts) == 38

    def send(part: dict[str, Any]) -> int:
        body = _stream(seed, size, part["offset"], part["size"])
        return put_part(part["url"], body).status_code

    # The client stops after half of the parts...
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(send, parts[::2])) == {200}
    state = api.get(f"/v1/files/{file['id']}/parts").json()
    assert state["missing"] == [p["number"] for p in parts[1::2]]
    # ...and resumes with only the missing ones, from fresh URLs.
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(send, state["urls"])) == {200}
    assert api.get(f"/v1/files/{file['id']}/parts").json()["missing"] == []
    done = api.post(f"/v1/files/{file['id']}/finalize", json={"size": size, "sha256": sha})
    assert done.status_code == 202, done.text
    wait_status(api, file["id"], "ready", timeout=300)

    def digest(response_pieces: Iterator[bytes]) -> str:
        hasher = hashlib.sha256()
        for piece in response_pieces:
            hasher.update(piece)
        return hasher.hexdigest()

    with api.stream("GET", f"/v1/files/{file['id']}") as response:
        assert response.status_code == 200
        assert digest(response.iter_bytes()) == sha
    chunks = api.get(f"/v1/files/{file['id']}/chunks").json()["chunks"]
    hasher = hashlib.sha256()
    with ThreadPoolExecutor(4) as pool:
        for content in pool.map(lambda c: httpx.get(c["url"], timeout=60).content, chunks):
            hasher.update(content)
    assert hasher.hexdigest() == sha


def test_direct_uploads_go_to_the_s3_backend_itself(
    moto_endpoint: str, start_gateway: Callable[..., GatewayProcess]
) -> None:
    backend = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    backend_bucket = unique("direct")
    backend.create_bucket(Bucket=backend_bucket)
    gateway = start_gateway(
        {
            "GATEWAY_BACKEND_URL": f"s3://{backend_bucket}/gw?endpoint_url={moto_endpoint}"
            f"&region={REGION}",
            "GATEWAY_API_DIRECT_UPLOADS": "backend",
        },
        name="direct",
    )
    bucket = unique("files")
    gateway.client().create_bucket(Bucket=bucket)
    data = random.Random(8).randbytes(9 * MIB + 3)
    sha = hashlib.sha256(data).hexdigest()
    with api_client(gateway) as api:
        file = announce(api, bucket, "direct.bin", len(data))
        assert file["transport"] == "backend"
        assert len(file["parts"]) == 2
        first = file["parts"][0]
        assert first["url"].startswith(moto_endpoint) and first["size"] == 8 * MIB
        assert put_part(first["url"], data[: 8 * MIB]).status_code == 200
        state = api.get(f"/v1/files/{file['id']}/parts").json()
        assert [(p["number"], p["size"]) for p in state["parts"]] == [(1, 8 * MIB)]
        assert state["parts"][0]["etag"] and state["missing"] == [2]
        (fresh,) = state["urls"]
        assert put_part(fresh["url"], data[8 * MIB :]).status_code == 200

        # A wrong checksum leaves nothing visible, and the parts start over.
        finalize = f"/v1/files/{file['id']}/finalize"
        wrong = hashlib.sha256(b"no").hexdigest()
        assert_problem(
            api.post(finalize, json={"size": len(data), "sha256": wrong}), 422, "checksum_mismatch"
        )
        assert "Contents" not in gateway.client().list_objects_v2(Bucket=bucket)
        state = api.get(f"/v1/files/{file['id']}/parts").json()
        assert state["parts"] == [] and state["missing"] == [1, 2]
        for entry in state["urls"]:
            body = data[entry["offset"] : entry["offset"] + entry["size"]]
            assert put_part(entry["url"], body).status_code == 200
        done = api.post(finalize, json={"size": len(data), "sha256": sha})
        assert done.status_code == 202, done.text
        wait_status(api, file["id"], "ready")
        assert api.get(f"/v1/files/{file['id']}").content == data
    got = gateway.client().get_object(Bucket=bucket, Key="direct.bin")["Body"].read()
    assert got == data
    raw = backend.list_objects_v2(Bucket=backend_bucket, Prefix="gw/raw/")
    assert "Contents" not in raw
    assert backend.list_multipart_uploads(Bucket=backend_bucket).get("Uploads", []) == []
