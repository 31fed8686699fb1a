"""S3's additional checksum algorithms, and the checksum of a multipart object.

A multipart object's checksum is made from its parts' checksums, as S3 makes it:

* COMPOSITE (CRC32, CRC32C, SHA1, SHA256): the algorithm's digest of the concatenated
  binary part digests, in base64, followed by ``-N`` for N parts;
* FULL_OBJECT (CRC32, CRC32C, CRC64NVME): the CRC of the whole object, obtained by
  combining the part CRCs with their lengths (no byte is read again).

CRC32C and CRC64NVME come from ``awscrt``, the AWS common runtime (a dependency).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable, Mapping, Sequence

from awscrt import checksums as crt

from gateway.records import Checksum

COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"

#: Digest size in bytes of every algorithm, by lower-case name.
DIGEST_SIZES: Mapping[str, int] = {
    "crc32": 4,
    "crc32c": 4,
    "crc64nvme": 8,
    "sha1": 20,
    "sha256": 32,
}

#: The checksum types each algorithm allows for a multipart object; the first is the default.
MULTIPART_TYPES: Mapping[str, tuple[str, ...]] = {
    "crc32": (COMPOSITE, FULL_OBJECT),
    "crc32c": (COMPOSITE, FULL_OBJECT),
    "crc64nvme": (FULL_OBJECT,),
    "sha1": (COMPOSITE,),
    "sha256": (COMPOSITE,),
}

_CRC: Mapping[str, Callable[[bytes, int], int]] = {
    "crc32": zlib.crc32,
    "crc32c": crt.crc32c,
    "crc64nvme": crt.crc64nvme,
}
_COMBINE: Mapping[str, Callable[[int, int, int], int]] = {
    "crc32": crt.combine_crc32,
    "crc32c": crt.combine_crc32c,
    "crc64nvme": crt.combine_crc64nvme,
}


def full_object_sha256(checksum: Checksum | None) -> str | None:
    """The hex SHA-256 of a whole object, when ``checksum`` is one; else None."""
    if checksum is None or (checksum.algorithm, checksum.type) != ("sha256", FULL_OBJECT):
        return None
    return base64.b64decode(checksum.value).hex()


def digest(algorithm: str, data: bytes) -> bytes:
    """The big-endian digest of ``data`` under ``algorithm`` (a key of ``DIGEST_SIZES``)."""
    crc = _CRC.get(algorithm)
    if crc is not None:
        return crc(data, 0).to_bytes(DIGEST_SIZES[algorithm], "big")
    return hashlib.new(algorithm, data).digest()


def _binary(value: str) -> bytes:
    return base64.b64decode(value.partition("-")[0])


def multipart_checksum(
    algorithm: str, checksum_type: str, parts: Sequence[tuple[str, int]]
) -> Checksum:
    """The checksum of an object made of ``parts``: (base64 part checksum, part size).

    ``checksum_type`` MUST be one of ``MULTIPART_TYPES[algorithm]``.
    """
    if checksum_type == COMPOSITE:
        joined = b"".join(_binary(value) for value, _ in parts)
        value = base64.b64encode(digest(algorithm, joined)).decode("ascii")
        return Checksum(algorithm, f"{value}-{len(parts)}", COMPOSITE)
    combine, crc = _COMBINE[algorithm], 0
    for value, size in parts:
        crc = combine(crc, int.from_bytes(_binary(value), "big"), size)
    full = crc.to_bytes(DIGEST_SIZES[algorithm], "big")
    return Checksum(algorithm, base64.b64encode(full).decode("ascii"), FULL_OBJECT)
