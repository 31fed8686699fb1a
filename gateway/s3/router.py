"""Which S3 operation a request asks for: by method, addressing and sub-resource."""

from __future__ import annotations

from collections.abc import Callable

from gateway.s3.call import Call
from gateway.s3.errors import MethodNotAllowed, NotImplemented_
from gateway.s3.handlers import buckets, listing, multipart, objects
from gateway.s3.request import S3Request
from gateway.s3.response import Response

Handler = Callable[[Call], Response]

# Sub-resources S3 knows that this gateway does not implement: answered NotImplemented
# rather than mistaken for a plain bucket or object request.
UNSUPPORTED = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering",
        "inventory", "legal-hold", "lifecycle", "logging", "metrics", "notification",
        "object-lock", "ownershipControls", "policy", "policyStatus", "publicAccessBlock",
        "replication", "requestPayment", "restore", "retention", "select", "tagging",
        "torrent", "versions", "website", "attributes",
    }
)  # fmt: skip


def route(request: S3Request) -> tuple[str, Handler]:
    """The operation's name and handler; MethodNotAllowed or NotImplemented otherwise."""
    query, method = request.query, request.method
    unsupported = UNSUPPORTED.intersection(query)
    if unsupported:
        raise NotImplemented_(f"The {sorted(unsupported)[0]} sub-resource is not implemented.")
    if request.bucket is None:
        if method == "GET":
            return "ListBuckets", buckets.ListBuckets
        raise MethodNotAllowed()
    if request.key is None:
        table: dict[str, tuple[str, Handler]] = {
            "PUT": ("CreateBucket", buckets.CreateBucket),
            "HEAD": ("HeadBucket", buckets.HeadBucket),
            "DELETE": ("DeleteBucket", buckets.DeleteBucket),
        }
        if method == "GET":
            if "location" in query:
                return "GetBucketLocation", buckets.GetBucketLocation
            if "versioning" in query:
                return "GetBucketVersioning", buckets.GetBucketVersioning
            if "uploads" in query:
                return "ListMultipartUploads", listing.ListMultipartUploads
            if query.get("list-type") == "2":
                return "ListObjectsV2", listing.ListObjectsV2
            return "ListObjects", listing.ListObjects
        if method == "POST" and "delete" in query:
            return "DeleteObjects", objects.DeleteObjects
        if method in table:
            return table[method]
        raise MethodNotAllowed()
    upload = "uploadId" in query
    if method == "PUT":
        if upload or "partNumber" in query:
            return "UploadPart", multipart.UploadPart
        if request.header("x-amz-copy-source"):
            return "CopyObject", objects.CopyObject
        return "PutObject", objects.PutObject
    if method == "GET":
        return ("ListParts", multipart.ListParts) if upload else ("GetObject", objects.GetObject)
    if method == "HEAD":
        return "HeadObject", objects.HeadObject
    if method == "DELETE":
        if upload:
            return "AbortMultipartUpload", multipart.AbortMultipartUpload
        return "DeleteObject", objects.DeleteObject
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload", multipart.CreateMultipartUpload
        if upload:
            return "CompleteMultipartUpload", multipart.CompleteMultipartUpload
    raise MethodNotAllowed()
