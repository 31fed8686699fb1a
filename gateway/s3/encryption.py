"""Server-side encryption headers: what a write may ask for and what is reported back.

Only SSE-S3 (``x-amz-server-side-encryption: AES256``) is accepted; it is stored with
the version and reported on PUT, GET and HEAD. The gateway does not (yet) manage keys:
SSE-KMS and SSE-C, which S3 offers, answer NotImplemented; any other value answers
InvalidArgument, as S3 does.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.s3.errors import InvalidArgument, NotImplemented_

HEADER = "x-amz-server-side-encryption"
AES256 = "AES256"
_KMS = frozenset({"aws:kms", "aws:kms:dsse"})
_CUSTOMER_KEY_HEADER = "x-amz-server-side-encryption-customer-algorithm"


def requested_encryption(headers: Mapping[str, str]) -> str | None:
    """The encryption a write asks for ("AES256"), None when it asks none."""
    if _CUSTOMER_KEY_HEADER in headers:
        raise NotImplemented_(
            "Server-side encryption with customer-provided keys is not implemented."
        )
    value = headers.get(HEADER)
    if value is None:
        return None
    if value == AES256:
        return AES256
    if value in _KMS:
        raise NotImplemented_("Server-side encryption with AWS KMS keys is not implemented.")
    raise InvalidArgument(
        "The encryption method specified is not supported",
        ArgumentName=HEADER,
        ArgumentValue=value,
    )


def encryption_headers(encryption: str | None) -> dict[str, str]:
    """The response headers reporting a version's encryption."""
    return {HEADER: encryption} if encryption else {}
