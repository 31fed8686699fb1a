"""PostObject: ``POST /bucket`` with an HTML form (multipart/form-data), as browsers upload.

The form authenticates itself: its policy is signed with the uploader's SigV4 key and
every condition is checked before the object is committed; the file streams into
storage as it arrives and is dropped if its size breaks ``content-length-range``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

from gateway.core.storage import Storage
from gateway.core.writer import Readable
from gateway.s3.call import MAX_PUT_SIZE
from gateway.s3.errors import (
    AccessDenied,
    EntityTooLarge,
    EntityTooSmall,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    MalformedPOSTRequest,
)
from gateway.s3.form import boundary_of, read_form
from gateway.s3.object_headers import attributes_from
from gateway.s3.post_policy import decode_policy, verify_signature
from gateway.s3.request import S3Request
from gateway.s3.response import Response
from gateway.s3.sigv4 import ALGORITHM, BoundedInput, parse_credential
from gateway.s3.xml import document


def is_form_upload(request: S3Request) -> bool:
    """``POST /bucket`` (no key, no sub-resource) with a multipart/form-data body."""
    return (
        request.method == "POST"
        and request.bucket is not None
        and request.key is None
        and not request.query
        and (request.header("content-type") or "").lower().startswith("multipart/form-data")
    )


class SizeLimited:
    """The file's bytes, failing EntityTooLarge past ``maximum`` and EntityTooSmall at the
    end below ``minimum``, so that a file of the wrong size is never committed."""

    def __init__(self, source: Readable, minimum: int, maximum: int) -> None:
        self._source = source
        self._minimum = minimum
        self._maximum = maximum
        self._received = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        self._received += len(data)
        if self._received > self._maximum:
            raise EntityTooLarge(MaxSizeAllowed=str(self._maximum))
        if not data and self._received < self._minimum:
            raise EntityTooSmall(
                MinSizeAllowed=str(self._minimum), ProposedSize=str(self._received)
            )
        return data


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None:
        raise InvalidArgument(
            f"Bucket POST must contain a field named '{name}'.  "
            "If it is specified, please check the order of the fields.",
            ArgumentName=name,
        )
    return value


def _success(fields: Mapping[str, str], bucket: str, key: str, etag: str) -> Response:
    location = f"/{bucket}/{key}"
    headers = {"ETag": f'"{etag}"', "Location": location}
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https"):
        parts = urlsplit(redirect)
        query = "&".join(
            part
            for part in (
                parts.query,
                urlencode({"bucket": bucket, "key": key, "etag": f'"{etag}"'}),
            )
            if part
        )
        headers["Location"] = urlunsplit(parts._replace(query=query))
        return Response(303, headers)
    status = fields.get("success_action_status", "204")
    if status == "201":
        root = document(
            "PostResponse",
            {"Location": location, "Bucket": bucket, "Key": key, "ETag": f'"{etag}"'},
        )
        response = Response.xml(root, 201)
        response.headers.update(headers)
        return response
    return Response(200 if status == "200" else 204, headers)


def PostObject(storage: Storage, request: S3Request, request_id: str) -> Response:
    """``POST /bucket``: store the form's file under its ``key`` field.

    ``${filename}`` in the key becomes the file's name. Answers 204 (or the
    ``success_action_status`` 200/201, or a 303 to ``success_action_redirect``).
    """
    assert request.bucket is not None
    boundary = boundary_of(request.header("content-type") or "")
    if boundary is None:
        raise MalformedPOSTRequest()
    length_header = request.header("content-length")
    content_length = int(length_header) if length_header and length_header.isdigit() else None
    stream: Readable = request.environ["wsgi.input"]
    if content_length is not None:
        stream = BoundedInput(stream, content_length)
    fields, upload = read_form(stream, boundary, content_length)
    key = _required(fields, "key")
    if "policy" not in fields:
        raise AccessDenied()
    if "x-amz-algorithm" not in fields and "awsaccesskeyid" in fields:
        raise InvalidRequest(
            "The authorization mechanism you have provided is not supported. "
            "Please use AWS4-HMAC-SHA256."
        )
    if _required(fields, "x-amz-algorithm") != ALGORITHM:
        raise InvalidRequest('x-amz-algorithm only supports "AWS4-HMAC-SHA256"')
    credential = parse_credential(_required(fields, "x-amz-credential"), InvalidArgument)
    found = storage.metadata.lookup_access_key(credential.access_key)
    if found is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=credential.access_key)
    access_key, user = found
    verify_signature(
        fields["policy"], _required(fields, "x-amz-signature"), access_key.secret, credential
    )
    policy = decode_policy(fields["policy"])
    policy.check({**fields, "bucket": request.bucket}, datetime.now(UTC))
    key = key.replace("${filename}", posixpath.basename(upload.filename.replace("\\", "/")))
    if not key:
        raise InvalidArgument("User key must have a length greater than 0.", ArgumentName="key")
    minimum, maximum = policy.length_range or (0, MAX_PUT_SIZE)
    headers = {name: value for name, value in fields.items() if name != "x-amz-acl"}
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    stored = storage.put_object(
        user,
        request.bucket,
        key,
        SizeLimited(upload.stream, minimum, min(maximum, MAX_PUT_SIZE)),
        attributes_from(headers),
        request.actor(request_id, user.id, access_key.access_key_id),
    )
    return _success(fields, request.bucket, key, stored.etag)
