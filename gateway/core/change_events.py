"""The events of the change feed: what the metadata store records and what readers see.

Every commit that changes what a key names appends one row per key (see
``MetadataStore.changes``). The events readers see are ``created`` (the key had no
current version: a new key, or one whose current version was a delete marker),
``updated`` (a new current version replaced one, or removing the current version
brought an older one back), ``moved`` (the row names the new place and the old one as
its source), ``deleted`` (the key has no current version any more) and ``quarantined``
(the malware scan found the version infected). Removing a version that was not current
changes nothing a reader sees: it is recorded as ``version-deleted`` and not shown.
Rows written before these names existed used ``put`` (shown as ``updated``: whether a
version was replaced was not recorded), ``delete``, ``delete-version`` and ``move``.
"""

from __future__ import annotations

CREATED = "created"
UPDATED = "updated"
MOVED = "moved"
DELETED = "deleted"
QUARANTINED = "quarantined"
VERSION_DELETED = "version-deleted"

# The event readers see for each stored event; stored events missing here are not shown.
_SHOWN = {
    CREATED: CREATED,
    UPDATED: UPDATED,
    MOVED: MOVED,
    DELETED: DELETED,
    QUARANTINED: QUARANTINED,
    "put": UPDATED,
    "delete": DELETED,
    "delete-version": DELETED,
    "move": MOVED,
}
SHOWN_EVENTS = (CREATED, UPDATED, MOVED, DELETED, QUARANTINED)


def shown_event(stored: str) -> str | None:
    """The event readers see for a row stored as ``stored``; None when they see none."""
    return _SHOWN.get(stored)
