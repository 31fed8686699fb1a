"""S3's versioning vocabulary: version ids in queries and headers, and the
VersioningConfiguration document."""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.records import VERSIONING_ENABLED, VERSIONING_SUSPENDED, StoredObject
from gateway.s3.errors import IllegalVersioningConfiguration, InvalidArgument, NotImplemented_
from gateway.s3.xml import Value, child_text, parse

# Version ids this gateway issues: 32 lowercase hex digits; "null" names the null version.
VERSION_ID = re.compile(r"[0-9a-f]{32}|null")


def checked_version_id(value: str) -> str:
    """``value`` if it can name a version; InvalidArgument otherwise, as S3 answers."""
    if value == "":
        raise InvalidArgument("Version id cannot be the empty string", ArgumentName="versionId")
    if not VERSION_ID.fullmatch(value):
        raise InvalidArgument(
            "Invalid version id specified", ArgumentName="versionId", ArgumentValue=value
        )
    return value


def requested_version(query: Mapping[str, str]) -> str | None:
    """The ``versionId`` a request names, None when it names none."""
    value = query.get("versionId")
    return None if value is None else checked_version_id(value)


def version_headers(obj: StoredObject) -> dict[str, str]:
    """``x-amz-version-id`` (and ``x-amz-delete-marker``) describing ``obj``.

    Nothing for a bucket that never had versioning, as S3 answers.
    """
    headers: dict[str, str] = {}
    if obj.versioned:
        headers["x-amz-version-id"] = obj.public_version_id
    if obj.is_delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return headers


def deletion_headers(removed: StoredObject | None, version_id: str | None) -> dict[str, str]:
    """The headers of a DeleteObject answer: the version named (or the delete marker
    created), and ``x-amz-delete-marker`` when a marker was created or removed."""
    headers = {} if removed is None else version_headers(removed)
    if version_id is not None:
        headers["x-amz-version-id"] = version_id
    return headers


def deleted_entry(
    key: str, removed: StoredObject | None, version_id: str | None
) -> dict[str, Value]:
    """The fields of a ``<Deleted>`` element of a DeleteObjects answer."""
    marker = removed is not None and removed.is_delete_marker
    return {
        "Key": key,
        "VersionId": version_id,
        "DeleteMarker": True if marker else None,
        "DeleteMarkerVersionId": removed.public_version_id
        if marker and removed is not None and version_id is None
        else None,
    }


def parse_configuration(body: bytes, mfa_header: str | None) -> str | None:
    """The status a PutBucketVersioning body asks for (None: leave it as it is).

    Raises MalformedXML for a malformed document, IllegalVersioningConfiguration for a
    status other than Enabled or Suspended, and NotImplemented for MFA delete.
    """
    root = parse(body, "VersioningConfiguration")
    mfa = (child_text(root, "MfaDelete") or "Disabled").strip()
    if mfa not in ("Enabled", "Disabled"):
        raise IllegalVersioningConfiguration()
    if mfa == "Enabled" or mfa_header is not None:
        raise NotImplemented_("MFA delete is not supported by this gateway.")
    status = child_text(root, "Status")
    if status is None:
        return None
    if status.strip() not in (VERSIONING_ENABLED, VERSIONING_SUSPENDED):
        raise IllegalVersioningConfiguration()
    return status.strip()
