"""Bucket versioning operations: PutBucketVersioning, GetBucketVersioning,
ListObjectVersions."""

from __future__ import annotations

from gateway.core import versions
from gateway.core.bucket_access import Access
from gateway.errors import VersionNotFoundError
from gateway.s3.call import Call
from gateway.s3.errors import InvalidArgument
from gateway.s3.handlers.listing import _encoder, _max_keys
from gateway.s3.response import Response
from gateway.s3.versioning import checked_version_id, parse_configuration
from gateway.s3.xml import add, add_all, document


def PutBucketVersioning(call: Call) -> Response:
    """``PUT /bucket?versioning``: enable or suspend versioning (never MFA delete)."""
    status = parse_configuration(call.read_document(), call.request.header("x-amz-mfa"))
    if status is None:
        call.storage.bucket(call.user, call.bucket, Access.OWNER)
    else:
        versions.set_versioning(call.storage, call.user, call.bucket, status, call.actor)
    return Response(200)


def GetBucketVersioning(call: Call) -> Response:
    """``GET /bucket?versioning``: the status; an empty document if never enabled."""
    status = versions.versioning_status(call.storage, call.user, call.bucket)
    return Response.xml(document("VersioningConfiguration", {"Status": status or None}))


def ListObjectVersions(call: Call) -> Response:
    """``GET /bucket?versions``: versions and delete markers, by key then newest first."""
    query = call.request.query
    encode = _encoder(call)
    max_keys = _max_keys(call)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    key_marker = query.get("key-marker") or None
    version_marker = query.get("version-id-marker")
    if version_marker is not None:
        if key_marker is None:
            raise InvalidArgument(
                "A version-id marker cannot be specified without a key marker.",
                ArgumentName="version-id-marker",
            )
        version_marker = checked_version_id(version_marker)
    if max_keys == 0:
        call.storage.bucket(call.user, call.bucket, Access.READ)
        page = versions.VersionListing((), (), False, None, None)
    else:
        try:
            page = versions.list_versions(
                call.storage,
                call.user,
                call.bucket,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                version_marker=version_marker,
                max_keys=max_keys,
            )
        except VersionNotFoundError as exc:
            raise InvalidArgument(
                "Invalid version id specified", ArgumentName="version-id-marker"
            ) from exc
    root = document(
        "ListVersionsResult",
        {
            "Name": call.bucket,
            "Prefix": encode(prefix),
            "KeyMarker": encode(key_marker or ""),
            "VersionIdMarker": version_marker or "",
            "NextKeyMarker": encode(page.next_key) if page.next_key else None,
            "NextVersionIdMarker": page.next_version,
            "MaxKeys": max_keys,
            "Delimiter": encode(delimiter) if delimiter else None,
            "IsTruncated": page.is_truncated,
        },
    )
    owner = {"ID": str(call.user.id), "DisplayName": call.user.name}
    for found in page.versions:
        entry = add(root, "DeleteMarker" if found.is_delete_marker else "Version")
        add_all(
            entry,
            {
                "Key": encode(found.key),
                "VersionId": found.public_version_id,
                "IsLatest": found.is_latest,
                "LastModified": found.last_modified,
            },
        )
        if not found.is_delete_marker:
            add_all(entry, {"ETag": f'"{found.etag}"', "Size": found.size})
            add(entry, "StorageClass", "STANDARD")
        add_all(add(entry, "Owner"), owner)
    for common in page.common_prefixes:
        add(add(root, "CommonPrefixes"), "Prefix", encode(common))
    add_all(root, {"EncodingType": query.get("encoding-type")})
    return Response.xml(root)
