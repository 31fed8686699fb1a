"""Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts."""

from __future__ import annotations

from gateway.core.storage import MAX_PART_NUMBER, CompletedPart
from gateway.s3.call import MAX_PUT_SIZE, Call
from gateway.s3.checksums import CHECKSUM_HEADER_PREFIX, RunningChecksum, new_running_checksum
from gateway.s3.conditional_writes import write_condition
from gateway.s3.copy_source import (
    RANGE_HEADER,
    check_copy_source_conditions,
    copy_source,
    copy_source_range,
    copy_source_version,
)
from gateway.s3.encryption import encryption_headers
from gateway.s3.errors import InvalidArgument, InvalidRequest, MalformedXML, NotImplemented_
from gateway.s3.object_checksums import (
    body_checksum,
    check_part_checksum,
    checksum_fields,
    completed_part_checksum,
    part_fields,
    upload_checksum,
    upload_headers,
)
from gateway.s3.object_headers import attributes_from, content_md5, written_headers
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
    algorithm, checksum_type = upload_checksum(call.request.headers)
    upload = call.storage.create_upload(
        call.user,
        call.bucket,
        call.key,
        attributes_from(call.request.headers),
        call.actor,
        checksum_algorithm=algorithm,
        checksum_type=checksum_type,
    )
    root = document(
        "InitiateMultipartUploadResult",
        {"Bucket": call.bucket, "Key": call.key, "UploadId": upload.upload_id},
    )
    response = Response.xml(root)
    response.headers.update(upload_headers(upload))
    response.headers.update(encryption_headers(upload.attributes.encryption))
    return response


def UploadPart(call: Call) -> Response:
    """``PUT /bucket/key?partNumber=N&uploadId=ID``: store one part (1 <= N <= 10000)."""
    part_number = _integer(call, "partNumber", 0, 1, MAX_PART_NUMBER)
    length = call.upload_length()
    upload = call.storage.upload(call.user, call.bucket, call.key, _upload_id(call))
    check_part_checksum(upload, call.request.headers)
    part = call.storage.upload_part(
        call.user,
        call.bucket,
        call.key,
        _upload_id(call),
        part_number,
        call.body,
        length=length,
        expected_md5=content_md5(call.request.headers),
        body_checksum=body_checksum(call.body),
    )
    headers = {"ETag": f'"{part.etag}"', **encryption_headers(upload.attributes.encryption)}
    if part.checksum is not None:
        headers[CHECKSUM_HEADER_PREFIX + part.checksum.algorithm] = part.checksum.value
    return Response(200, headers)


def _running_digest(algorithm: str) -> RunningChecksum:
    running = new_running_checksum(algorithm)
    if running is None:
        raise NotImplemented_(f"The {algorithm} checksum is not available on this server.")
    return running


def UploadPartCopy(call: Call) -> Response:
    """``PUT /bucket/key?partNumber=N&uploadId=ID`` with ``x-amz-copy-source``: a part
    made of (a range of) a stored object, sharing its chunks (see ``core.part_copy``)."""
    part_number = _integer(call, "partNumber", 0, 1, MAX_PART_NUMBER)
    upload = call.storage.upload(call.user, call.bucket, call.key, _upload_id(call))
    source_bucket, source_key, source_version = copy_source(call)
    source = copy_source_version(call, source_bucket, source_key, source_version)
    check_copy_source_conditions(call, source)
    start, end = copy_source_range(call.request.header(RANGE_HEADER), source.size)
    if end - start > MAX_PUT_SIZE:
        raise InvalidRequest(
            "The specified copy source is larger than the maximum allowable size for a "
            f"copy source: {MAX_PUT_SIZE}"
        )
    part = call.storage.upload_part_copy(
        call.user,
        call.bucket,
        call.key,
        _upload_id(call),
        part_number,
        source,
        start,
        end,
        new_digest=_running_digest,
    )
    root = document("CopyPartResult", {"LastModified": part.last_modified})
    add(root, "ETag", f'"{part.etag}"')
    add_all(root, part_fields(part.checksum))
    response = Response.xml(root)
    response.headers.update(encryption_headers(upload.attributes.encryption))
    if source.versioned:
        response.headers["x-amz-copy-source-version-id"] = source.public_version_id
    return response


def CompleteMultipartUpload(call: Call) -> Response:
    """``POST /bucket/key?uploadId=ID``: join the listed parts into the object."""
    condition = write_condition(call.request.headers)
    request = parse(call.read_document(), "CompleteMultipartUpload")
    upload = call.storage.upload(call.user, call.bucket, call.key, _upload_id(call))
    requested: list[CompletedPart] = []
    for item in children(request, "Part"):
        number, etag = child_text(item, "PartNumber"), child_text(item, "ETag")
        number, etag = (number or "").strip(), (etag or "").strip()
        if not etag or not number.isdigit():
            raise MalformedXML("Each Part needs a PartNumber and an ETag.")
        checksum = completed_part_checksum(upload, item, int(number))
        requested.append(CompletedPart(int(number), etag, checksum))
    if not requested:
        raise MalformedXML()
    stored = call.storage.complete_upload(
        call.user,
        call.bucket,
        call.key,
        _upload_id(call),
        requested,
        call.actor,
        condition=condition,
    )
    root = document(
        "CompleteMultipartUploadResult",
        {"Location": f"/{call.bucket}/{call.key}", "Bucket": call.bucket, "Key": call.key},
    )
    add(root, "ETag", f'"{stored.etag}"')
    add_all(root, checksum_fields(stored.checksum))
    response = Response.xml(root)
    response.headers.update(written_headers(stored))
    return response


def AbortMultipartUpload(call: Call) -> Response:
    """``DELETE /bucket/key?uploadId=ID``: discard the upload and its parts."""
    call.storage.abort_upload(call.user, call.bucket, call.key, _upload_id(call), call.actor)
    return Response(204)


def ListParts(call: Call) -> Response:
    """``GET /bucket/key?uploadId=ID``: the parts so far, after ``part-number-marker``."""
    marker = _integer(call, "part-number-marker", 0, 0, MAX_PART_NUMBER)
    max_parts = _integer(call, "max-parts", MAX_PARTS_LISTED, 0, 2**31 - 1)
    max_parts = min(max_parts, MAX_PARTS_LISTED)
    upload = call.storage.upload(call.user, call.bucket, call.key, _upload_id(call))
    parts = call.storage.list_parts(
        call.user, call.bucket, call.key, _upload_id(call), after=marker, limit=max_parts + 1
    )
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
            "ChecksumAlgorithm": (upload.checksum_algorithm or "").upper() or None,
            "ChecksumType": upload.checksum_type,
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
                **part_fields(part.checksum),
            },
        )
    return Response.xml(root)
