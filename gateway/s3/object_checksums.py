"""Additional checksums of objects and parts as S3 requests and responses carry them.

A write's checksum is the ``x-amz-checksum-<algorithm>`` header or trailer it was
verified against (see ``gateway.s3.checksums``); it is stored with the version or part.
Reads return it only when asked with ``x-amz-checksum-mode: ENABLED`` and not for a
range. A multipart upload's algorithm and type come from CreateMultipartUpload.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree.ElementTree import Element

from gateway.core.checksums import COMPOSITE, DIGEST_SIZES, MULTIPART_TYPES
from gateway.core.storage import BodyChecksum
from gateway.core.writer import Readable
from gateway.records import Checksum, Upload
from gateway.s3.checksums import CHECKSUM_HEADER_PREFIX
from gateway.s3.errors import InvalidRequest
from gateway.s3.sigv4 import VerifiedBody
from gateway.s3.xml import child_text

MODE_HEADER = "x-amz-checksum-mode"
TYPE_HEADER = "x-amz-checksum-type"
ALGORITHM_HEADER = "x-amz-checksum-algorithm"

#: The XML element of each algorithm's value (``ChecksumCRC32`` ...), by algorithm.
XML_NAMES: Mapping[str, str] = {
    "crc32": "ChecksumCRC32",
    "crc32c": "ChecksumCRC32C",
    "crc64nvme": "ChecksumCRC64NVME",
    "sha1": "ChecksumSHA1",
    "sha256": "ChecksumSHA256",
}


def declared_algorithm(headers: Mapping[str, str]) -> str | None:
    """The algorithm of the ``x-amz-checksum-*`` header or announced trailer, if any."""
    names = [*headers, *headers.get("x-amz-trailer", "").split(",")]
    for name in names:
        algorithm = name.strip().lower().removeprefix(CHECKSUM_HEADER_PREFIX)
        if name.strip().lower().startswith(CHECKSUM_HEADER_PREFIX) and algorithm in DIGEST_SIZES:
            return algorithm
    return None


def body_checksum(body: Readable) -> BodyChecksum:
    """Reads, once ``body`` was read to its end, the checksum it was verified against."""

    def verified() -> Checksum | None:
        values = body.checksums if isinstance(body, VerifiedBody) else {}
        for name, value in values.items():
            algorithm = name.removeprefix(CHECKSUM_HEADER_PREFIX)
            if name.startswith(CHECKSUM_HEADER_PREFIX) and algorithm in DIGEST_SIZES:
                return Checksum(algorithm, value.strip())
        return None

    return verified


def checksum_headers(checksum: Checksum | None) -> dict[str, str]:
    """``x-amz-checksum-<algorithm>`` and ``x-amz-checksum-type`` of a stored checksum."""
    if checksum is None:
        return {}
    return {CHECKSUM_HEADER_PREFIX + checksum.algorithm: checksum.value, TYPE_HEADER: checksum.type}


def checksum_fields(checksum: Checksum | None) -> dict[str, str]:
    """The XML elements of a stored checksum (``ChecksumCRC32``..., ``ChecksumType``)."""
    if checksum is None:
        return {}
    return {XML_NAMES[checksum.algorithm]: checksum.value, "ChecksumType": checksum.type}


def part_fields(checksum: Checksum | None) -> dict[str, str]:
    """The XML element of a part's checksum (``ChecksumCRC32``...), none without one."""
    return {} if checksum is None else {XML_NAMES[checksum.algorithm]: checksum.value}


def completed_part_checksum(upload: Upload, part: Element, number: int) -> str | None:
    """The checksum a CompleteMultipartUpload ``Part`` gives in the upload's algorithm.

    A COMPOSITE upload needs it for every part (InvalidRequest when missing).
    """
    algorithm = upload.checksum_algorithm
    if algorithm is None:
        return None
    value = child_text(part, XML_NAMES[algorithm])
    if value is None and upload.checksum_type == COMPOSITE:
        raise InvalidRequest(
            f"The upload was created using a {algorithm} checksum. The complete request "
            f"must include the checksum for each part. It was missing for part {number} "
            "in the request."
        )
    return None if value is None else value.strip()


def checksum_requested(headers: Mapping[str, str]) -> bool:
    """Whether a GET or HEAD asks for the stored checksum."""
    return headers.get(MODE_HEADER, "").strip().upper() == "ENABLED"


def upload_checksum(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The (algorithm, type) CreateMultipartUpload asks for; (None, None) for none.

    The type defaults to the algorithm's first allowed one (COMPOSITE, but FULL_OBJECT
    for CRC64NVME). InvalidRequest for an unknown algorithm or a type it does not allow.
    """
    raw_algorithm, raw_type = headers.get(ALGORITHM_HEADER), headers.get(TYPE_HEADER)
    if raw_algorithm is None:
        if raw_type is not None:
            raise InvalidRequest(f"{TYPE_HEADER} requires {ALGORITHM_HEADER}.")
        return None, None
    algorithm = raw_algorithm.strip().lower()
    if algorithm not in MULTIPART_TYPES:
        raise InvalidRequest("Checksum algorithm provided is unsupported.")
    allowed = MULTIPART_TYPES[algorithm]
    checksum_type = allowed[0] if raw_type is None else raw_type.strip().upper()
    if checksum_type not in allowed:
        raise InvalidRequest(
            f"The {checksum_type} checksum type cannot be used with the {algorithm} "
            "checksum algorithm."
        )
    return algorithm, checksum_type


def upload_headers(upload: Upload) -> dict[str, str]:
    """The checksum headers answering CreateMultipartUpload."""
    if upload.checksum_algorithm is None or upload.checksum_type is None:
        return {}
    return {ALGORITHM_HEADER: upload.checksum_algorithm.upper(), TYPE_HEADER: upload.checksum_type}


def check_part_checksum(upload: Upload, headers: Mapping[str, str]) -> None:
    """InvalidRequest unless an UploadPart carries the checksum its upload requires."""
    expected = upload.checksum_algorithm
    actual = declared_algorithm(headers)
    if expected is not None and actual != expected:
        raise InvalidRequest(
            f"Checksum Type mismatch occurred, expected checksum Type: {expected}, "
            f"actual checksum Type: {actual or 'null'}"
        )
