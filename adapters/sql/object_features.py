"""Per-version features kept beside the bytes: checksums, parts, tags, encryption.

Maps them between records and the columns of ``versions``, ``multipart_uploads`` and
``parts``, and checks conditional writes against the current version inside the
committing transaction (after the object row is locked), so that of concurrent
conditional writers of one key exactly the first to commit wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.sql.models import PartRow, UploadRow, VersionRow
from gateway.core.write_conditions import enforce
from gateway.records import (
    Checksum,
    ObjectAttributes,
    ObjectPart,
    Part,
    Upload,
    WriteCondition,
)


def version_columns(
    attributes: ObjectAttributes, checksum: Checksum | None, parts: Sequence[ObjectPart]
) -> dict[str, Any]:
    """The feature columns of a new ``versions`` row."""
    return {
        "checksum_algorithm": checksum.algorithm if checksum else None,
        "checksum_type": checksum.type if checksum else None,
        "checksum": checksum.value if checksum else None,
        "parts": [[p.number, p.size, p.checksum] for p in parts] or None,
        "tags": dict(attributes.tags) or None,
        "server_side_encryption": attributes.encryption,
    }


def checksum_of(row: VersionRow) -> Checksum | None:
    """The version's additional checksum, or None."""
    if row.checksum_algorithm is None or row.checksum is None:
        return None
    return Checksum(row.checksum_algorithm, row.checksum, row.checksum_type or "FULL_OBJECT")


def parts_of(row: VersionRow) -> tuple[ObjectPart, ...]:
    """The parts a multipart version was completed from; () for any other version."""
    return tuple(ObjectPart(int(n), int(size), value) for n, size, value in row.parts or ())


def upload_columns(
    attributes: ObjectAttributes, algorithm: str | None, checksum_type: str | None
) -> dict[str, Any]:
    """The feature columns of a new ``multipart_uploads`` row."""
    return {
        "checksum_algorithm": algorithm,
        "checksum_type": checksum_type,
        "tags": dict(attributes.tags) or None,
        "server_side_encryption": attributes.encryption,
    }


def upload_of(row: UploadRow, attributes: ObjectAttributes, created_at: Any) -> Upload:
    """The record of an upload row whose attributes and start time the caller read."""
    return Upload(
        row.upload_id,
        row.bucket_id,
        row.key,
        row.owner_id,
        created_at,
        attributes,
        row.checksum_algorithm,
        row.checksum_type,
    )


def part_checksum(row: PartRow) -> Checksum | None:
    """The checksum a part was sent with, or None."""
    if row.checksum_algorithm is None or row.checksum is None:
        return None
    return Checksum(row.checksum_algorithm, row.checksum)


def part_of(row: PartRow, last_modified: Any) -> Part:
    """The record of a part row."""
    return Part(
        row.part_number, row.manifest_id, row.size, row.etag, last_modified, part_checksum(row)
    )


def check_condition(session: Session, object_id: int, condition: WriteCondition | None) -> None:
    """Raise unless ``condition`` holds for the object's current version (see ``enforce``).

    The caller MUST hold the object row's lock. A current delete marker counts as no
    version.
    """
    if condition is None:
        return
    etag = session.scalar(
        select(VersionRow.etag).where(
            VersionRow.object_id == object_id,
            VersionRow.is_current,
            VersionRow.is_delete_marker.is_(False),
        )
    )
    enforce(condition, etag)
