"""WebDAV dead properties (PROPPATCH) in the ``dav_properties`` table.

Properties belong to a resource named by bucket and path (see ``DavPropertyRow``).
Copying, moving and deleting resources carries their rows along inside the metadata
transactions of ``SqlMetadata``; this repository reads and edits single properties.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from adapters.sql.models import DavPropertyRow
from adapters.sql.repository import SqlRepository, starts_with


class SqlDeadProperties(SqlRepository):
    """Dead properties keyed by ``(bucket_id, path)``; values are XML strings."""

    def properties(self, bucket_id: int, path: str) -> dict[str, str]:
        """Every dead property of one resource, by name."""
        query = select(DavPropertyRow.name, DavPropertyRow.value).where(
            DavPropertyRow.bucket_id == bucket_id, DavPropertyRow.path == path
        )
        with self._read() as session:
            return {name: value for name, value in session.execute(query)}

    def properties_of_children(self, bucket_id: int, prefix: str) -> dict[str, dict[str, str]]:
        """The dead properties of ``prefix`` and of everything under it, by path.

        Callers listing a folder read its children's properties with this one query.
        """
        query = select(DavPropertyRow.path, DavPropertyRow.name, DavPropertyRow.value).where(
            DavPropertyRow.bucket_id == bucket_id, *starts_with(DavPropertyRow.path, prefix)
        )
        found: dict[str, dict[str, str]] = {}
        with self._read() as session:
            for path, name, value in session.execute(query):
                found.setdefault(path, {})[name] = value
        return found

    def write(self, bucket_id: int, path: str, name: str, value: str) -> None:
        """Set one property, replacing its previous value."""
        with self._write() as session:
            session.merge(DavPropertyRow(bucket_id=bucket_id, path=path, name=name, value=value))

    def remove(self, bucket_id: int, path: str, name: str) -> None:
        """Remove one property; removing a missing one is not an error."""
        with self._write() as session:
            session.execute(
                delete(DavPropertyRow).where(
                    DavPropertyRow.bucket_id == bucket_id,
                    DavPropertyRow.path == path,
                    DavPropertyRow.name == name,
                )
            )
