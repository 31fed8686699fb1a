"""Object operations: PutObject, GetObject, HeadObject, DeleteObject(s), CopyObject."""

from __future__ import annotations

from dataclasses import replace

from gateway.core import versions
from gateway.core.bucket_access import Access
from gateway.errors import GatewayError
from gateway.records import ObjectAttributes, StoredObject
from gateway.s3.acl import requested_acl
from gateway.s3.call import Call
from gateway.s3.conditional_writes import write_condition
from gateway.s3.conditions import Outcome, evaluate
from gateway.s3.copy_source import (
    check_copy_source_conditions,
    copy_source,
    copy_source_version,
)
from gateway.s3.encryption import requested_encryption
from gateway.s3.errormap import to_s3_error
from gateway.s3.errors import (
    InvalidArgument,
    InvalidRange,
    InvalidRequest,
    MalformedXML,
    NotModified,
    PreconditionFailed,
    S3Error,
)
from gateway.s3.object_checksums import (
    body_checksum,
    checksum_fields,
    checksum_headers,
    checksum_requested,
)
from gateway.s3.object_headers import (
    attributes_from,
    content_md5,
    object_headers,
    written_headers,
)
from gateway.s3.part_read import PART_NUMBER, part_range
from gateway.s3.ranges import ByteRange, UnsatisfiableRange, parse_range
from gateway.s3.response import Response, started
from gateway.s3.tagging import tags_for_copy
from gateway.s3.versioning import (
    checked_version_id,
    deleted_entry,
    deletion_headers,
    requested_version,
    version_headers,
)
from gateway.s3.xml import add, add_all, child_text, children, document, parse

MAX_DELETE_KEYS = 1000


def PutObject(call: Call) -> Response:
    """``PUT /bucket/key``: store the body as the key's new version."""
    length = call.upload_length()
    stored = call.storage.put_object(
        call.user,
        call.bucket,
        call.key,
        call.body,
        attributes_from(call.request.headers),
        call.actor,
        length=length,
        expected_md5=content_md5(call.request.headers),
        body_checksum=body_checksum(call.body),
        condition=write_condition(call.request.headers),
    )
    return Response(200, {"ETag": f'"{stored.etag}"', **written_headers(stored)})


def _check_preconditions(call: Call, obj: StoredObject) -> None:
    outcome = evaluate(call.request.headers, obj.etag, obj.last_modified)
    if outcome is Outcome.PRECONDITION_FAILED:
        raise PreconditionFailed(Condition="If-Match")
    if outcome is Outcome.NOT_MODIFIED:
        raise NotModified()


def _requested_range(call: Call, obj: StoredObject) -> ByteRange | None:
    """The range the Range header selects; None for the whole object."""
    try:
        return parse_range(call.request.header("range"), obj.size)
    except UnsatisfiableRange as exc:
        raise InvalidRange(ActualObjectSize=str(obj.size), RangeRequested=str(exc)) from exc


def HeadObject(call: Call) -> Response:
    """``HEAD /bucket/key``: the object's headers, as GetObject would send them."""
    return GetObject(call)


def GetObject(call: Call) -> Response:
    """``GET /bucket/key``: the object's bytes (of the current version, or of the one
    ``versionId`` names), whole or one range, streamed."""
    version_id = requested_version(call.request.query)
    obj = (
        call.storage.head_object(call.user, call.bucket, call.key)
        if version_id is None
        else call.storage.version(call.user, call.bucket, call.key, version_id)
    )
    try:
        _check_preconditions(call, obj)
    except NotModified:
        headers = object_headers(obj)
        return Response(304, {"ETag": headers["ETag"], "Last-Modified": headers["Last-Modified"]})
    headers = object_headers(obj, call.request.query)
    headers.update(version_headers(obj))
    if PART_NUMBER in call.request.query:
        selected, part_headers = part_range(call.request.query, call.request.header("range"), obj)
        headers.update(part_headers)
    else:
        selected = _requested_range(call, obj)
    if selected is None:
        if checksum_requested(call.request.headers):
            headers.update(checksum_headers(obj.checksum))
        headers["Content-Length"] = str(obj.size)
        if call.request.method != "GET" or not obj.size:
            return Response(200, headers)
        return Response(200, headers, started(call.storage.read_range(obj, 0, obj.size)))
    headers["Content-Length"] = str(selected.length)
    headers["Content-Range"] = selected.content_range
    if call.request.method != "GET":
        return Response(206, headers)
    return Response(
        206, headers, started(call.storage.read_range(obj, selected.start, selected.end))
    )


def _delete(call: Call, key: str, version_id: str | None) -> StoredObject | None:
    """Delete ``key`` (a delete marker with versioning), or remove one version of it."""
    if version_id is None:
        return call.storage.delete_object(call.user, call.bucket, key, call.actor)
    return versions.delete_version(
        call.storage, call.user, call.bucket, key, checked_version_id(version_id), call.actor
    )


def DeleteObject(call: Call) -> Response:
    """``DELETE /bucket/key[?versionId=]``: 204 whether or not the key or version existed."""
    version_id = requested_version(call.request.query)
    return Response(204, deletion_headers(_delete(call, call.key, version_id), version_id))


def DeleteObjects(call: Call) -> Response:
    """``POST /bucket?delete``: delete up to 1000 keys, reporting each result."""
    request = parse(call.read_document(), "Delete")
    quiet = (child_text(request, "Quiet") or "").strip().lower() == "true"
    items = [
        (child_text(item, "Key"), child_text(item, "VersionId"))
        for item in children(request, "Object")
    ]
    if not items or len(items) > MAX_DELETE_KEYS:
        raise MalformedXML("A Delete request names between 1 and 1000 objects.")
    call.storage.bucket(call.user, call.bucket, Access.WRITE)
    root = document("DeleteResult")
    for key, version_id in items:
        try:
            if not key:
                raise InvalidArgument("The key must not be empty.")
            removed = _delete(call, key, version_id)
        except (S3Error, GatewayError) as exc:
            error = exc if isinstance(exc, S3Error) else to_s3_error(exc)
            add_all(
                add(root, "Error"),
                {
                    "Key": key or "",
                    "VersionId": version_id,
                    "Code": error.code,
                    "Message": error.message,
                },
            )
            continue
        if not quiet:
            add_all(add(root, "Deleted"), deleted_entry(key, removed, version_id))
    return Response.xml(root)


def CopyObject(call: Call) -> Response:
    """``PUT /bucket/key`` with ``x-amz-copy-source``: a metadata-only copy.

    The copy shares the source's chunks; no byte is read or written. The metadata
    directive COPY (default) keeps the source's attributes, REPLACE takes the request's.
    """
    source_bucket, source_key, source_version = copy_source(call)
    directive = (call.request.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.")
    source = copy_source_version(call, source_bucket, source_key, source_version)
    check_copy_source_conditions(call, source)
    attributes: ObjectAttributes | None = None
    if directive == "REPLACE":
        attributes = attributes_from(call.request.headers)
    elif (source_bucket, source_key, source_version) == (call.bucket, call.key, None):
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes."
        )
    if attributes is None:
        # The copy keeps the source's metadata but, as in S3, not its ACL.
        attributes = replace(source.attributes, canned_acl=requested_acl(call.request.headers))
    attributes = replace(
        attributes,
        tags=tags_for_copy(source.attributes.tags, call.request.headers),
        encryption=requested_encryption(call.request.headers),
    )
    copied = call.storage.copy_object(
        call.user, source, call.bucket, call.key, attributes, call.actor
    )
    root = document("CopyObjectResult", {"LastModified": copied.last_modified})
    add(root, "ETag", f'"{copied.etag}"')
    add_all(root, checksum_fields(copied.checksum))
    response = Response.xml(root)
    response.headers.update(written_headers(copied))
    if source.versioned:
        response.headers["x-amz-copy-source-version-id"] = source.public_version_id
    return response
