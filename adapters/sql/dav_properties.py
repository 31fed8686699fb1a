"""WebDAV dead properties (PROPPATCH) in the ``dav_properties`` table.

Properties belong to a resource named by bucket and path (see ``DavPropertyRow``).
Copying, moving and deleting resources carries their rows along inside the metadata
transactions of ``SqlMetadata``; this repository reads and edits single properties.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from adapters.sql.models import DavPropertyRow
from gateway.core.names import key_successor


class SqlDeadProperties:
    """Dead properties keyed by ``(bucket_id, path)``; values are XML strings."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(sqlite_immediate=True)

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        engine = self._write_engine if write else self._engine
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session

    def properties(self, bucket_id: int, path: str) -> dict[str, str]:
        """Every dead property of one resource, by name."""
        query = select(DavPropertyRow.name, DavPropertyRow.value).where(
            DavPropertyRow.bucket_id == bucket_id, DavPropertyRow.path == path
        )
        with self._session() as session:
            return {name: value for name, value in session.execute(query)}

    def properties_of_children(self, bucket_id: int, prefix: str) -> dict[str, dict[str, str]]:
        """The dead properties of ``prefix`` and of everything under it, by path.

        Callers listing a folder read its children's properties with this one query.
        """
        query = select(DavPropertyRow.path, DavPropertyRow.name, DavPropertyRow.value).where(
            DavPropertyRow.bucket_id == bucket_id
        )
        if prefix:
            query = query.where(DavPropertyRow.path >= prefix)
            upper = key_successor(prefix)
            if upper is not None:
                query = query.where(DavPropertyRow.path < upper)
        found: dict[str, dict[str, str]] = {}
        with self._session() as session:
            for path, name, value in session.execute(query):
                found.setdefault(path, {})[name] = value
        return found

    def count(self, bucket_id: int) -> int:
        """How many dead properties the bucket's resources hold."""
        query = select(func.count()).where(DavPropertyRow.bucket_id == bucket_id)
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def write(self, bucket_id: int, path: str, name: str, value: str) -> None:
        """Set one property, replacing its previous value."""
        with self._session(write=True) as session:
            session.merge(DavPropertyRow(bucket_id=bucket_id, path=path, name=name, value=value))

    def remove(self, bucket_id: int, path: str, name: str) -> None:
        """Remove one property; removing a missing one is not an error."""
        with self._session(write=True) as session:
            session.execute(
                delete(DavPropertyRow).where(
                    DavPropertyRow.bucket_id == bucket_id,
                    DavPropertyRow.path == path,
                    DavPropertyRow.name == name,
                )
            )
