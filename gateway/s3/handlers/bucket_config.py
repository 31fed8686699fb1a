"""Bucket and object access settings: CORS (?cors) and canned ACLs (?acl), and preflight."""

from __future__ import annotations

from collections.abc import Callable

from gateway.core import access
from gateway.core.bucket_access import Access
from gateway.core.storage import Storage
from gateway.records import StoredObject
from gateway.s3 import cors
from gateway.s3.acl import policy_document, requested_acl
from gateway.s3.call import Call
from gateway.s3.errors import (
    AccessForbidden,
    BadRequest,
    MethodNotAllowed,
    MissingSecurityHeader,
    NoSuchBucket,
    NoSuchCORSConfiguration,
    NotImplemented_,
)
from gateway.s3.request import S3Request
from gateway.s3.response import Response

NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution "
    "of Origin, request method / Access-Control-Request-Method or "
    "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
)


def PutBucketCors(call: Call) -> Response:
    """``PUT /bucket?cors``: replace the bucket's CORS configuration."""
    rules = cors.parse_configuration(call.read_document())
    access.set_bucket_cors(call.storage, call.user, call.bucket, cors.dumps(rules), call.actor)
    return Response(200)


def GetBucketCors(call: Call) -> Response:
    """``GET /bucket?cors``: the configuration; NoSuchCORSConfiguration when there is none."""
    bucket = call.storage.bucket(call.user, call.bucket, Access.OWNER)
    if bucket.cors is None:
        raise NoSuchCORSConfiguration(BucketName=call.bucket)
    return Response.xml(cors.configuration_document(cors.loads(bucket.cors)))


def DeleteBucketCors(call: Call) -> Response:
    """``DELETE /bucket?cors``: remove the configuration (204 even when there was none)."""
    access.set_bucket_cors(call.storage, call.user, call.bucket, None, call.actor)
    return Response(204)


def PreflightCors(storage: Storage, request: S3Request) -> Response:
    """``OPTIONS /bucket[/key]``: answer a browser's CORS preflight, without credentials.

    The first rule admitting Origin, Access-Control-Request-Method and every header of
    Access-Control-Request-Headers answers 200 with its CORS headers; otherwise 403
    AccessForbidden, as S3 does.
    """
    origin = request.header("origin")
    method = request.header("access-control-request-method")
    if not origin:
        raise BadRequest("Insufficient information. Origin request header needed.")
    if not method:
        raise BadRequest("Invalid Access-Control-Request-Method: null")
    if request.bucket is None:
        raise BadRequest("Insufficient information. A bucket is needed.")
    bucket = storage.metadata.get_bucket(request.bucket)
    if bucket is None:
        raise NoSuchBucket(BucketName=request.bucket)
    resource = "OBJECT" if request.key is not None else "BUCKET"
    if bucket.cors is None:
        raise AccessForbidden(NOT_ENABLED, Method=method, ResourceType=resource)
    wanted = cors.requested_headers(request.header("access-control-request-headers"))
    rule = cors.first_match(cors.loads(bucket.cors), origin, method, wanted)
    if rule is None:
        raise AccessForbidden(NOT_ALLOWED, Method=method, ResourceType=resource)
    return Response(200, cors.response_headers(rule, origin, wanted))


def _canned_acl(call: Call) -> str:
    """The canned ACL a PutBucketAcl/PutObjectAcl request sets; grant documents and
    headers are NotImplemented."""
    canned = requested_acl(call.request.headers)
    if call.read_document().strip():
        raise NotImplemented_(
            "Access control lists with explicit grants are not implemented; "
            "use the x-amz-acl header with private or public-read."
        )
    if "x-amz-acl" not in call.request.headers:
        raise MissingSecurityHeader(
            "Your request was missing a required header.", MissingHeaderName="x-amz-acl"
        )
    return canned


def GetBucketAcl(call: Call) -> Response:
    """``GET /bucket?acl``: the bucket's canned ACL as an AccessControlPolicy."""
    bucket = call.storage.bucket(call.user, call.bucket, Access.OWNER)
    return Response.xml(
        policy_document(str(call.user.id), call.user.name, access.bucket_acl(bucket))
    )


def PutBucketAcl(call: Call) -> Response:
    """``PUT /bucket?acl`` with ``x-amz-acl``: set the bucket's canned ACL (owner only)."""
    canned = _canned_acl(call)
    access.set_bucket_acl(call.storage, call.user, call.bucket, canned, call.actor)
    return Response(200)


def _version(call: Call) -> StoredObject:
    return call.storage.version(
        call.user, call.bucket, call.key, call.request.query.get("versionId")
    )


def GetObjectAcl(call: Call) -> Response:
    """``GET /bucket/key?acl``: the version's canned ACL as an AccessControlPolicy."""
    obj = _version(call)
    return Response.xml(
        policy_document(str(call.user.id), call.user.name, obj.attributes.canned_acl)
    )


def PutObjectAcl(call: Call) -> Response:
    """``PUT /bucket/key?acl`` with ``x-amz-acl``: set the version's canned ACL (owner only)."""
    canned = _canned_acl(call)
    obj = _version(call)
    access.set_object_acl(call.storage, call.user, call.bucket, obj, canned, call.actor)
    return Response(200)


# (sub-resource, addresses a key, method) -> operation served by this module.
ROUTES: dict[tuple[str, bool, str], tuple[str, Callable[[Call], Response]]] = {
    ("cors", False, "PUT"): ("PutBucketCors", PutBucketCors),
    ("cors", False, "GET"): ("GetBucketCors", GetBucketCors),
    ("cors", False, "DELETE"): ("DeleteBucketCors", DeleteBucketCors),
    ("acl", False, "PUT"): ("PutBucketAcl", PutBucketAcl),
    ("acl", False, "GET"): ("GetBucketAcl", GetBucketAcl),
    ("acl", True, "PUT"): ("PutObjectAcl", PutObjectAcl),
    ("acl", True, "GET"): ("GetObjectAcl", GetObjectAcl),
}


def route(request: S3Request) -> tuple[str, Callable[[Call], Response]] | None:
    """The ``?cors``/``?acl`` operation a request asks for; None when it asks none.

    MethodNotAllowed for another method on those sub-resources (and for ``?cors`` on a key).
    """
    for sub_resource in ("cors", "acl"):
        if sub_resource in request.query and request.bucket is not None:
            found = ROUTES.get((sub_resource, request.key is not None, request.method))
            if found is None:
                raise MethodNotAllowed()
            return found
    return None
