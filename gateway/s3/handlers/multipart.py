"""Multipart uploads: Create, UploadPart, Complete, Abort, ListParts."""

from __future__ import annotations

from gateway.core.storage import MAX_PART_NUMBER, CompletedPart
from gateway.s3.call import Call
from gateway.s3.errors import InvalidArgument, MalformedXML, NotImplemented_
from gateway.s3.object_headers import attributes_from, content_md5
from gateway.s3.response import Response
from gateway.s3.xml import add, add_all, child_text, children, document, parse

MAX_PARTS_LISTED = 1000


def _upload_id(call: Call) -> str:
    return call.request.query.get("uploadId", "")


def _integer(call: Call, name: str, default: int, low: int, high: int) -> int:
    raw = call.request.query.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError as exc:
        raise InvalidArgument(f"{name} must be an integer.") from exc
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be an integer between {low} and {high}.")
    return value


def CreateMultipartUpload(call: Call) -> Response:
    """``POST /bucket/key?uploads``: start an upload, taking the object's attributes now."""
    upload = call.storage.create_upload(
        call.user, call.bucket, call.key, attributes_from(call.request.headers), call.actor
    )
    root = document(
        "InitiateMultipartUploadResult",
        {"Bucket": call.bucket, "Key": call.key, "UploadId": upload.upload_id},
    )
    return Response.xml(root)


def UploadPart(call: Call) -> Response:
    """``PUT /bucket/key?partNumber=N&uploadId=ID``: store one part (1 <= N <= 10000)."""
    if call.request.header("x-amz-copy-source"):
        raise NotImplemented_("UploadPartCopy is not implemented.")
    part_number = _integer(call, "partNumber", 0, 1, MAX_PART_NUMBER)
    length = call.upload_length()
    part = call.storage.upload_part(
        call.user,
        call.bucket,
        call.key,
        _upload_id(call),
        part_number,
        call.body,
        length=length,
        expected_md5=content_md5(call.request.headers),
    )
    return Response(200, {"ETag": f'"{part.etag}"'})


def CompleteMultipartUpload(call: Call) -> Response:
    """``POST /bucket/key?uploadId=ID``: join the listed parts into the object."""
    request = parse(call.read_document(), "CompleteMultipartUpload")
    requested: list[CompletedPart] = []
    for item in children(request, "Part"):
        number, etag = child_text(item, "PartNumber"), child_text(item, "ETag")
        number, etag = (number or "").strip(), (etag or "").strip()
        if not etag or not number.isdigit():
            raise MalformedXML("Each Part needs a PartNumber and an ETag.")
        requested.append(CompletedPart(int(number), etag))
    stored = call.storage.complete_upload(
        call.user, call.bucket, call.key, _upload_id(call), requested, call.actor
    )
    root = document(
        "CompleteMultipartUploadResult",
        {"Location": f"/{call.bucket}/{call.key}", "Bucket": call.bucket, "Key": call.key},
    )
    add(root, "ETag", f'"{stored.etag}"')
    return Response.xml(root)


def AbortMultipartUpload(call: Call) -> Response:
    """``DELETE /bucket/key?uploadId=ID``: discard the upload and its parts."""
    call.storage.abort_upload(call.user, call.bucket, call.key, _upload_id(call), call.actor)
    return Response(204)


def ListParts(call: Call) -> Response:
    """``GET /bucket/key?uploadId=ID``: the parts so far, after ``part-number-marker``."""
    marker = _integer(call, "part-number-marker", 0, 0, MAX_PART_NUMBER)
    max_parts = _integer(call, "max-parts", MAX_PARTS_LISTED, 0, 2**31 - 1)
    max_parts = min(max_parts, MAX_PARTS_LISTED)
    parts = [
        p
        for p in call.storage.list_parts(call.user, call.bucket, call.key, _upload_id(call))
        if p.part_number > marker
    ]
    page, truncated = parts[:max_parts], len(parts) > max_parts
    root = document(
        "ListPartsResult",
        {
            "Bucket": call.bucket,
            "Key": call.key,
            "UploadId": _upload_id(call),
            "PartNumberMarker": marker,
            "NextPartNumberMarker": page[-1].part_number if page else marker,
            "MaxParts": max_parts,
            "IsTruncated": truncated,
            "StorageClass": "STANDARD",
        },
    )
    owner = {"ID": str(call.user.id), "DisplayName": call.user.name}
    add_all(add(root, "Initiator"), owner)
    add_all(add(root, "Owner"), owner)
    for part in page:
        add_all(
            add(root, "Part"),
            {
                "PartNumber": part.part_number,
                "LastModified": part.last_modified,
                "ETag": f'"{part.etag}"',
                "Size": part.size,
            },
        )
    return Response.xml(root)
