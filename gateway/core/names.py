"""Naming rules for buckets and keys (S3's, which WebDAV paths map onto)."""

from __future__ import annotations

import ipaddress
import re

from gateway.errors import InvalidBucketNameError, InvalidKeyError, KeyTooLongError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024


def check_bucket_name(name: str) -> None:
    """Raise InvalidBucketNameError unless ``name`` follows S3's bucket naming rules.

    3-63 characters of lower-case letters, digits, dots and hyphens; starts and ends
    with a letter or digit; no two adjacent dots; not an IPv4 address; none of the
    prefixes and suffixes AWS reserves.
    """
    if not _BUCKET.match(name) or ".." in name or ".-" in name or "-." in name:
        raise InvalidBucketNameError(f"invalid bucket name {name!r}")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        raise InvalidBucketNameError("a bucket name must not look like an IP address")
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        raise InvalidBucketNameError(f"bucket name {name!r} uses a reserved prefix or suffix")


def check_key(key: str) -> None:
    """Raise InvalidKeyError (KeyTooLongError) unless ``key`` is a usable object key.

    Non-empty, at most 1024 bytes of UTF-8, valid Unicode (no lone surrogates), no NUL.
    """
    if not key:
        raise InvalidKeyError("the key must not be empty")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidKeyError("the key is not valid UTF-8") from exc
    if len(encoded) > MAX_KEY_BYTES:
        raise KeyTooLongError("the key is longer than 1024 bytes")
    if "\x00" in key:
        raise InvalidKeyError("the key must not contain NUL")


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into in a listing of ``prefix`` grouped at
    ``delimiter`` (up to and including its first ``delimiter`` after ``prefix``), or None."""
    if not delimiter:
        return None
    position = key.find(delimiter, len(prefix))
    return None if position < 0 else key[: position + len(delimiter)]


def key_successor(prefix: str) -> str | None:
    """The smallest key greater than every key starting with ``prefix`` (None: none exists)."""
    for index in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[index])
        if code < 0x10FFFF:
            return prefix[:index] + chr(code + 1)
    return None
