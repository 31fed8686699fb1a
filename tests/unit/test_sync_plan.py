"""The sync planner's rules, path by path, and the conflict name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.client.sync_engine import conflict_name
from gateway.client.sync_plan import LocalFile, RemoteFile, plan
from gateway.client.sync_state import Entry

ENTRY = Entry("f", 3, 10, "sha-old", "md5-old", "id-old", "etag-old")
SAME = LocalFile("f", 3, 10, "sha-old", "md5-old")
EDITED = LocalFile("f", 4, 20, "sha-new", "md5-new")
REMOTE_SAME = RemoteFile("f", "id-old", 3, "etag-old", None)
REMOTE_NEW = RemoteFile("f", "id-new", 4, "other", None)


@pytest.mark.parametrize(
    ("local", "remote", "entry", "kind"),
    [
        (SAME, REMOTE_SAME, ENTRY, None),
        (EDITED, REMOTE_SAME, ENTRY, "upload"),
        (SAME, REMOTE_NEW, ENTRY, "download"),
        (EDITED, REMOTE_NEW, ENTRY, "conflict"),
        (EDITED, RemoteFile("f", "id-new", 4, "x", "sha-new"), ENTRY, "record"),
        (EDITED, RemoteFile("f", "id-new", 4, '"md5-new"', None), ENTRY, "conflict"),
        (SAME, None, ENTRY, "delete_local"),
        (EDITED, None, ENTRY, "upload"),
        (None, REMOTE_SAME, ENTRY, "delete_remote"),
        (None, REMOTE_NEW, ENTRY, "download"),
        (None, None, ENTRY, "forget"),
        (EDITED, None, None, "upload"),
        (None, REMOTE_NEW, None, "download"),
        (LocalFile("f", 3, 99, "sha-old", "md5-old"), REMOTE_SAME, ENTRY, "record"),
    ],
)
def test_each_case_has_its_action(
    local: LocalFile | None, remote: RemoteFile | None, entry: Entry | None, kind: str | None
) -> None:
    actions = plan(
        {"f": local} if local else {},
        {"f": remote} if remote else {},
        {"f": entry} if entry else {},
    )
    assert [a.kind for a in actions] == ([kind] if kind else [])


def test_an_md5_etag_proves_equal_content_when_sha256_is_unknown() -> None:
    md5 = "0" * 31 + "1"
    local = LocalFile("f", 4, 20, "sha-new", md5)
    remote = RemoteFile("f", "id-new", 4, f'"{md5}"', None)
    assert [a.kind for a in plan({"f": local}, {"f": remote}, {})] == ["record"]


def test_conflict_names_keep_the_extension_and_folder() -> None:
    now = datetime(2026, 11, 21, 15, 4, 5, tzinfo=UTC)
    assert conflict_name("a/notes.md", "h", now) == "a/notes (conflict h 2026-11-21 150405).md"
    assert conflict_name("README", "h", now) == "README (conflict h 2026-11-21 150405)"
    assert conflict_name(".env", "h", now) == ".env (conflict h 2026-11-21 150405)"
