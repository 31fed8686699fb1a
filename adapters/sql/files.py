"""The native API's upload state in SQL: ``files`` and ``file_parts`` (``FileStore``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, func, select, update

from adapters.sql.jobs import enqueue
from adapters.sql.models import BucketRow, FilePartRow, FileRow
from adapters.sql.repository import SqlRepository
from adapters.sql.timestamps import aware, aware_or_none, utc_now
from gateway.records import (
    FILE_FAILED,
    FILE_PROCESSING,
    FILE_READY,
    FILE_UPLOADING,
    FilePart,
    NativeFile,
)


def _file(row: FileRow, bucket_name: str = "") -> NativeFile:
    return NativeFile(
        bucket_name=bucket_name,
        id=row.id,
        owner_id=row.owner_id,
        bucket_id=row.bucket_id,
        key=row.key,
        size=row.size,
        content_type=row.content_type,
        sha256=row.sha256,
        part_size=row.part_size,
        status=row.status,
        transport=row.transport,
        raw_key=row.raw_key,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        expires_at=aware(row.expires_at),
        finalized_at=aware_or_none(row.finalized_at),
        backend_upload_id=row.backend_upload_id,
        error=row.error,
    )


class SqlFileStore(SqlRepository):
    """``FileStore`` over the gateway's database (the engine ``SqlMetadata`` uses)."""

    def create_files(self, files: Sequence[NativeFile]) -> None:
        with self._write() as session:
            for file in files:
                values = asdict(file)
                del values["bucket_name"]
                session.add(FileRow(**values))

    def get_file(self, file_id: str) -> NativeFile | None:
        return self.get_files([file_id]).get(file_id)

    def get_files(self, file_ids: Sequence[str]) -> dict[str, NativeFile]:
        if not file_ids:
            return {}
        with self._read() as session:
            rows = session.execute(
                select(FileRow, BucketRow.name)
                .join(BucketRow, BucketRow.id == FileRow.bucket_id)
                .where(FileRow.id.in_(list(file_ids)))
            )
            return {row.id: _file(row, name) for row, name in rows}

    def record_part(self, file_id: str, number: int, size: int, sha256: str) -> bool:
        now = utc_now()
        with self._write() as session:
            status = session.scalar(
                select(FileRow.status).where(FileRow.id == file_id).with_for_update()
            )
            if status != FILE_UPLOADING:
                return False
            row = session.get(FilePartRow, (file_id, number))
            if row is None:
                session.add(
                    FilePartRow(
                        file_id=file_id,
                        part_number=number,
                        size=size,
                        sha256=sha256,
                        created_at=now,
                    )
                )
            else:
                row.size, row.sha256, row.created_at = size, sha256, now
            session.execute(update(FileRow).where(FileRow.id == file_id).values(updated_at=now))
            return True

    def set_backend_upload(self, file_id: str, upload_id: str) -> bool:
        with self._write() as session:
            changed = session.execute(
                update(FileRow)
                .where(FileRow.id == file_id, FileRow.status == FILE_UPLOADING)
                .values(backend_upload_id=upload_id, updated_at=utc_now())
            )
            return bool(changed.rowcount)  # type: ignore[attr-defined]

    def file_parts(self, file_id: str) -> list[FilePart]:
        with self._read() as session:
            rows = session.scalars(
                select(FilePartRow)
                .where(FilePartRow.file_id == file_id)
                .order_by(FilePartRow.part_number)
            )
            return [FilePart(r.part_number, r.size, r.sha256) for r in rows]

    def finalize_file(self, file_id: str, sha256: str, job_kind: str) -> NativeFile | None:
        now = utc_now()
        with self._write() as session:
            row = session.get(FileRow, file_id, with_for_update=True)
            if row is None:
                return None
            if row.status == FILE_UPLOADING:
                row.status, row.sha256 = FILE_PROCESSING, sha256
                row.finalized_at = row.updated_at = now
                session.flush()
                enqueue(session, job_kind, {"file_id": file_id}, dedupe_key=f"{job_kind}:{file_id}")
            return _file(row)

    def fail_file(self, file_id: str, error: str) -> None:
        with self._write() as session:
            session.execute(
                update(FileRow)
                .where(FileRow.id == file_id, FileRow.status != FILE_READY)
                .values(status=FILE_FAILED, error=error, updated_at=utc_now())
            )

    def bytes_pending(self, owner_id: int) -> int:
        with self._read() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(FileRow.size), 0)).where(
                    FileRow.owner_id == owner_id,
                    FileRow.status.in_((FILE_UPLOADING, FILE_PROCESSING)),
                )
            )
            return int(total or 0)

    def expired_files(self, now: datetime, limit: int) -> list[NativeFile]:
        with self._read() as session:
            rows = session.scalars(
                select(FileRow)
                .where(FileRow.status == FILE_UPLOADING, FileRow.expires_at < now)
                .order_by(FileRow.expires_at)
                .limit(limit)
            )
            return [_file(row) for row in rows]

    def delete_file(self, file_id: str, *, only_uploading_before: datetime | None = None) -> bool:
        with self._write() as session:
            condition = [FileRow.id == file_id]
            if only_uploading_before is not None:
                condition += [
                    FileRow.status == FILE_UPLOADING,
                    FileRow.expires_at < only_uploading_before,
                ]
            if session.scalar(select(FileRow.id).where(*condition)) is None:
                return False
            session.execute(delete(FilePartRow).where(FilePartRow.file_id == file_id))
            session.execute(delete(FileRow).where(FileRow.id == file_id))
            return True
