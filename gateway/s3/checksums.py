"""Body checksums an S3 client declares, and their verification while the body streams.

A client may vouch for a request body with ``Content-MD5`` and with at most one
``x-amz-checksum-<algorithm>`` value, sent either as a header or, for the
``STREAMING-*-TRAILER`` payload forms, as a trailer announced up front by
``x-amz-trailer``. Every value is the base64 of the big-endian digest.

``BodyChecksums`` is built from the request headers before the body is read,
fed every decoded body byte, and checked once at the end of the body against
the headers and the trailers that arrived.

CRC32C and CRC64NVME need ``awscrt`` (the AWS common runtime, installed with
``botocore[crt]``): a pure-Python table-driven CRC is far too slow for object
bodies. Without it, values for those two algorithms are still checked for
well-formedness but their digests are NOT verified; the request is accepted.
"""

from __future__ import annotations

import binascii
import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from zlib_ng import zlib_ng

from gateway.core.checksums import DIGEST_SIZES
from gateway.s3.errors import BadDigest, InvalidDigest, InvalidRequest

CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"

_MD5_SIZE = 16


class RunningChecksum(Protocol):
    """An incremental digest: fed with ``update``, read with ``digest``."""

    def update(self, data: bytes | memoryview, /) -> None:
        """Account for ``data``, which follows every byte given before."""
        ...

    def digest(self) -> bytes:
        """Return the big-endian digest of every byte given so far."""
        ...


class _Crc:
    """A CRC kept as an integer and folded by ``step(data, crc) -> crc``."""

    def __init__(self, step: Callable[[bytes | memoryview, int], int], size: int) -> None:
        self._step = step
        self._size = size
        self._value = 0

    def update(self, data: bytes | memoryview, /) -> None:
        self._value = self._step(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


def _load_crt_checksums() -> ModuleType | None:
    try:
        return importlib.import_module("awscrt.checksums")
    except ImportError:
        return None


_CRT = _load_crt_checksums()


def _crt_step(name: str) -> Callable[[bytes | memoryview, int], int]:
    def step(data: bytes | memoryview, previous: int) -> int:
        return int(getattr(_CRT, name)(data, previous))

    return step


def new_running_checksum(algorithm: str) -> RunningChecksum | None:
    """Return a fresh running checksum for ``algorithm`` (a key of ``DIGEST_SIZES``).

    Returns None when this process cannot compute it: ``crc32c`` and
    ``crc64nvme`` without ``awscrt``.
    """
    if algorithm == "crc32":
        # zlib-ng's CRC-32: zlib's value at a sixth of the cost.
        return _Crc(zlib_ng.crc32, 4)
    if algorithm in ("sha1", "sha256"):
        return hashlib.new(algorithm)
    if _CRT is None:
        return None
    return _Crc(_crt_step(algorithm), DIGEST_SIZES[algorithm])


def _decode_base64(value: str) -> bytes | None:
    try:
        return binascii.a2b_base64(value.strip().encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def decode_checksum(algorithm: str, value: str) -> bytes:
    """Decode the base64 ``value`` of ``x-amz-checksum-<algorithm>``.

    Raises InvalidRequest when it is not base64 of a digest of the right size.
    """
    digest = _decode_base64(value)
    if digest is None or len(digest) != DIGEST_SIZES[algorithm]:
        raise InvalidRequest(f"Value for {CHECKSUM_HEADER_PREFIX}{algorithm} header is invalid.")
    return digest


@dataclass(frozen=True)
class _Expected:
    """A digest the client vouched for; ``digest`` is None until its trailer arrives."""

    name: str
    algorithm: str
    digest: bytes | None

    @property
    def mismatch(self) -> str:
        if self.algorithm == "md5":
            return BadDigest.default_message
        return f"The {self.algorithm.upper()} you specified did not match the calculated checksum."


def _declared_algorithm(name: str) -> str | None:
    if not name.startswith(CHECKSUM_HEADER_PREFIX):
        return None
    algorithm = name.removeprefix(CHECKSUM_HEADER_PREFIX)
    return algorithm if algorithm in DIGEST_SIZES else None


class BodyChecksums:
    """The digests declared for one request body, verified as the body streams.

    Construction validates the declarations and raises at once: InvalidDigest
    for a malformed ``Content-MD5``, InvalidRequest for a malformed checksum
    value, for more than one ``x-amz-checksum-*`` algorithm, or for an
    ``x-amz-trailer`` naming anything but one ``x-amz-checksum-*``.
    ``update`` MUST then be given every decoded body byte, in order, and
    ``verify`` called once at the end of the body.
    """

    def __init__(self, headers: Mapping[str, str]) -> None:
        """Parse the declarations in ``headers`` (lower-case names)."""
        expected: list[_Expected] = []
        md5 = headers.get("content-md5")
        if md5 is not None:
            digest = _decode_base64(md5)
            if digest is None or len(digest) != _MD5_SIZE:
                raise InvalidDigest()
            expected.append(_Expected("content-md5", "md5", digest))
        for name, value in headers.items():
            algorithm = _declared_algorithm(name)
            if algorithm is not None:
                digest = decode_checksum(algorithm, value)
                expected.append(_Expected(name, algorithm, digest))
        self._announced: list[str] = []
        for name in _split_names(headers.get("x-amz-trailer", "")):
            algorithm = _declared_algorithm(name)
            if algorithm is None:
                raise InvalidRequest(f"The trailer {name!r} is not supported.")
            self._announced.append(name)
            expected.append(_Expected(name, algorithm, None))
        if sum(e.algorithm != "md5" for e in expected) > 1:
            raise InvalidRequest(
                "Expecting a single x-amz-checksum- header. "
                "Multiple checksum Types are not allowed."
            )
        self._expected = expected
        self._running: dict[str, RunningChecksum | None] = {
            e.algorithm: hashlib.md5(usedforsecurity=False)
            if e.algorithm == "md5"
            else new_running_checksum(e.algorithm)
            for e in expected
        }
        self._values: dict[str, str] = {
            e.name: headers[e.name] for e in expected if e.digest is not None
        }

    @property
    def announced_trailers(self) -> tuple[str, ...]:
        """The trailer names ``x-amz-trailer`` announced, lower-case."""
        return tuple(self._announced)

    @property
    def values(self) -> Mapping[str, str]:
        """Declared values by lower-case header name (trailers once ``verify`` ran)."""
        return dict(self._values)

    def update(self, data: bytes | memoryview) -> None:
        """Account for the next ``data`` of the decoded body."""
        for running in self._running.values():
            if running is not None:
                running.update(data)

    def verify(self, trailers: Mapping[str, str]) -> None:
        """Check every declared digest against the body given to ``update``.

        ``trailers`` are the trailers received (lower-case names); they MUST be
        exactly the announced ones. Raises InvalidRequest when they are not or
        a trailer value is malformed, BadDigest naming the algorithm when a
        digest differs.
        """
        if set(trailers) != set(self._announced):
            raise InvalidRequest("The trailers sent do not match those announced in x-amz-trailer.")
        for expected in self._expected:
            digest = expected.digest
            if digest is None:
                value = trailers[expected.name]
                digest = decode_checksum(expected.algorithm, value)
                self._values[expected.name] = value
            running = self._running[expected.algorithm]
            if running is not None and running.digest() != digest:
                raise BadDigest(expected.mismatch)


def _split_names(value: str) -> list[str]:
    return [name.strip().lower() for name in value.split(",") if name.strip()]
