"""Requests without credentials: which ones S3 lets through, and on whose behalf.

A request is anonymous when it carries neither an Authorization header nor presigned
query parameters. Only reads are ever allowed: GetObject and HeadObject of an object
whose bucket or current version is public-read, and ListObjects (V1, V2) of a
public-read bucket. They run as the bucket's owner, read-only; every other anonymous
request is AccessDenied, as S3 answers.
"""

from __future__ import annotations

from gateway.core.access import anonymous_reader
from gateway.core.storage import Storage
from gateway.records import User
from gateway.s3.errors import AccessDenied
from gateway.s3.request import S3Request

OBJECT_READS = frozenset({"GetObject", "HeadObject"})
BUCKET_READS = frozenset({"ListObjects", "ListObjectsV2"})
CREDENTIAL_PARAMETERS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "AWSAccessKeyId",
        "Signature",
    }
)


def is_anonymous(request: S3Request) -> bool:
    """The request carries no credentials at all, not even part of a presigned query."""
    return "authorization" not in request.headers and CREDENTIAL_PARAMETERS.isdisjoint(
        request.query
    )


def anonymous_owner(storage: Storage, request: S3Request, operation: str) -> User:
    """The user an anonymous ``operation`` runs as; AccessDenied when it may not run.

    An object read naming a ``versionId`` needs a public-read bucket: object ACLs are
    checked on the current version only.
    """
    if request.bucket is None or operation not in OBJECT_READS | BUCKET_READS:
        raise AccessDenied()
    key = request.key if operation in OBJECT_READS and "versionId" not in request.query else None
    return anonymous_reader(storage, request.bucket, key)
