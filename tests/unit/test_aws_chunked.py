"""The aws-chunked decoder: framing, chunk and trailer signatures, AWS's published examples."""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Sequence

import pytest

from gateway.s3.aws_chunked import (
    MIN_SIGNED_CHUNK_SIZE,
    AwsChunkedDecoder,
    ChunkSigning,
)
from gateway.s3.errors import (
    IncompleteBody,
    InvalidChunkSizeError,
    InvalidRequest,
    S3Error,
    SignatureDoesNotMatch,
)

EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EXAMPLE_DATE = "20130524T000000Z"
EXAMPLE_SCOPE = "20130524/us-east-1/s3/aws4_request"


def signing_key(secret: str, date: str, region: str) -> bytes:
    """The SigV4 key derivation, written out independently of the code under test."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def example_signing(seed: str) -> ChunkSigning:
    return ChunkSigning(
        signing_key=signing_key(EXAMPLE_SECRET, "20130524", "us-east-1"),
        amz_date=EXAMPLE_DATE,
        scope=EXAMPLE_SCOPE,
        seed_signature=seed,
    )


class ChunkSigner:
    """Test-side signer of aws-chunked bodies (the production module only verifies)."""

    def __init__(self, key: bytes, amz_date: str, scope: str, seed: str) -> None:
        self.key, self.amz_date, self.scope, self.previous = key, amz_date, scope, seed

    def _sign(self, *lines: str) -> str:
        text = "\n".join(lines)
        self.previous = hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()
        return self.previous

    def chunk(self, data: bytes) -> str:
        return self._sign(
            "AWS4-HMAC-SHA256-PAYLOAD",
            self.amz_date,
            self.scope,
            self.previous,
            hashlib.sha256(b"").hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )

    def trailer(self, trailers: Sequence[tuple[str, str]]) -> str:
        canonical = "".join(f"{name}:{value}\n" for name, value in sorted(trailers))
        return self._sign(
            "AWS4-HMAC-SHA256-TRAILER",
            self.amz_date,
            self.scope,
            self.previous,
            hashlib.sha256(canonical.encode()).hexdigest(),
        )


def encode(
    chunks: Sequence[bytes],
    signer: ChunkSigner | None = None,
    trailers: Sequence[tuple[str, str]] | None = None,
) -> bytes:
    """Frame ``chunks`` (then the empty last chunk) as aws-chunked, signed when ``signer``."""
    out = bytearray()
    for data in [*chunks, b""]:
        out += f"{len(data):x}".encode()
        if signer is not None:
            out += f";chunk-signature={signer.chunk(data)}".encode()
        out += b"\r\n" + data
        if data:
            out += b"\r\n"
    if trailers is not None:
        for name, value in trailers:
            out += f"{name}:{value}\r\n".encode()
        if signer is not None:
            out += f"x-amz-trailer-signature:{signer.trailer(trailers)}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def new_signer() -> tuple[ChunkSigner, ChunkSigning]:
    key = signing_key("secret", "20240501", "us-east-1")
    seed = "ab" * 32
    scope = "20240501/us-east-1/s3/aws4_request"
    signing = ChunkSigning(key, "20240501T120000Z", scope, seed)
    return ChunkSigner(key, "20240501T120000Z", scope, seed), signing


def read_all(decoder: AwsChunkedDecoder, size: int = 7) -> bytes:
    out = bytearray()
    while data := decoder.read(size):
        out += data
    return bytes(out)


# -- AWS documentation examples --------------------------------------------------------

SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHUNK_SIGNATURES = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def example_body(signatures: Sequence[str], *, corrupt: bool = False) -> bytes:
    """AWS's 'PUT object, 66560 bytes, 64 KiB chunks' body with its published signatures."""
    out = bytearray()
    for size, signature in zip((65536, 1024, 0), signatures, strict=True):
        data = bytearray(b"a" * size)
        if corrupt and size == 1024:
            data[10] = ord("b")
        out += f"{size:x};chunk-signature={signature}\r\n".encode() + data
        if size:
            out += b"\r\n"
    return bytes(out)


def test_aws_example_chunk_signatures_verify() -> None:
    body = example_body(CHUNK_SIGNATURES) + b"\r\n"
    decoder = AwsChunkedDecoder(
        io.BytesIO(body), signing=example_signing(SEED), min_chunk_size=MIN_SIGNED_CHUNK_SIZE
    )
    assert read_all(decoder, 4096) == b"a" * 66560


def test_aws_example_with_a_corrupted_chunk_fails() -> None:
    body = example_body(CHUNK_SIGNATURES, corrupt=True) + b"\r\n"
    decoder = AwsChunkedDecoder(io.BytesIO(body), signing=example_signing(SEED))
    with pytest.raises(SignatureDoesNotMatch):
        read_all(decoder, 4096)


def test_aws_example_with_a_trailer_verifies() -> None:
    body = (
        example_body(TRAILER_CHUNK_SIGNATURES)
        + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
        + f"x-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n\r\n".encode()
    )
    decoder = AwsChunkedDecoder(
        io.BytesIO(body), signing=example_signing(TRAILER_SEED), trailers_allowed=True
    )
    assert read_all(decoder, 65536) == b"a" * 66560
    assert decoder.trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}


def test_aws_example_with_a_tampered_trailer_fails() -> None:
    body = (
        example_body(TRAILER_CHUNK_SIGNATURES)
        + b"x-amz-checksum-crc32c:AAAAAA==\r\n"
        + f"x-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n\r\n".encode()
    )
    decoder = AwsChunkedDecoder(
        io.BytesIO(body), signing=example_signing(TRAILER_SEED), trailers_allowed=True
    )
    with pytest.raises(SignatureDoesNotMatch):
        read_all(decoder, 65536)


def test_trailer_signature_matches_the_aws_crt_vector() -> None:
    # awscrt's published chunk-signer test: three trailers after the 66560-byte example.
    signing = example_signing(SEED)
    trailers = {"first": "1st", "second": "2nd", "third": "3rd"}
    assert (
        signing.trailer_signature(CHUNK_SIGNATURES[2], trailers)
        == "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"
    )


def test_signing_key_is_hidden_from_repr() -> None:
    signing = example_signing(SEED)
    assert signing.signing_key.hex() not in repr(signing)
    assert "signing_key" not in repr(signing)


# -- framing ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 5, 8191, 8192, 100_000, -1])
def test_read_sizes_give_the_payload(size: int) -> None:
    signer, signing = new_signer()
    chunks = [b"x" * 9000, b"y" * 8192, b"z" * 17]
    decoder = AwsChunkedDecoder(
        io.BytesIO(encode(chunks, signer)), signing=signing, min_chunk_size=MIN_SIGNED_CHUNK_SIZE
    )
    if size < 0:
        assert decoder.read() == b"".join(chunks)
        assert decoder.read() == b""
    else:
        assert read_all(decoder, size) == b"".join(chunks)


def test_read_zero_returns_nothing() -> None:
    decoder = AwsChunkedDecoder(io.BytesIO(encode([b"abc"])))
    assert decoder.read(0) == b""
    assert decoder.read() == b"abc"


def test_empty_body() -> None:
    signer, signing = new_signer()
    assert AwsChunkedDecoder(io.BytesIO(encode([], signer)), signing=signing).read() == b""
    assert AwsChunkedDecoder(io.BytesIO(b"0\r\n\r\n")).read() == b""


def test_unsigned_framing_ignores_chunk_extensions() -> None:
    body = b"3;foo=bar\r\nabc\r\n0\r\n\r\n"
    assert AwsChunkedDecoder(io.BytesIO(body)).read() == b"abc"


def test_upper_case_hex_sizes_are_accepted() -> None:
    body = b"A\r\n0123456789\r\n0\r\n\r\n"
    assert AwsChunkedDecoder(io.BytesIO(body)).read() == b"0123456789"


def test_unsigned_trailers_are_collected() -> None:
    body = encode([b"hello"], trailers=[("X-Amz-Checksum-CRC32", " NhCmhg== ")])
    decoder = AwsChunkedDecoder(io.BytesIO(body), trailers_allowed=True)
    assert decoder.read() == b"hello"
    assert decoder.trailers == {"x-amz-checksum-crc32": "NhCmhg=="}


def test_signed_trailers_are_verified() -> None:
    signer, signing = new_signer()
    body = encode([b"hello"], signer, trailers=[("x-amz-checksum-crc32", "NhCmhg==")])
    decoder = AwsChunkedDecoder(io.BytesIO(body), signing=signing, trailers_allowed=True)
    assert decoder.read() == b"hello"
    assert decoder.trailers == {"x-amz-checksum-crc32": "NhCmhg=="}


def test_signed_trailers_must_carry_a_signature() -> None:
    signer, signing = new_signer()
    body = encode([b"hello"], signer).removesuffix(b"\r\n") + b"x-amz-checksum-crc32:x\r\n\r\n"
    decoder = AwsChunkedDecoder(io.BytesIO(body), signing=signing, trailers_allowed=True)
    with pytest.raises(SignatureDoesNotMatch):
        decoder.read()


def test_chunks_cannot_be_reordered() -> None:
    signer, signing = new_signer()
    first, second = b"a" * 8192, b"b" * 8192
    body = encode([first, second], signer)
    head = f"2000;chunk-signature={'0' * 64}\r\n".encode()
    first_framed = body[: len(head) + 8192 + 2]
    second_framed = body[len(first_framed) : 2 * len(first_framed)]
    swapped = second_framed + first_framed + body[2 * len(first_framed) :]
    decoder = AwsChunkedDecoder(io.BytesIO(swapped), signing=signing)
    with pytest.raises(SignatureDoesNotMatch):
        read_all(decoder, 4096)


def test_the_final_chunk_signature_is_verified() -> None:
    signer, signing = new_signer()
    body = bytearray(encode([b"abc"], signer))
    final = body.rindex(b"0;chunk-signature=") + len(b"0;chunk-signature=")
    body[final] = ord("0") if body[final] != ord("0") else ord("1")
    decoder = AwsChunkedDecoder(io.BytesIO(bytes(body)), signing=signing)
    assert decoder.read(3) == b"abc"
    with pytest.raises(SignatureDoesNotMatch):
        decoder.read(3)


def test_a_short_chunk_may_only_be_the_last() -> None:
    signer, signing = new_signer()
    body = encode([b"a" * 100, b"b" * 9000], signer)
    decoder = AwsChunkedDecoder(
        io.BytesIO(body), signing=signing, min_chunk_size=MIN_SIGNED_CHUNK_SIZE
    )
    with pytest.raises(InvalidChunkSizeError):
        read_all(decoder, 4096)


def test_errors_are_sticky() -> None:
    signer, signing = new_signer()
    body = bytearray(encode([b"abc" * 5000], signer))
    body[-20] ^= 1
    decoder = AwsChunkedDecoder(io.BytesIO(bytes(body)), signing=signing)
    with pytest.raises(S3Error) as first:
        read_all(decoder, 4096)
    with pytest.raises(S3Error) as again:
        decoder.read(10)
    assert again.value is first.value


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", IncompleteBody),
        (b"5\r\nhel", IncompleteBody),
        (b"5\r\nhello", IncompleteBody),
        (b"5\r\nhello\r\n", IncompleteBody),
        (b"5\r\nhello\r\n0\r\n", IncompleteBody),
        (b"5\r\nhelloXY0\r\n\r\n", InvalidRequest),
        (b"zz\r\nhello\r\n0\r\n\r\n", InvalidRequest),
        (b"-5\r\nhello\r\n0\r\n\r\n", InvalidRequest),
        (b" 5\r\nhello\r\n0\r\n\r\n", InvalidRequest),
        (b"11111111111111111\r\nx\r\n0\r\n\r\n", InvalidRequest),
        (b"5" * 5000 + b"\r\n", InvalidRequest),
        (b"5" * 5000, InvalidRequest),
        (b"0\r\n\r\ngarbage", InvalidRequest),
        (b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", InvalidRequest),
    ],
)
def test_malformed_unsigned_framing(body: bytes, error: type[S3Error]) -> None:
    with pytest.raises(error):
        read_all(AwsChunkedDecoder(io.BytesIO(body)))


@pytest.mark.parametrize(
    "trailers",
    [
        b"no-colon\r\n\r\n",
        b":value\r\n\r\n",
        b"x-amz-checksum-crc32:a\r\nx-amz-checksum-crc32:b\r\n\r\n",
        b"x-amz-trailer-signature:" + b"0" * 64 + b"\r\n\r\n",
        b"x-amz-meta-caf\xc3\xa9:1\r\n\r\n",
        b"".join(b"x-amz-meta-%d:1\r\n" % i for i in range(17)) + b"\r\n",
    ],
)
def test_malformed_unsigned_trailers(trailers: bytes) -> None:
    decoder = AwsChunkedDecoder(io.BytesIO(b"0\r\n" + trailers), trailers_allowed=True)
    with pytest.raises(InvalidRequest):
        decoder.read()


def test_unterminated_trailers_are_incomplete() -> None:
    decoder = AwsChunkedDecoder(
        io.BytesIO(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n"), trailers_allowed=True
    )
    with pytest.raises(IncompleteBody):
        decoder.read()


@pytest.mark.parametrize(
    "header",
    [
        b"5\r\n",
        b"5;chunk-signature=\r\n",
        b"5;chunk-signature=" + b"A" * 64 + b"\r\n",
        b"5;chunk-signature=" + b"a" * 63 + b"\r\n",
        b"5;chunk-signature=" + b"a" * 64 + b";x=y\r\n",
    ],
)
def test_malformed_signed_chunk_headers(header: bytes) -> None:
    _, signing = new_signer()
    decoder = AwsChunkedDecoder(io.BytesIO(header + b"hello\r\n"), signing=signing)
    with pytest.raises(InvalidRequest):
        decoder.read()


def test_lines_after_the_trailer_signature_are_rejected() -> None:
    signer, signing = new_signer()
    body = encode([b"abc"], signer, trailers=[]).removesuffix(b"\r\n") + b"late:1\r\n\r\n"
    decoder = AwsChunkedDecoder(io.BytesIO(body), signing=signing, trailers_allowed=True)
    with pytest.raises(InvalidRequest):
        decoder.read()


class RecordingStream(io.BytesIO):
    """A BytesIO that remembers the largest read asked of it."""

    largest = 0

    def read(self, size: int | None = -1, /) -> bytes:
        assert size is not None and size >= 0, "the decoder must not read without a bound"
        self.largest = max(self.largest, size)
        return super().read(size)


def test_reads_of_the_wire_are_bounded() -> None:
    signer, signing = new_signer()
    chunks = [bytes(range(256)) * 4096] * 4  # four 1 MiB chunks
    stream = RecordingStream(encode(chunks, signer))
    decoder = AwsChunkedDecoder(stream, signing=signing)
    assert read_all(decoder, 65536) == b"".join(chunks)
    assert stream.largest <= 65536
