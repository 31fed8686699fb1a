"""What a sync client remembers between runs: per path, the state both sides agreed on at
the last sync, and the change-feed cursor. An SQLite file in ``DIR/.gateway-sync/``.

A row means "at the last sync, the local file had this size, mtime and sha256, and the
remote name pointed at this file id (version) with this ETag". A path without a row was
never synced. Rows change only after the action that makes them true has succeeded.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = ".gateway-sync"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    path TEXT PRIMARY KEY,      -- relative, '/'-separated
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,       -- of the local content, which equals the remote content
    md5 TEXT NOT NULL,
    remote_id TEXT NOT NULL,    -- the file id (object version id) the remote name had
    etag TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Entry:
    """The agreed state of one path at the last sync."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    md5: str
    remote_id: str
    etag: str


class SyncState:
    """The state database of the folder ``root``; one client at a time."""

    def __init__(self, root: Path) -> None:
        directory = root / STATE_DIR
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(directory / "state.sqlite3", isolation_level=None)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def entries(self) -> dict[str, Entry]:
        """Every remembered path."""
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, sha256, md5, remote_id, etag FROM entries"
        )
        return {row[0]: Entry(*row) for row in rows}

    def put(self, entry: Entry) -> None:
        """Remember ``entry`` (replacing the path's row)."""
        self._db.execute(
            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.path,
                entry.size,
                entry.mtime_ns,
                entry.sha256,
                entry.md5,
                entry.remote_id,
                entry.etag,
            ),
        )

    def forget(self, path: str) -> None:
        """Drop the row of ``path``: it exists on neither side."""
        self._db.execute("DELETE FROM entries WHERE path = ?", (path,))

    def setting(self, name: str) -> str | None:
        """A stored setting (the feed cursor), or None."""
        row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        """Store a setting."""
        self._db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (name, value))
