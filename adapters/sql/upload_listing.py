"""The SQL condition that resumes a listing of multipart uploads at a cursor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_

from adapters.sql.models import UploadRow
from gateway.records import UploadCursor


def upload_cursor_condition(cursor: UploadCursor) -> Any:
    """The uploads that sort after ``cursor`` in (key, created_at, upload_id) order."""
    key = UploadRow.key
    if cursor.upload is None:
        return key >= cursor.key if cursor.inclusive else key > cursor.key
    created_at, upload_id = cursor.upload
    return or_(
        key > cursor.key,
        and_(
            key == cursor.key,
            or_(
                UploadRow.created_at > created_at,
                and_(UploadRow.created_at == created_at, UploadRow.upload_id > upload_id),
            ),
        ),
    )
