"""Object attributes from request headers, and response headers from attributes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from gateway.records import ObjectAttributes, StoredObject
from gateway.s3.acl import requested_acl
from gateway.s3.encryption import encryption_headers, requested_encryption
from gateway.s3.errors import InvalidArgument, InvalidDigest
from gateway.s3.object_checksums import checksum_headers
from gateway.s3.response import http_date
from gateway.s3.tagging import TAGGING_HEADER, tags_from_header
from gateway.s3.versioning import version_headers

# Standard headers S3 stores with an object and returns on GET and HEAD.
STORED_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
)
# response-* query parameters of GetObject and the headers they override.
OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
META_PREFIX = "x-amz-meta-"
MAX_METADATA_BYTES = 2048
DEFAULT_CONTENT_TYPE = "binary/octet-stream"


def attributes_from(headers: Mapping[str, str]) -> ObjectAttributes:
    """The attributes a PUT, copy (REPLACE) or multipart start declares in its headers.

    ``aws-chunked`` is a transfer detail, not a property of the object, so it is
    removed from Content-Encoding. Raises InvalidArgument ("MetadataTooLarge" sense)
    when user metadata exceeds 2 KiB, as S3 does. The canned ACL comes from ``x-amz-acl``
    (private when absent; see ``gateway.s3.acl``). Tags come from ``x-amz-tagging``
    (InvalidTag, BadRequest) and encryption from ``x-amz-server-side-encryption``.
    """
    metadata = {
        name[len(META_PREFIX) :]: value
        for name, value in headers.items()
        if name.startswith(META_PREFIX)
    }
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    if size > MAX_METADATA_BYTES:
        raise InvalidArgument("Your metadata headers exceed the maximum allowed metadata size.")
    stored = {name: headers[name] for name in STORED_HEADERS if name in headers}
    if "content-encoding" in stored:
        codings = [c.strip() for c in stored["content-encoding"].split(",")]
        remaining = [c for c in codings if c and c.lower() != "aws-chunked"]
        if remaining:
            stored["content-encoding"] = ", ".join(remaining)
        else:
            del stored["content-encoding"]
    content_type = headers.get("content-type") or DEFAULT_CONTENT_TYPE
    return ObjectAttributes(
        content_type,
        metadata,
        stored,
        tags=tags_from_header(headers.get(TAGGING_HEADER)),
        encryption=requested_encryption(headers),
        canned_acl=requested_acl(headers),
    )


def content_md5(headers: Mapping[str, str]) -> bytes | None:
    """The digest in Content-MD5, if any; InvalidDigest when it is not base64 of 16 bytes."""
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidDigest() from exc
    if len(digest) != 16:
        raise InvalidDigest()
    return digest


# The version's malware scan status on GET and HEAD (absent: written with scanning off).
SCAN_STATUS_HEADER = "x-gateway-scan-status"


def object_headers(obj: StoredObject, query: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers describing ``obj`` on GET and HEAD, with response-* overrides applied."""
    headers = {
        "ETag": f'"{obj.etag}"',
        "Last-Modified": http_date(obj.last_modified),
        "Content-Type": obj.attributes.content_type,
        "Accept-Ranges": "bytes",
    }
    for name, value in obj.attributes.headers.items():
        headers["-".join(part.capitalize() for part in name.split("-"))] = value
    for name, value in obj.attributes.user_metadata.items():
        headers[META_PREFIX + name] = value
    if obj.attributes.tags:
        headers["x-amz-tagging-count"] = str(len(obj.attributes.tags))
    headers.update(encryption_headers(obj.attributes.encryption))
    if obj.scan_status is not None:
        headers[SCAN_STATUS_HEADER] = obj.scan_status
    for parameter, header in OVERRIDES.items():
        if query and parameter in query:
            headers[header] = query[parameter]
    return headers


def written_headers(obj: StoredObject) -> dict[str, str]:
    """Headers answering a write (PutObject, UploadPart's object, Copy, Complete) of ``obj``:
    its version, checksum and encryption."""
    return {
        **version_headers(obj),
        **checksum_headers(obj.checksum),
        **encryption_headers(obj.attributes.encryption),
    }
