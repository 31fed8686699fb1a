"""Two-way sync of a local folder with ``BUCKET/PREFIX``: scan both sides, plan
(``sync_plan``), apply, remember (``sync_state``).

Every action re-checks the local file it is about to replace or remove against the scan,
so a file edited during the run is left for the next run rather than overwritten. A run
stops at the first failed action (the state keeps what was done) and raises ClientError.
``watch`` repeats runs, waking on the change feed's long poll (``/v1/changes?wait=``) or
after ``interval`` seconds when the feed cannot be reached.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from gateway.client.connection import ClientError, Connection, problem_message
from gateway.client.sync_plan import Action, LocalFile, RemoteFile, plan
from gateway.client.sync_state import STATE_DIR, Entry, SyncState
from gateway.client.transfer import PARTIAL_SUFFIX, READ_BLOCK, TransferOptions, pull, push

CURSOR = "cursor"
LIST_PAGE = 1000


@dataclass(frozen=True)
class SyncReport:
    """What one run did: how many actions of each kind."""

    counts: dict[str, int]

    def __str__(self) -> str:
        done = ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts.items()) if n)
        return done or "in step: nothing to do"


def _hashes(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while block := source.read(READ_BLOCK):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def conflict_name(path: str, host: str, now: datetime) -> str:
    """``dir/name (conflict HOST DATE).ext``: where the local side of a conflict goes."""
    head, _, leaf = path.rpartition("/")
    stem, dot, ext = leaf.rpartition(".") if "." in leaf.lstrip(".") else (leaf, "", "")
    label = f"{stem} (conflict {host} {now:%Y-%m-%d %H%M%S})"
    renamed = f"{label}{dot}{ext}"
    return f"{head}/{renamed}" if head else renamed


class SyncEngine:
    """Keeps ``root`` and ``bucket``/``prefix`` in step through ``conn``."""

    def __init__(
        self,
        conn: Connection,
        root: Path,
        bucket: str,
        prefix: str,
        options: TransferOptions,
        host: str | None = None,
    ) -> None:
        self._conn = conn
        self._root = root
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._options = replace(options, wait=True, state_dir=root / STATE_DIR / "pushes")
        self._host = host or socket.gethostname()
        self._state = SyncState(root)

    def close(self) -> None:
        """Close the state database."""
        self._state.close()

    # --- the two views -------------------------------------------------------------

    def _walk(self) -> Iterator[Path]:
        for directory, subdirs, names in os.walk(self._root):
            if Path(directory) == self._root and STATE_DIR in subdirs:
                subdirs.remove(STATE_DIR)
            for name in names:
                if not (name.startswith(".") and PARTIAL_SUFFIX in name):
                    yield Path(directory) / name

    def scan_local(self, known: dict[str, Entry]) -> dict[str, LocalFile]:
        """Every regular file under the root, hashed unless its size and mtime are the
        ones remembered."""
        found: dict[str, LocalFile] = {}
        for path in self._walk():
            if path.is_symlink() or not path.is_file():
                continue
            relative = path.relative_to(self._root).as_posix()
            found[relative] = self._local(relative, known.get(relative))
        return found

    def _local(self, relative: str, entry: Entry | None) -> LocalFile:
        stat = (self._root / relative).stat()
        if entry is not None and (entry.size, entry.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return LocalFile(relative, stat.st_size, stat.st_mtime_ns, entry.sha256, entry.md5)
        sha256, md5 = _hashes(self._root / relative)
        return LocalFile(relative, stat.st_size, stat.st_mtime_ns, sha256, md5)

    def list_remote(self) -> dict[str, RemoteFile]:
        """Every current file under the prefix, by path relative to it."""
        found: dict[str, RemoteFile] = {}
        after: str | None = None
        while True:
            params = {"prefix": self._prefix, "limit": str(LIST_PAGE)}
            if after is not None:
                params["after"] = after
            page = self._conn.json(
                "GET", f"/v1/buckets/{quote(self._bucket, safe='')}/files", params=params
            )
            for item in page["files"]:
                relative = item["name"][len(self._prefix) :]
                if not relative or relative.endswith("/") or relative.startswith(STATE_DIR):
                    continue
                found[relative] = RemoteFile(
                    relative, item["id"], int(item["size"]), item["etag"], item.get("sha256")
                )
            after = page.get("next_after")
            if not after:
                return found

    # --- one run -------------------------------------------------------------------

    def run(self) -> SyncReport:
        """One sync run; ClientError at the first action that fails."""
        entries = self._state.entries()
        remote = self.list_remote()
        local = self.scan_local(entries)
        counts: dict[str, int] = {}
        for action in plan(local, remote, entries):
            self._apply(action)
            counts[action.kind] = counts.get(action.kind, 0) + 1
        return SyncReport(counts)

    def _apply(self, action: Action) -> None:
        handlers: dict[str, Callable[[Action], None]] = {
            "upload": self._upload,
            "download": self._download,
            "delete_local": self._delete_local,
            "delete_remote": self._delete_remote,
            "conflict": self._conflict,
            "record": self._record,
            "forget": lambda a: self._state.forget(a.path),
        }
        handlers[action.kind](action)

    def _unchanged(self, local: LocalFile) -> bool:
        """Whether the local file is still what the scan saw."""
        try:
            stat = (self._root / local.path).stat()
        except FileNotFoundError:
            return False
        return (stat.st_size, stat.st_mtime_ns) == (local.size, local.mtime_ns)

    def _remember(self, path: str, file_id: str, etag: str) -> None:
        current = self._local(path, None)
        self._state.put(
            Entry(
                path,
                current.size,
                current.mtime_ns,
                current.sha256,
                current.md5,
                file_id,
                etag,
            )
        )

    def _upload(self, action: Action) -> None:
        document = push(
            self._conn,
            self._root / action.path,
            self._bucket,
            self._prefix + action.path,
            self._options,
        ).document
        self._remember(action.path, document["id"], document.get("etag") or "")

    def _download(self, action: Action) -> None:
        remote = action.remote
        assert remote is not None
        target = self._root / action.path
        if action.local is not None and not self._unchanged(action.local):
            return
        if action.local is None and target.exists():
            return
        pull(
            self._conn,
            remote.file_id,
            target,
            self._options,
            {"size": remote.size, "sha256": remote.sha256},
        )
        self._remember(action.path, remote.file_id, remote.etag)

    def _delete_local(self, action: Action) -> None:
        assert action.local is not None
        if self._unchanged(action.local):
            (self._root / action.path).unlink()
            self._state.forget(action.path)

    def _delete_remote(self, action: Action) -> None:
        remote = action.remote
        assert remote is not None
        response = self._conn.request("DELETE", f"/v1/files/{quote(remote.file_id)}")
        if response.status_code in (204, 404):
            self._state.forget(action.path)
        elif response.status_code != 409:
            raise problem_message(response)

    def _conflict(self, action: Action) -> None:
        local, remote = action.local, action.remote
        assert local is not None and remote is not None
        if not self._unchanged(local):
            return
        renamed = conflict_name(action.path, self._host, datetime.now(UTC))
        os.replace(self._root / action.path, self._root / renamed)
        self._download(replace(action, local=None))
        self._upload(Action("upload", renamed, None, None, None))

    def _record(self, action: Action) -> None:
        remote = action.remote
        assert remote is not None
        self._remember(action.path, remote.file_id, remote.etag)

    # --- watching ------------------------------------------------------------------

    def wait_for_changes(self, seconds: int) -> None:
        """Return when the change feed reports a change in the bucket, or after
        ``seconds`` (also when the feed cannot be asked)."""
        started = time.monotonic()
        try:
            cursor = self._state.setting(CURSOR)
            params = {"bucket": self._bucket, "wait": str(seconds), "limit": "1000"}
            if cursor is not None:
                params["cursor"] = cursor
            answer = self._conn.json("GET", "/v1/changes", params=params, timeout=seconds + 30)
            self._state.set_setting(CURSOR, str(answer["cursor"]))
            if answer.get("changes") or answer.get("has_more"):
                return
        except (ClientError, KeyError, TypeError):
            pass
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
