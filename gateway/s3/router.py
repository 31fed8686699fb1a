"""Which S3 operation a request asks for: by method, addressing and sub-resource."""

from __future__ import annotations

from collections.abc import Callable

from gateway.s3.call import Call
from gateway.s3.errors import MethodNotAllowed, NotImplemented_
from gateway.s3.handlers import (
    attributes,
    bucket_config,
    buckets,
    listing,
    multipart,
    objects,
    tagging,
    versions,
)
from gateway.s3.request import S3Request
from gateway.s3.response import Response

Handler = Callable[[Call], Response]

# Sub-resources S3 knows that this gateway does not implement: answered NotImplemented
# rather than mistaken for a plain bucket or object request.
UNSUPPORTED = frozenset(
    {
        "accelerate", "analytics", "encryption", "intelligent-tiering",
        "inventory", "legal-hold", "lifecycle", "logging", "metrics", "notification",
        "object-lock", "ownershipControls", "policy", "policyStatus", "publicAccessBlock",
        "replication", "requestPayment", "restore", "retention", "select",
        "torrent", "website",
    }
)  # fmt: skip
# Sub-resources of keys (not of buckets), by name and method.
KEY_SUBRESOURCES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("tagging", "PUT"): ("PutObjectTagging", tagging.PutObjectTagging),
    ("tagging", "GET"): ("GetObjectTagging", tagging.GetObjectTagging),
    ("tagging", "DELETE"): ("DeleteObjectTagging", tagging.DeleteObjectTagging),
    ("attributes", "GET"): ("GetObjectAttributes", attributes.GetObjectAttributes),
}


def _key_subresource(request: S3Request) -> tuple[str, Handler] | None:
    """The handler of a key sub-resource request; NotImplemented for one on a bucket."""
    for name in {name for name, _ in KEY_SUBRESOURCES}.intersection(request.query):
        if request.key is None:
            raise NotImplemented_(f"The bucket {name} sub-resource is not implemented.")
        found = KEY_SUBRESOURCES.get((name, request.method))
        if found is None:
            raise MethodNotAllowed()
        return found
    return None


def route(request: S3Request) -> tuple[str, Handler]:
    """The operation's name and handler; MethodNotAllowed or NotImplemented otherwise."""
    query, method = request.query, request.method
    unsupported = UNSUPPORTED.intersection(query)
    if unsupported:
        raise NotImplemented_(f"The {sorted(unsupported)[0]} sub-resource is not implemented.")
    configuration = bucket_config.route(request)
    if configuration is not None:
        return configuration
    if request.bucket is None:
        if method == "GET":
            return "ListBuckets", buckets.ListBuckets
        raise MethodNotAllowed()
    subresource = _key_subresource(request)
    if subresource is not None:
        return subresource
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
                return "GetBucketVersioning", versions.GetBucketVersioning
            if "versions" in query:
                return "ListObjectVersions", versions.ListObjectVersions
            if "uploads" in query:
                return "ListMultipartUploads", listing.ListMultipartUploads
            if query.get("list-type") == "2":
                return "ListObjectsV2", listing.ListObjectsV2
            return "ListObjects", listing.ListObjects
        if method == "POST" and "delete" in query:
            return "DeleteObjects", objects.DeleteObjects
        if method == "PUT" and "versioning" in query:
            return "PutBucketVersioning", versions.PutBucketVersioning
        if method in table:
            return table[method]
        raise MethodNotAllowed()
    upload = "uploadId" in query
    if method == "PUT":
        if upload or "partNumber" in query:
            if request.header("x-amz-copy-source"):
                return "UploadPartCopy", multipart.UploadPartCopy
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
