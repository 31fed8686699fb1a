"""Reading a multi-chunk file back over S3 and WebDAV: ranges that start, end or cross at
chunk boundaries, and damaged chunks, which must never be served as wrong bytes."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from gateway.core import envelope
from tests.support.gateway_server import GatewayProcess, launch
from tests.support.webdav import dav_client

SIZE = 6 * 1024 * 1024 + 321
# Random bytes from a fixed seed: incompressible, and cut into seven chunks every run.
BODY_SEED = 0
BUCKET = "reads"
KEY = "file.bin"


@dataclass(frozen=True)
class Span:
    """Where one stored chunk of the file sits: bytes ``[offset, end)``, in ``path``."""

    offset: int
    end: int
    path: Path


@dataclass(frozen=True)
class Served:
    gateway: GatewayProcess
    s3: Any
    body: bytes
    spans: list[Span]


def chunk_spans(blob_root: Path, body: bytes) -> list[Span]:
    """The chunks of ``body`` (random, so stored uncompressed) found under ``blob_root``."""
    spans = []
    for path in (blob_root / "chunks").rglob("*"):
        if not path.is_file():
            continue
        payload = path.read_bytes()[envelope.HEADER.size :]
        offset = body.find(payload[:64])
        if offset >= 0:
            spans.append(Span(offset, offset + len(payload), path))
    return sorted(spans, key=lambda span: span.offset)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A private gateway holding one random file of several chunks."""
    gateway = launch(tmp_path_factory.mktemp("reads"))
    s3 = gateway.client()
    s3.create_bucket(Bucket=BUCKET)
    body = random.Random(BODY_SEED).randbytes(SIZE)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    spans = chunk_spans(gateway.data_dir / "blobs", body)
    assert [span.offset for span in spans[1:]] == [span.end for span in spans[:-1]]
    assert (spans[0].offset, spans[-1].end) == (0, SIZE)
    assert len(spans) >= 4
    yield Served(gateway, s3, body, spans)
    gateway.stop()


def boundary_ranges(spans: list[Span]) -> list[tuple[int, int]]:
    """Inclusive ranges around chunk boundaries: across one, ending or starting at one,
    one whole chunk, several chunks, the tail."""
    second, third, fourth = spans[1], spans[2], spans[3]
    return [
        (second.offset - 1, second.offset),
        (second.offset - 100, second.offset - 1),
        (second.offset, second.offset + 99),
        (second.offset, second.end - 1),
        (second.offset - 5, fourth.offset + 5),
        (third.end - 1, SIZE - 1),
    ]


def s3_range(served: Served, first: int, last: int) -> tuple[int, bytes, str]:
    response = served.s3.get_object(Bucket=BUCKET, Key=KEY, Range=f"bytes={first}-{last}")
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return status, response["Body"].read(), response["ContentRange"]


def dav_range(served: Served, first: int, last: int) -> tuple[int, bytes, str]:
    with dav_client(served.gateway) as dav:
        response = dav.get(f"/dav/{BUCKET}/{KEY}", headers={"Range": f"bytes={first}-{last}"})
    return response.status_code, response.content, response.headers["Content-Range"]


@pytest.mark.parametrize("get_range", [s3_range, dav_range], ids=["s3", "webdav"])
def test_ranges_at_chunk_boundaries_equal_the_slice(served: Served, get_range: Any) -> None:
    for first, last in boundary_ranges(served.spans):
        status, data, content_range = get_range(served, first, last)
        assert status == 206
        assert data == served.body[first : last + 1], (first, last)
        assert content_range == f"bytes {first}-{last}/{SIZE}"


@pytest.mark.parametrize(
    "conditions",
    [
        {},
        {"Range": "bytes=10-99"},
        {"Range": "bytes=-100"},
        {"Range": f"bytes={SIZE}-"},
        {"Range": "bytes=5-", "If-Range": '"another"'},
        {"Range": "bytes=5-", "If-Range": "{etag}"},
        {"Range": "bytes=5-", "If-Range": "{modified}"},
        {"If-None-Match": "{etag}"},
        {"If-None-Match": '"another"'},
        {"If-Match": '"another"'},
        {"If-Modified-Since": "{modified}"},
        {"If-Unmodified-Since": "Tue, 01 Jan 2002 00:00:00 GMT"},
    ],
)
def test_webdav_get_answers_as_wsgidav_does(served: Served, conditions: dict[str, str]) -> None:
    """A GET with a WebDAV If header that holds is left to wsgidav's own GET: both answer
    alike, body and headers (error pages differ only in the time they show)."""
    path = f"/dav/{BUCKET}/{KEY}"
    with dav_client(served.gateway) as dav:
        head = dav.head(path)
        known = {"etag": head.headers["ETag"], "modified": head.headers["Last-Modified"]}
        headers = {name: value.format(**known) for name, value in conditions.items()}
        ours = dav.get(path, headers=headers)
        wsgidavs = dav.get(path, headers={**headers, "If": f"([{known['etag']}])"})
    assert ours.status_code == wsgidavs.status_code
    if ours.status_code < 400:
        assert ours.content == wsgidavs.content
        assert _comparable(ours.headers) == _comparable(wsgidavs.headers)


def _comparable(headers: httpx.Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in {"date", "connection"}}


@contextlib.contextmanager
def damaged(span: Span) -> Iterator[None]:
    """Flip one byte in the middle of the chunk's payload, and put it back afterwards."""
    original = span.path.read_bytes()
    spoiled = bytearray(original)
    spoiled[len(spoiled) // 2] ^= 0xFF
    span.path.write_bytes(bytes(spoiled))
    try:
        yield
    finally:
        span.path.write_bytes(original)


def s3_download(served: Served) -> tuple[int, bytes]:
    """Status and whatever body bytes arrived before the gateway stopped sending."""
    try:
        response = served.s3.get_object(Bucket=BUCKET, Key=KEY)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InternalError"
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], b""
    received = bytearray()
    with contextlib.suppress(BotoCoreError):
        for piece in response["Body"].iter_chunks(64 * 1024):
            received += piece
    return response["ResponseMetadata"]["HTTPStatusCode"], bytes(received)


def dav_download(served: Served) -> tuple[int, bytes]:
    received = bytearray()
    with (
        dav_client(served.gateway) as dav,
        dav.stream("GET", f"/dav/{BUCKET}/{KEY}") as response,
        contextlib.suppress(httpx.HTTPError),
    ):
        for piece in response.iter_raw():
            received += piece
    return response.status_code, bytes(received)


@pytest.mark.parametrize("download", [s3_download, dav_download], ids=["s3", "webdav"])
def test_a_damaged_first_chunk_is_an_error_not_a_body(served: Served, download: Any) -> None:
    with damaged(served.spans[0]):
        status, data = download(served)
    assert status == 500
    assert served.body[:1000] not in data


@pytest.mark.parametrize("download", [s3_download, dav_download], ids=["s3", "webdav"])
def test_a_damaged_chunk_cuts_the_body_before_its_bytes(served: Served, download: Any) -> None:
    victim = served.spans[2]
    with damaged(victim):
        status, data = download(served)
    assert status == 200
    assert len(data) <= victim.offset
    assert data == served.body[: len(data)]
    status, data = download(served)
    assert (status, data) == (200, served.body)
