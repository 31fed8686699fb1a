"""Deciding what a sync run does, from three views of each path: the local file now, the
remote file now, and the state both had at the last sync. Pure: no I/O.

The rules: transfer only what changed; when both sides changed to different contents keep
both (``Conflict``); delete a side only when the other side's deletion is known and this
side is unchanged since the last sync; otherwise bring the deleted side back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.client.sync_state import Entry

_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class LocalFile:
    """A local file as scanned."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    md5: str


@dataclass(frozen=True)
class RemoteFile:
    """A remote file as listed: its current version's id, ETag and, when known, sha256."""

    path: str
    file_id: str
    size: int
    etag: str
    sha256: str | None


@dataclass(frozen=True)
class Action:
    """One step of a plan. ``kind`` is one of ``upload``, ``download``, ``delete_local``,
    ``delete_remote``, ``conflict`` (keep both), ``record`` (same content on both sides:
    only remember it) or ``forget`` (gone from both sides)."""

    kind: str
    path: str
    local: LocalFile | None
    remote: RemoteFile | None
    entry: Entry | None


def same_content(local: LocalFile, remote: RemoteFile) -> bool:
    """Whether the two hold the same bytes, judged by sha256 when the remote knows it,
    else by an ETag that is a plain MD5; False when neither can tell."""
    if local.size != remote.size:
        return False
    if remote.sha256:
        return remote.sha256 == local.sha256
    etag = remote.etag.strip('"').lower()
    return bool(_MD5.match(etag)) and etag == local.md5


def plan(
    local: dict[str, LocalFile], remote: dict[str, RemoteFile], state: dict[str, Entry]
) -> list[Action]:
    """The actions that bring every path of the three views into step, in path order."""
    actions: list[Action] = []
    for path in sorted(set(local) | set(remote) | set(state)):
        kind = _decide(local.get(path), remote.get(path), state.get(path))
        if kind is not None:
            actions.append(Action(kind, path, local.get(path), remote.get(path), state.get(path)))
    return actions


def _decide(local: LocalFile | None, remote: RemoteFile | None, entry: Entry | None) -> str | None:
    local_changed = local is not None and (entry is None or local.sha256 != entry.sha256)
    remote_changed = remote is not None and (entry is None or remote.file_id != entry.remote_id)
    if local is not None and remote is not None:
        if not local_changed and not remote_changed:
            assert entry is not None
            return "record" if local.mtime_ns != entry.mtime_ns else None
        if local_changed and remote_changed:
            return "record" if same_content(local, remote) else "conflict"
        return "upload" if local_changed else "download"
    if local is not None:
        # The remote side has no file: new locally, or deleted remotely.
        return "upload" if local_changed else "delete_local"
    if remote is not None:
        return "download" if remote_changed else "delete_remote"
    return "forget" if entry is not None else None
