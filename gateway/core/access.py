"""Who may read what: canned ACLs of buckets and objects, anonymous reading, CORS rules.

A bucket's canned ACL is its ``anonymous_read`` flag (the one ``gateway bucket
anonymous`` and WebDAV use): ``public-read`` when set, ``private`` otherwise. An object
version carries its own canned ACL. Only the bucket's owner changes either. Requests
without credentials may read an object whose bucket or current version is public-read,
and list a public-read bucket; they never write. The bucket's CORS document is opaque
here: the S3 front end owns its format.
"""

from __future__ import annotations

from gateway.core.bucket_access import Access
from gateway.core.storage import Storage
from gateway.errors import AccessDeniedError, BucketNotFoundError, ObjectNotFoundError
from gateway.records import Actor, Bucket, StoredObject, User

PRIVATE = "private"
PUBLIC_READ = "public-read"
CANNED_ACLS = (PRIVATE, PUBLIC_READ)


def bucket_acl(bucket: Bucket) -> str:
    """The bucket's canned ACL."""
    return PUBLIC_READ if bucket.anonymous_read else PRIVATE


def set_bucket_acl(
    storage: Storage, user: User, bucket_name: str, canned_acl: str, actor: Actor
) -> Bucket:
    """Give the bucket a canned ACL (one of CANNED_ACLS); owner only."""
    bucket = storage.bucket(user, bucket_name, Access.OWNER)
    return storage.metadata.set_bucket_anonymous_read(bucket, canned_acl == PUBLIC_READ, actor)


def set_object_acl(
    storage: Storage, user: User, bucket_name: str, obj: StoredObject, canned_acl: str, actor: Actor
) -> None:
    """Give the version ``obj`` (as ``user`` found it) a canned ACL; owner only.

    Raises ObjectNotFoundError when that version was deleted meanwhile.
    """
    bucket = storage.bucket(user, bucket_name, Access.OWNER)
    if not storage.metadata.set_version_acl(bucket, obj, canned_acl, actor):
        raise ObjectNotFoundError(obj.key)


def set_bucket_cors(
    storage: Storage, user: User, bucket_name: str, cors: str | None, actor: Actor
) -> Bucket:
    """Store (or, with None, remove) the bucket's CORS document; owner only."""
    return storage.metadata.set_bucket_cors(
        storage.bucket(user, bucket_name, Access.OWNER), cors, actor
    )


def anonymous_reader(storage: Storage, bucket_name: str, key: str | None) -> User:
    """The owner on whose behalf a request without credentials may read.

    ``key`` None asks to list the bucket, which needs a public-read bucket; a key needs
    a public-read bucket or a public-read current version. Raises BucketNotFoundError
    or AccessDeniedError otherwise.
    """
    bucket = storage.metadata.get_bucket(bucket_name)
    if bucket is None:
        raise BucketNotFoundError(bucket_name)
    if not bucket.anonymous_read:
        current = None if key is None else storage.metadata.get_object(bucket.id, key)
        if current is None or current.attributes.canned_acl != PUBLIC_READ:
            raise AccessDeniedError(bucket_name)
    owner = storage.metadata.get_user(bucket.owner_name)
    if owner is None:
        raise AccessDeniedError(bucket_name)
    return owner
