"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, location."""

from __future__ import annotations

from gateway.core import access
from gateway.core.bucket_access import Access
from gateway.errors import BucketAlreadyExistsError
from gateway.s3.acl import requested_acl
from gateway.s3.call import Call
from gateway.s3.errors import BucketAlreadyExists, BucketAlreadyOwnedByYou
from gateway.s3.response import Response
from gateway.s3.xml import add, add_all, document, parse


def ListBuckets(call: Call) -> Response:
    """``GET /``: the caller's buckets."""
    root = document("ListAllMyBucketsResult")
    add_all(add(root, "Owner"), {"ID": str(call.user.id), "DisplayName": call.user.name})
    buckets = add(root, "Buckets")
    for bucket in call.storage.list_buckets(call.user):
        add_all(add(buckets, "Bucket"), {"Name": bucket.name, "CreationDate": bucket.created_at})
    return Response.xml(root)


def CreateBucket(call: Call) -> Response:
    """``PUT /bucket``: create a bucket owned by the caller.

    An optional CreateBucketConfiguration body must be well-formed; its location
    constraint is accepted whatever it says, since one gateway serves one region.
    ``x-amz-acl: public-read`` opens the new bucket to anonymous reading.
    """
    canned_acl = requested_acl(call.request.headers)
    body = call.read_document()
    if body.strip():
        parse(body, "CreateBucketConfiguration")
    try:
        call.storage.create_bucket(call.user, call.bucket, call.actor)
    except BucketAlreadyExistsError as exc:
        if exc.owner_id == call.user.id:
            raise BucketAlreadyOwnedByYou(BucketName=call.bucket) from exc
        raise BucketAlreadyExists(BucketName=call.bucket) from exc
    if canned_acl != access.PRIVATE:
        access.set_bucket_acl(call.storage, call.user, call.bucket, canned_acl, call.actor)
    return Response(200, {"Location": "/" + call.bucket})


def HeadBucket(call: Call) -> Response:
    """``HEAD /bucket``: 200 when the bucket exists and belongs to the caller."""
    call.storage.bucket(call.user, call.bucket, Access.READ)
    return Response(200, {"x-amz-bucket-region": call.region})


def DeleteBucket(call: Call) -> Response:
    """``DELETE /bucket``: delete an empty bucket."""
    call.storage.delete_bucket(call.user, call.bucket, call.actor)
    return Response(204)


def GetBucketLocation(call: Call) -> Response:
    """``GET /bucket?location``: the region; empty for us-east-1, as S3 answers."""
    call.storage.bucket(call.user, call.bucket, Access.READ)
    root = document("LocationConstraint")
    if call.region != "us-east-1":
        root.text = call.region
    return Response.xml(root)
