"""What a user may do with a bucket: its owner everything, a grantee what the grant says.

Three levels, each including the ones below: ``READ`` (list, download, follow the
change feed), ``WRITE`` (upload, overwrite, delete objects, multipart uploads) and
``OWNER`` (delete the bucket, versioning, CORS, ACLs, policies, grants). An explicit
grant (``bucket_grants``) gives ``read`` or ``write``; only the creator owns a bucket.
"""

from __future__ import annotations

from enum import IntEnum

from gateway.errors import AccessDeniedError
from gateway.records import GRANT_WRITE, Bucket, User


class Access(IntEnum):
    """A level of access to a bucket; a higher level includes every lower one."""

    READ = 1
    WRITE = 2
    OWNER = 3


def access_of(bucket: Bucket, user: User | None) -> Access | None:
    """The access ``user`` has to ``bucket`` (looked up for that user, so that
    ``granted`` is theirs); None when they have none."""
    if user is None:
        return None
    if bucket.owner_id == user.id:
        return Access.OWNER
    if bucket.granted is None:
        return None
    return Access.WRITE if bucket.granted == GRANT_WRITE else Access.READ


def require(bucket: Bucket, user: User | None, needed: Access) -> Bucket:
    """``bucket`` when ``user`` has at least ``needed`` access to it; AccessDeniedError
    otherwise."""
    held = access_of(bucket, user)
    if held is None or held < needed:
        raise AccessDeniedError(bucket.name)
    return bucket
