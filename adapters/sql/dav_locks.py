"""WebDAV locks in the ``dav_locks`` table: wsgidav's lock storage interface over SQL.

Every gateway process sharing the database sees the same locks, and locks survive
restarts. wsgidav's ``LockManager`` checks conflicts under a lock that exists only
inside one process, so ``create`` checks again inside its own transaction, which is
serialised across processes (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction
lock on PostgreSQL): of two conflicting LOCK requests racing on two gateways, one wins.

Within one request (``request_scope``) the live locks of a bucket are read once and
answered from memory; wsgidav asks for the locks of every resource a PROPFIND lists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select, text, update
from sqlalchemy.orm import Session
from wsgidav.dav_error import (
    HTTP_LOCKED,
    DAVError,
    DAVErrorCondition,
    PRECONDITION_CODE_LockConflict,
)
from wsgidav.lock_man.lock_manager import generate_lock_token, normalize_lock_root, validate_lock

from adapters.sql.models import DavLockRow
from adapters.sql.repository import SqlRepository, starts_with

LockDict = dict[str, Any]

# Serialises lock creation across processes on PostgreSQL (an arbitrary constant).
_ADVISORY_LOCK_ID = 0x6761_7465_6C6F_636B

_scope = threading.local()


@contextmanager
def request_scope() -> Iterator[None]:
    """Answer repeated lock queries of the current thread's request from one read."""
    _scope.snapshots = {}
    try:
        yield
    finally:
        _scope.snapshots = None


def _snapshots() -> dict[str, list[LockDict]] | None:
    found: dict[str, list[LockDict]] | None = getattr(_scope, "snapshots", None)
    return found


def _invalidate() -> None:
    snapshots = _snapshots()
    if snapshots is not None:
        snapshots.clear()


def _as_dict(row: DavLockRow) -> LockDict:
    return {
        "root": row.root,
        "type": "write",
        "scope": row.scope,
        "depth": row.depth,
        "owner": row.owner,
        "timeout": row.timeout,
        "expire": row.expires_at,
        "principal": row.principal,
        "token": row.token,
    }


def _under(root: str) -> Any:
    """Lock rows whose root lies strictly below ``root``."""
    return and_(*starts_with(DavLockRow.root, root.rstrip("/") + "/"))


def _ancestors(root: str) -> list[str]:
    """``root`` and every URL path above it, ``/`` included."""
    paths = [root]
    while root not in ("", "/"):
        root = root.rsplit("/", 1)[0] or "/"
        paths.append(root)
    return paths


class SqlLockStorage(SqlRepository):
    """Lock storage for ``wsgidav.lock_man.LockManager`` (same methods as LockStorageDict)."""

    LOCK_TIME_OUT_DEFAULT = 604800.0  # one week
    LOCK_TIME_OUT_MAX = 4 * 604800.0

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._postgres = engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return "SqlLockStorage"

    def open(self) -> None:
        """Nothing to open: connections come from the engine's pool."""

    def close(self) -> None:
        """Nothing to close: the engine is disposed by its owner."""

    def cleanup(self) -> None:
        """Delete expired locks."""
        with self._write() as session:
            session.execute(delete(DavLockRow).where(DavLockRow.expires_at < time.time()))
        _invalidate()

    def clear(self) -> None:
        """Delete every lock."""
        with self._write() as session:
            session.execute(delete(DavLockRow))
        _invalidate()

    def get(self, token: str) -> LockDict | None:
        """The lock with this token; None when unknown or expired (an expired one is purged)."""
        with self._read() as session:
            row = session.get(DavLockRow, token)
            found = None if row is None else _as_dict(row)
        if found is not None and found["expire"] < time.time():
            self.delete(token)
            return None
        return found

    def create(self, path: str, lock: LockDict) -> LockDict:
        """Store a new lock on ``path``, completing ``lock`` in place (root, timeout,
        expire, token), unless a conflicting lock exists: then raise 423 Locked."""
        root = normalize_lock_root(path)
        timeout = float(lock.get("timeout") or self.LOCK_TIME_OUT_DEFAULT)
        if timeout < 0 or timeout > self.LOCK_TIME_OUT_MAX:
            timeout = self.LOCK_TIME_OUT_MAX
        lock.update(root=root, timeout=timeout, expire=time.time() + timeout)
        validate_lock(lock)
        lock["token"] = generate_lock_token()
        with self._write() as session:
            if self._postgres:
                session.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID}
                )
            conflicts = self._conflicts(session, root, lock["scope"], lock["depth"])
            if conflicts:
                condition = DAVErrorCondition(PRECONDITION_CODE_LockConflict)
                for href in conflicts:
                    condition.add_href(href)
                raise DAVError(HTTP_LOCKED, err_condition=condition)
            session.add(
                DavLockRow(
                    token=lock["token"],
                    root=root,
                    principal=lock["principal"],
                    scope=lock["scope"],
                    depth=lock["depth"],
                    owner=lock["owner"],
                    timeout=timeout,
                    expires_at=lock["expire"],
                )
            )
        _invalidate()
        return lock

    @staticmethod
    def _conflicts(session: Session, root: str, scope: str, depth: str) -> list[str]:
        """Roots of live locks that a new ``scope``/``depth`` lock on ``root`` conflicts with.

        Locks on ``root`` itself and depth-infinity locks above it count, and for a
        depth-infinity request every lock below; two shared locks never conflict.
        """
        above = DavLockRow.root.in_(_ancestors(root)[1:]) & (DavLockRow.depth == "infinity")
        candidates = or_(DavLockRow.root == root, above)
        if depth == "infinity":
            candidates = or_(candidates, _under(root))
        query = select(DavLockRow.root, DavLockRow.scope).where(
            candidates, DavLockRow.expires_at >= time.time()
        )
        return [
            found
            for found, found_scope in session.execute(query)
            if not (scope == "shared" and found_scope == "shared")
        ]

    def refresh(self, token: str, *, timeout: float) -> LockDict:
        """Extend a lock's lifetime; raise ValueError when it does not exist."""
        if timeout < 0 or timeout > self.LOCK_TIME_OUT_MAX:
            timeout = self.LOCK_TIME_OUT_MAX
        with self._write() as session:
            session.execute(
                update(DavLockRow)
                .where(DavLockRow.token == token)
                .values(timeout=timeout, expires_at=time.time() + timeout)
            )
            row = session.get(DavLockRow, token)
            if row is None:
                raise ValueError(f"no lock {token}")
            refreshed = _as_dict(row)
        _invalidate()
        return refreshed

    def delete(self, token: str) -> bool:
        """Remove a lock; False when it did not exist."""
        with self._write() as session:
            removed = session.execute(delete(DavLockRow).where(DavLockRow.token == token))
        _invalidate()
        return bool(removed.rowcount)  # type: ignore[attr-defined]

    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: bool
    ) -> list[Any]:
        """Live locks on ``path`` (``include_root``) and/or below it (``include_children``)."""
        root = normalize_lock_root(path)
        below = root.rstrip("/") + "/"
        now = time.time()
        found = [
            lock
            for lock in self._locks_of_bucket(root)
            if lock["expire"] >= now
            and (
                (include_root and lock["root"] == root)
                or (include_children and lock["root"].startswith(below))
            )
        ]
        return [lock["token"] for lock in found] if token_only else found

    def _locks_of_bucket(self, root: str) -> list[LockDict]:
        """Every lock in the bucket ``root`` lies in (all locks for ``/``)."""
        bucket = root.strip("/").split("/", 1)[0]
        snapshots = _snapshots()
        if snapshots is not None and bucket in snapshots:
            return snapshots[bucket]
        query = select(DavLockRow)
        if bucket:
            query = query.where(or_(DavLockRow.root == f"/{bucket}", _under(f"/{bucket}")))
        with self._read() as session:
            locks = [_as_dict(row) for row in session.scalars(query)]
        if snapshots is not None:
            snapshots[bucket] = locks
        return locks
