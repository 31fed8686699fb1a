"""Properties of aws-chunked decoding: any split, any read sizes, any corruption is caught."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import zlib
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.s3.aws_chunked import MIN_SIGNED_CHUNK_SIZE, AwsChunkedDecoder, ChunkSigning
from gateway.s3.errors import S3Error, SignatureDoesNotMatch
from gateway.s3.sigv4 import AuthContext, PayloadKind, PayloadMode, verified_body

SCOPE = "20240501/us-east-1/s3/aws4_request"
AMZ_DATE = "20240501T120000Z"
KEY = hmac.new(b"AWS4secret", b"20240501", hashlib.sha256).digest()
SEED = "5eed" * 16
SIGNING = ChunkSigning(signing_key=KEY, amz_date=AMZ_DATE, scope=SCOPE, seed_signature=SEED)


def sign(previous: str, algorithm: str, *hashes: str) -> str:
    text = "\n".join((algorithm, AMZ_DATE, SCOPE, previous, *hashes))
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def encode(
    chunks: Sequence[bytes], *, signed: bool, trailers: Sequence[tuple[str, str]] | None = None
) -> tuple[bytes, list[tuple[int, int]]]:
    """Frame ``chunks`` as aws-chunked; also return the wire span of every chunk's data."""
    out, spans, previous = bytearray(), [], SEED
    empty = hashlib.sha256(b"").hexdigest()
    for data in [*chunks, b""]:
        out += f"{len(data):x}".encode()
        if signed:
            digest = hashlib.sha256(data).hexdigest()
            previous = sign(previous, "AWS4-HMAC-SHA256-PAYLOAD", empty, digest)
            out += f";chunk-signature={previous}".encode()
        out += b"\r\n"
        spans.append((len(out), len(out) + len(data)))
        out += data + (b"\r\n" if data else b"")
    if trailers is not None:
        out += "".join(f"{name}:{value}\r\n" for name, value in trailers).encode()
        if signed:
            canonical = "".join(f"{name}:{value}\n" for name, value in sorted(trailers))
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            signature = sign(previous, "AWS4-HMAC-SHA256-TRAILER", digest)
            out += f"x-amz-trailer-signature:{signature}\r\n".encode()
    return bytes(out + b"\r\n"), [s for s in spans if s[0] != s[1]]


def split(body: bytes, sizes: Sequence[int]) -> list[bytes]:
    chunks, start = [], 0
    for size in sizes:
        if start >= len(body):
            break
        chunks.append(body[start : start + size])
        start += size
    if start < len(body):
        chunks.append(body[start:])
    return chunks


def read_with(reader: AwsChunkedDecoder, sizes: Sequence[int]) -> bytes:
    out, turn = bytearray(), 0
    while data := reader.read(sizes[turn % len(sizes)]):
        out += data
        turn += 1
    return bytes(out)


bodies = st.binary(max_size=3000)
chunk_sizes = st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=20)
read_sizes = st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=10)


@given(body=bodies, sizes=chunk_sizes, reads=read_sizes, signed=st.booleans())
def test_any_split_read_any_way_gives_the_body(
    body: bytes, sizes: list[int], reads: list[int], signed: bool
) -> None:
    wire, _ = encode(split(body, sizes), signed=signed)
    decoder = AwsChunkedDecoder(io.BytesIO(wire), signing=SIGNING if signed else None)
    assert read_with(decoder, reads) == body


@given(
    body=bodies,
    sizes=chunk_sizes,
    reads=read_sizes,
    trailer=st.from_regex(r"[A-Za-z0-9+/=]{0,40}", fullmatch=True),
)
def test_trailers_survive_any_split(
    body: bytes, sizes: list[int], reads: list[int], trailer: str
) -> None:
    for signed in (False, True):
        trailers = [("x-amz-checksum-crc32", trailer)]
        wire, _ = encode(split(body, sizes), signed=signed, trailers=trailers)
        decoder = AwsChunkedDecoder(
            io.BytesIO(wire), signing=SIGNING if signed else None, trailers_allowed=True
        )
        assert read_with(decoder, reads) == body
        assert decoder.trailers == dict(trailers)


@given(data=st.data(), body=st.binary(min_size=1, max_size=3000), sizes=chunk_sizes)
def test_any_flipped_data_byte_breaks_the_signature(
    data: st.DataObject, body: bytes, sizes: list[int]
) -> None:
    wire, spans = encode(split(body, sizes), signed=True)
    start, end = data.draw(st.sampled_from(spans))
    position = data.draw(st.integers(min_value=start, max_value=end - 1))
    damaged = bytearray(wire)
    damaged[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    decoder = AwsChunkedDecoder(io.BytesIO(bytes(damaged)), signing=SIGNING)
    try:
        read_with(decoder, [4096])
    except SignatureDoesNotMatch:
        return
    raise AssertionError("a corrupted chunk was accepted")


@given(data=st.data(), body=bodies, sizes=chunk_sizes, signed=st.booleans())
def test_any_flipped_wire_byte_is_caught_or_harmless(
    data: st.DataObject, body: bytes, sizes: list[int], signed: bool
) -> None:
    wire, _ = encode(split(body, sizes), signed=signed)
    damaged = bytearray(wire)
    damaged[data.draw(st.integers(min_value=0, max_value=len(wire) - 1))] ^= data.draw(
        st.integers(min_value=1, max_value=255)
    )
    decoder = AwsChunkedDecoder(io.BytesIO(bytes(damaged)), signing=SIGNING if signed else None)
    try:
        decoded = read_with(decoder, [4096])
    except S3Error:
        return
    # Only a flip that keeps the framing meaning (say, hex digit case) may go through, and
    # then, for signed bodies, only without changing a byte of the payload.
    if signed:
        assert decoded == body


@settings(max_examples=25, deadline=None)
@given(
    body=st.binary(min_size=0, max_size=40_000),
    extra=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=6),
    reads=read_sizes,
)
def test_verified_signed_uploads_with_a_checksum_trailer(
    body: bytes, extra: list[int], reads: list[int]
) -> None:
    sizes = [MIN_SIGNED_CHUNK_SIZE + n for n in extra]
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    trailers = [("x-amz-checksum-crc32", crc)]
    wire, _ = encode(split(body, sizes), signed=True, trailers=trailers)
    ctx = AuthContext(
        access_key="AK",
        payload=PayloadMode(PayloadKind.STREAMING_SIGNED_TRAILER),
        signing=SIGNING,
    )
    headers = {
        "content-length": str(len(wire)),
        "x-amz-decoded-content-length": str(len(body)),
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    reader = verified_body(io.BytesIO(wire), ctx, headers)
    out, turn = bytearray(), 0
    while piece := reader.read(reads[turn % len(reads)]):
        out += piece
        turn += 1
    assert out == body
