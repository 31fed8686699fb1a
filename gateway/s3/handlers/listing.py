"""Listing operations: ListObjects (V1), ListObjectsV2, ListMultipartUploads."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from urllib.parse import quote
from xml.etree.ElementTree import Element

from gateway.core.bucket_access import Access
from gateway.core.storage import Listing
from gateway.records import StoredObject
from gateway.s3.call import Call
from gateway.s3.errors import InvalidArgument
from gateway.s3.response import Response
from gateway.s3.xml import add, add_all, document

MAX_KEYS = 1000


def _max_keys(call: Call, name: str = "max-keys") -> int:
    raw = call.request.query.get(name, str(MAX_KEYS))
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidArgument(f"Provided {name} not an integer or within integer range") from exc
    if value < 0:
        raise InvalidArgument(f"Argument {name} must be an integer between 0 and 2147483647")
    return min(value, MAX_KEYS)


def _encoder(call: Call) -> Callable[[str], str]:
    """Identity, or URL-encoding when the client asked for ``encoding-type=url``."""
    encoding = call.request.query.get("encoding-type")
    if encoding is None:
        return lambda text: text
    if encoding != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    return lambda text: quote(text, safe="/")


def _listing(call: Call, after: str | None, max_keys: int) -> Listing:
    query = call.request.query
    if max_keys == 0:
        call.storage.bucket(call.user, call.bucket, Access.READ)
        return Listing((), (), False, None)
    return call.storage.list_objects(
        call.user,
        call.bucket,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        after=after,
        max_keys=max_keys,
    )


def _add_entries(
    root: Element,
    listing: Listing,
    encode: Callable[[str], str],
    owner: tuple[str, str] | None,
) -> None:
    for obj in listing.objects:
        _add_object(root, obj, encode, owner)
    for common in listing.common_prefixes:
        add(add(root, "CommonPrefixes"), "Prefix", encode(common))


def _add_object(
    root: Element, obj: StoredObject, encode: Callable[[str], str], owner: tuple[str, str] | None
) -> None:
    contents = add_all(
        add(root, "Contents"),
        {
            "Key": encode(obj.key),
            "LastModified": obj.last_modified,
            "ETag": f'"{obj.etag}"',
            "Size": obj.size,
            "StorageClass": "STANDARD",
        },
    )
    if owner is not None:
        add_all(add(contents, "Owner"), {"ID": owner[0], "DisplayName": owner[1]})


def ListObjects(call: Call) -> Response:
    """``GET /bucket``: version 1 listing, paged by ``marker``."""
    query = call.request.query
    encode = _encoder(call)
    max_keys = _max_keys(call)
    marker = query.get("marker") or None
    listing = _listing(call, marker, max_keys)
    delimiter = query.get("delimiter")
    root = document(
        "ListBucketResult",
        {
            "Name": call.bucket,
            "Prefix": encode(query.get("prefix", "")),
            "Marker": encode(marker or ""),
            "MaxKeys": max_keys,
            "Delimiter": encode(delimiter) if delimiter else None,
            "IsTruncated": listing.is_truncated,
            "NextMarker": encode(listing.next_after)
            if listing.is_truncated and listing.next_after
            else None,
            "EncodingType": query.get("encoding-type"),
        },
    )
    _add_entries(root, listing, encode, (str(call.user.id), call.user.name))
    return Response.xml(root)


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode()


def _decode_token(token: str) -> str:
    """The position a token names; InvalidArgument for anything this gateway did not issue."""
    try:
        after = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidArgument("The continuation token provided is incorrect") from exc
    if not after:
        raise InvalidArgument("The continuation token provided is incorrect")
    return after


def ListObjectsV2(call: Call) -> Response:
    """``GET /bucket?list-type=2``: version 2 listing, paged by continuation token."""
    query = call.request.query
    encode = _encoder(call)
    max_keys = _max_keys(call)
    token = query.get("continuation-token")
    start_after = query.get("start-after") or None
    after = _decode_token(token) if token is not None else start_after
    listing = _listing(call, after, max_keys)
    delimiter = query.get("delimiter")
    root = document(
        "ListBucketResult",
        {
            "Name": call.bucket,
            "Prefix": encode(query.get("prefix", "")),
            "KeyCount": len(listing.objects) + len(listing.common_prefixes),
            "MaxKeys": max_keys,
            "Delimiter": encode(delimiter) if delimiter else None,
            "IsTruncated": listing.is_truncated,
            "ContinuationToken": token,
            "NextContinuationToken": _encode_token(listing.next_after)
            if listing.is_truncated and listing.next_after
            else None,
            "StartAfter": encode(start_after) if start_after else None,
            "EncodingType": query.get("encoding-type"),
        },
    )
    owner = (str(call.user.id), call.user.name) if query.get("fetch-owner") == "true" else None
    _add_entries(root, listing, encode, owner)
    return Response.xml(root)


def ListMultipartUploads(call: Call) -> Response:
    """``GET /bucket?uploads``: uploads in progress under ``prefix`` after the markers, by
    key then start time, grouped at ``delimiter``; paged in the database."""
    query = call.request.query
    encode = _encoder(call)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_uploads = _max_keys(call, "max-uploads")
    key_marker, upload_id_marker = query.get("key-marker", ""), query.get("upload-id-marker", "")
    listing = call.storage.list_uploads(
        call.user,
        call.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        max_uploads=max_uploads,
    )
    root = document(
        "ListMultipartUploadsResult",
        {
            "Bucket": call.bucket,
            "KeyMarker": encode(key_marker),
            "UploadIdMarker": upload_id_marker,
            "NextKeyMarker": encode(listing.next_key) if listing.next_key else None,
            "NextUploadIdMarker": listing.next_upload_id,
            "Prefix": encode(prefix),
            "Delimiter": encode(delimiter) if delimiter else None,
            "MaxUploads": max_uploads,
            "IsTruncated": listing.is_truncated,
            "EncodingType": query.get("encoding-type"),
        },
    )
    owner = {"ID": str(call.user.id), "DisplayName": call.user.name}
    for upload in listing.uploads:
        entry = add_all(
            add(root, "Upload"), {"Key": encode(upload.key), "UploadId": upload.upload_id}
        )
        add_all(add(entry, "Initiator"), owner)
        add_all(add(entry, "Owner"), owner)
        add_all(entry, {"StorageClass": "STANDARD", "Initiated": upload.created_at})
    for common in listing.common_prefixes:
        add_all(add(root, "CommonPrefixes"), {"Prefix": encode(common)})
    return Response.xml(root)
