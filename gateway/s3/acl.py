"""S3 canned ACLs: reading ``x-amz-acl`` and writing AccessControlPolicy documents.

Only the canned ACLs ``private`` and ``public-read`` are implemented; any other canned
ACL, an ``x-amz-grant-*`` header or an explicit grant document is answered
NotImplemented rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree.ElementTree import Element

from gateway.core.access import CANNED_ACLS, PRIVATE, PUBLIC_READ
from gateway.s3.errors import InvalidArgument, NotImplemented_
from gateway.s3.xml import add, add_all, document

# Every canned ACL S3 knows; the ones this gateway does not implement get NotImplemented.
KNOWN_CANNED_ACLS = frozenset(
    {
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "aws-exec-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
        "log-delivery-write",
    }
)
GRANT_HEADERS = (
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def check_canned_acl(value: str) -> str:
    """``value`` when it is an implemented canned ACL.

    InvalidArgument for a name S3 does not know, NotImplemented for one it does.
    """
    if value in CANNED_ACLS:
        return value
    if value in KNOWN_CANNED_ACLS:
        raise NotImplemented_(
            f"The canned ACL {value!r} is not implemented; use 'private' or 'public-read'."
        )
    raise InvalidArgument(f"Invalid canned ACL {value!r}.", ArgumentName="x-amz-acl")


def requested_acl(headers: Mapping[str, str]) -> str:
    """The canned ACL a request asks for in ``x-amz-acl``; private when it asks none.

    Grant headers (``x-amz-grant-*``) are NotImplemented.
    """
    granted = [name for name in GRANT_HEADERS if name in headers]
    if granted:
        raise NotImplemented_(
            f"The {granted[0]} header is not implemented; use x-amz-acl private or public-read."
        )
    value = headers.get("x-amz-acl")
    return PRIVATE if value is None else check_canned_acl(value.strip())


def _grant(parent: Element, permission: str) -> Element:
    grant = add(parent, "Grant")
    grantee = add(grant, "Grantee")
    grantee.set("xmlns:xsi", XSI)
    add(grant, "Permission", permission)
    return grantee


def policy_document(owner_id: str, owner_name: str, canned_acl: str) -> Element:
    """The AccessControlPolicy S3 answers for a canned ACL: the owner has FULL_CONTROL,
    and for public-read the AllUsers group has READ."""
    root = document("AccessControlPolicy")
    owner = {"ID": owner_id, "DisplayName": owner_name}
    add_all(add(root, "Owner"), owner)
    grants = add(root, "AccessControlList")
    grantee = _grant(grants, "FULL_CONTROL")
    grantee.set("xsi:type", "CanonicalUser")
    add_all(grantee, owner)
    if canned_acl == PUBLIC_READ:
        group = _grant(grants, "READ")
        group.set("xsi:type", "Group")
        add(group, "URI", ALL_USERS)
    return root
