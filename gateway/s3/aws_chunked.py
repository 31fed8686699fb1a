"""aws-chunked: the body framing of S3's ``STREAMING-*`` payloads, decoded as it streams.

Wire format (``sig`` is 64 lower-case hex digits, sizes are hex)::

    chunk    = size [";chunk-signature=" sig] CRLF data CRLF      (size > 0)
    last     = "0" [";chunk-signature=" sig] CRLF
    trailers = *(name ":" value CRLF) ["x-amz-trailer-signature:" sig CRLF] CRLF

Signed framing (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``) chains the
signatures: chunk ``n`` signs the SHA-256 of its data together with the
signature of chunk ``n-1``; the first chunk chains to the request's own
signature (the *seed*). The trailer signature chains to the last chunk's.
Unsigned framing (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``) has no signatures.

The decoder never holds more than one bounded read of the wire in memory, and
hands out chunk data before it reaches the end of the chunk: a chunk's
signature is checked, and errors raised, by the ``read`` that consumes the
chunk's last byte. Callers MUST therefore treat what they read as unverified
until ``read`` has returned ``b""``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.s3.errors import (
    IncompleteBody,
    InvalidChunkSizeError,
    InvalidRequest,
    S3Error,
    SignatureDoesNotMatch,
)

#: S3 rejects a signed chunk smaller than this unless it is the last data chunk.
MIN_SIGNED_CHUNK_SIZE = 8192

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_IO_SIZE = 64 * 1024
_LINE_LIMIT = 4096
_MAX_TRAILERS = 16
_TRAILER_SIGNATURE = "x-amz-trailer-signature"
_SIGNED_HEADER = re.compile(rb"([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})")
_UNSIGNED_HEADER = re.compile(rb"([0-9a-fA-F]{1,16})(?:;[\x20-\x7e]*)?")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class Readable(Protocol):
    """A binary stream read in bounded pieces; ``read`` returns ``b""`` at the end."""

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` bytes (all that remain when ``size`` < 0)."""
        ...


@dataclass(frozen=True)
class ChunkSigning:
    """What verifying the signature chain of a signed aws-chunked body takes.

    ``signing_key`` is the SigV4 key derived for ``scope``; ``amz_date`` the
    request's ``YYYYMMDDTHHMMSSZ`` time; ``seed_signature`` the request
    signature that the first chunk chains to.
    """

    signing_key: bytes = field(repr=False)
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, data_sha256: bytes) -> str:
        """The signature owed by a chunk whose data hashes to ``data_sha256``."""
        return self._sign("AWS4-HMAC-SHA256-PAYLOAD", previous, EMPTY_SHA256, data_sha256.hex())

    def trailer_signature(self, previous: str, trailers: Mapping[str, str]) -> str:
        """The signature owed by ``trailers`` (lower-case names, trimmed values)."""
        canonical = "".join(f"{name}:{trailers[name]}\n" for name in sorted(trailers))
        return self._sign(
            "AWS4-HMAC-SHA256-TRAILER",
            previous,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        )

    def _sign(self, algorithm: str, previous: str, *hashes: str) -> str:
        string_to_sign = "\n".join((algorithm, self.amz_date, self.scope, previous, *hashes))
        return hmac.new(self.signing_key, string_to_sign.encode("utf-8"), "sha256").hexdigest()


def _check(expected: str, received: str, what: str) -> None:
    if not hmac.compare_digest(expected.encode("ascii"), received.encode("ascii")):
        raise SignatureDoesNotMatch(f"The {what} signature does not match.")


class StickyReader:
    """A reader whose first S3Error is raised again by every later ``read``.

    Subclasses implement ``_read(size)`` for ``size`` > 0. Once a body failed a check,
    no later read may hand out bytes as if nothing happened.
    """

    _failure: S3Error | None = None

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` payload bytes (all when negative), ``b""`` at the end."""
        if self._failure is not None:
            raise self._failure
        try:
            if size < 0:
                return b"".join(iter(lambda: self._read(_IO_SIZE), b""))
            return self._read(size)
        except S3Error as failure:
            self._failure = failure
            raise

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill the start of ``buffer`` as ``read(len(buffer))`` would; the count, 0 at the end."""
        if self._failure is not None:
            raise self._failure
        try:
            return self._readinto(buffer)
        except S3Error as failure:
            self._failure = failure
            raise

    def _read(self, size: int) -> bytes:
        raise NotImplementedError

    def _readinto(self, buffer: memoryview) -> int:
        """``_read`` into ``buffer``; subclasses that can skip the copy override it."""
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class AwsChunkedDecoder(StickyReader):
    """Reads the payload out of an aws-chunked body, checking its framing and signatures.

    ``stream`` MUST end where the body ends (the caller bounds it by
    ``Content-Length``): bytes after the final empty line are an error.
    With ``signing`` every chunk signature is verified (SignatureDoesNotMatch),
    and so is ``x-amz-trailer-signature`` when ``trailers_allowed``.
    ``min_chunk_size`` is the smallest data chunk allowed before the last one
    (InvalidChunkSizeError). Truncation raises IncompleteBody, any other
    malformed framing InvalidRequest. Errors are sticky: once ``read`` has
    raised, every later call raises the same error.
    """

    def __init__(
        self,
        stream: Readable,
        *,
        signing: ChunkSigning | None = None,
        trailers_allowed: bool = False,
        min_chunk_size: int = 1,
    ) -> None:
        """Prepare to decode ``stream``; nothing is read until ``read``."""
        self._stream = stream
        self._signing = signing
        self._trailers_allowed = trailers_allowed
        self._min_chunk_size = min_chunk_size
        self._buffer = bytearray()
        self._previous = signing.seed_signature if signing is not None else ""
        self._remaining = 0
        self._declared = ""
        self._chunk_hash = hashlib.sha256()
        self._short_chunk_seen = False
        self._trailers: dict[str, str] = {}
        self._done = False

    @property
    def trailers(self) -> Mapping[str, str]:
        """Trailers received, by lower-case name; complete once ``read`` returned ``b""``."""
        return dict(self._trailers)

    def _read(self, size: int) -> bytes:
        while not self._done and size > 0:
            if self._remaining == 0:
                self._start_chunk()
                continue
            data = self._take(min(size, self._remaining))
            self._remaining -= len(data)
            if self._signing is not None:
                self._chunk_hash.update(data)
            if self._remaining == 0:
                self._end_chunk()
            return data
        return b""

    def _start_chunk(self) -> None:
        line = self._read_line()
        match = (_SIGNED_HEADER if self._signing is not None else _UNSIGNED_HEADER).fullmatch(line)
        if match is None:
            raise InvalidRequest("Malformed aws-chunked chunk header.")
        size = int(match[1], 16)
        if self._signing is not None:
            self._declared = match[2].decode("ascii")
        if size == 0:
            self._end_body()
            return
        if self._short_chunk_seen:
            raise InvalidChunkSizeError()
        self._short_chunk_seen = size < self._min_chunk_size
        self._remaining = size
        self._chunk_hash = hashlib.sha256()

    def _end_chunk(self) -> None:
        self._verify_chunk()
        if self._take_exactly(2) != b"\r\n":
            raise InvalidRequest("Malformed aws-chunked chunk: data is not followed by CRLF.")

    def _verify_chunk(self) -> None:
        if self._signing is None:
            return
        expected = self._signing.chunk_signature(self._previous, self._chunk_hash.digest())
        _check(expected, self._declared, "chunk")
        self._previous = self._declared

    def _end_body(self) -> None:
        self._chunk_hash = hashlib.sha256()
        self._verify_chunk()
        trailers: dict[str, str] = {}
        signature: str | None = None
        while line := self._read_line():
            if not self._trailers_allowed or signature is not None:
                raise InvalidRequest("Unexpected trailer in aws-chunked body.")
            name, value = _parse_trailer(line)
            if name == _TRAILER_SIGNATURE and self._signing is not None:
                signature = value
            elif name in trailers or name == _TRAILER_SIGNATURE or len(trailers) >= _MAX_TRAILERS:
                raise InvalidRequest(f"Unexpected trailer {name!r} in aws-chunked body.")
            else:
                trailers[name] = value
        if self._trailers_allowed and self._signing is not None:
            if signature is None or _SIGNATURE.fullmatch(signature) is None:
                raise SignatureDoesNotMatch("The trailer signature is missing or malformed.")
            _check(self._signing.trailer_signature(self._previous, trailers), signature, "trailer")
        if self._buffer or self._stream.read(1):
            raise InvalidRequest("Unexpected data after the end of the aws-chunked body.")
        self._trailers = trailers
        self._done = True

    def _fill(self) -> None:
        data = self._stream.read(_IO_SIZE)
        if not data:
            raise IncompleteBody("The aws-chunked body ended before its final chunk.")
        self._buffer += data

    def _read_line(self) -> bytes:
        start = 0
        while (end := self._buffer.find(b"\r\n", start)) < 0:
            if len(self._buffer) > _LINE_LIMIT:
                raise InvalidRequest("aws-chunked header line too long.")
            start = max(0, len(self._buffer) - 1)
            self._fill()
        if end > _LINE_LIMIT:
            raise InvalidRequest("aws-chunked header line too long.")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _take(self, size: int) -> bytes:
        """Return 1 to ``size`` bytes, from the buffer or else straight from the stream."""
        if not self._buffer:
            data = self._stream.read(size)
            if not data:
                raise IncompleteBody("The aws-chunked body ended inside a chunk.")
            return data
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _take_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _parse_trailer(line: bytes) -> tuple[str, str]:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRequest("Malformed trailer in aws-chunked body.") from None
    name, separator, value = text.partition(":")
    name = name.strip().lower()
    if not separator or not name:
        raise InvalidRequest("Malformed trailer in aws-chunked body.")
    return name, value.strip()
