"""Object operations: PutObject, GetObject, HeadObject, DeleteObject(s), CopyObject."""

from __future__ import annotations

from urllib.parse import unquote

from gateway.errors import GatewayError
from gateway.records import ObjectAttributes, StoredObject
from gateway.s3.call import Call
from gateway.s3.conditions import Outcome, evaluate
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
from gateway.s3.object_headers import attributes_from, content_md5, object_headers
from gateway.s3.ranges import UnsatisfiableRange, parse_range
from gateway.s3.response import Response
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
    )
    return Response(200, {"ETag": f'"{stored.etag}"'})


def _check_preconditions(call: Call, obj: StoredObject) -> None:
    outcome = evaluate(call.request.headers, obj.etag, obj.last_modified)
    if outcome is Outcome.PRECONDITION_FAILED:
        raise PreconditionFailed(Condition="If-Match")
    if outcome is Outcome.NOT_MODIFIED:
        raise NotModified()


def HeadObject(call: Call) -> Response:
    """``HEAD /bucket/key``: the object's headers, as GetObject would send them."""
    return GetObject(call)


def GetObject(call: Call) -> Response:
    """``GET /bucket/key``: the object's bytes, whole or one range, streamed."""
    obj = call.storage.head_object(call.user, call.bucket, call.key)
    try:
        _check_preconditions(call, obj)
    except NotModified:
        headers = object_headers(obj)
        return Response(304, {"ETag": headers["ETag"], "Last-Modified": headers["Last-Modified"]})
    headers = object_headers(obj, call.request.query)
    try:
        selected = parse_range(call.request.header("range"), obj.size)
    except UnsatisfiableRange as exc:
        raise InvalidRange(ActualObjectSize=str(obj.size), RangeRequested=str(exc)) from exc
    if selected is None:
        headers["Content-Length"] = str(obj.size)
        body = call.storage.read_range(obj, 0, obj.size) if call.request.method == "GET" else b""
        return Response(200, headers, body if obj.size else b"")
    headers["Content-Length"] = str(selected.length)
    headers["Content-Range"] = selected.content_range
    if call.request.method != "GET":
        return Response(206, headers)
    return Response(206, headers, call.storage.read_range(obj, selected.start, selected.end))


def DeleteObject(call: Call) -> Response:
    """``DELETE /bucket/key``: 204 whether or not the key existed."""
    call.storage.delete_object(call.user, call.bucket, call.key, call.actor)
    return Response(204)


def DeleteObjects(call: Call) -> Response:
    """``POST /bucket?delete``: delete up to 1000 keys, reporting each result."""
    request = parse(call.read_document(), "Delete")
    quiet = (child_text(request, "Quiet") or "").strip().lower() == "true"
    keys = [child_text(item, "Key") for item in children(request, "Object")]
    if not keys or len(keys) > MAX_DELETE_KEYS:
        raise MalformedXML("A Delete request names between 1 and 1000 objects.")
    call.storage.bucket(call.user, call.bucket)
    root = document("DeleteResult")
    for key in keys:
        try:
            if not key:
                raise InvalidArgument("The key must not be empty.")
            call.storage.delete_object(call.user, call.bucket, key, call.actor)
        except (S3Error, GatewayError) as exc:
            error = exc if isinstance(exc, S3Error) else to_s3_error(exc)
            add_all(
                add(root, "Error"), {"Key": key or "", "Code": error.code, "Message": error.message}
            )
            continue
        if not quiet:
            add_all(add(root, "Deleted"), {"Key": key})
    return Response.xml(root)


def _copy_source(call: Call) -> tuple[str, str]:
    raw = call.request.header("x-amz-copy-source", "") or ""
    path = unquote(raw.partition("?")[0]).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )
    if "versionId=" in raw.partition("?")[2]:
        raise InvalidArgument("This gateway does not keep object versions.")
    return bucket, key


def CopyObject(call: Call) -> Response:
    """``PUT /bucket/key`` with ``x-amz-copy-source``: a metadata-only copy.

    The copy shares the source's chunks; no byte is read or written. The metadata
    directive COPY (default) keeps the source's attributes, REPLACE takes the request's.
    """
    source_bucket, source_key = _copy_source(call)
    directive = (call.request.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.")
    source = call.storage.head_object(call.user, source_bucket, source_key)
    outcome = evaluate(
        call.request.headers,
        source.etag,
        source.last_modified,
        prefix="x-amz-copy-source-if-",
        safe_method=False,
    )
    if outcome is not Outcome.PROCEED:
        raise PreconditionFailed(Condition="x-amz-copy-source-If")
    attributes: ObjectAttributes | None = None
    if directive == "REPLACE":
        attributes = attributes_from(call.request.headers)
    elif (source_bucket, source_key) == (call.bucket, call.key):
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes."
        )
    copied = call.storage.copy_object(
        call.user, source, call.bucket, call.key, attributes, call.actor
    )
    root = document("CopyObjectResult", {"LastModified": copied.last_modified})
    add(root, "ETag", f'"{copied.etag}"')
    return Response.xml(root)
