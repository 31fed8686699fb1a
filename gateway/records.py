"""Plain data records exchanged between the core and the metadata port.

They are immutable snapshots: changing one never changes the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# An empty folder is stored as an empty object named ``folder/``, as S3 consoles do.
FOLDER_CONTENT_TYPE = "application/x-directory"
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@dataclass(frozen=True)
class User:
    """A person or service that owns buckets and access keys."""

    id: int
    name: str
    is_admin: bool
    created_at: datetime
    password_hash: str = field(default="", repr=False)


@dataclass(frozen=True)
class AccessKey:
    """An S3 access key pair; ``secret`` is needed verbatim to check SigV4 signatures."""

    access_key_id: str
    user_name: str
    created_at: datetime
    revoked_at: datetime | None = None
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class ApiToken:
    """A bearer token of a user, as listed (the token itself is shown only at creation)."""

    id: int
    user_name: str
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Bucket:
    """A namespace of keys owned by one user."""

    id: int
    name: str
    owner_id: int
    owner_name: str
    created_at: datetime
    anonymous_read: bool = False


@dataclass(frozen=True)
class ObjectAttributes:
    """What a client said about an object besides its bytes."""

    content_type: str = "binary/octet-stream"
    user_metadata: dict[str, str] = field(default_factory=dict)
    # Standard headers stored and returned verbatim (cache-control, content-disposition, ...).
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ManifestEntry:
    """One chunk of an object: the plain bytes ``[offset, offset + length)`` of the object."""

    offset: int
    length: int
    chunk_id: int


@dataclass(frozen=True)
class ChunkLocation:
    """Where to fetch a chunk that backs ``[offset, offset + length)`` of an object."""

    offset: int
    length: int
    content_id: str
    backend_key: str


@dataclass(frozen=True)
class StoredObject:
    """The current version of an object."""

    bucket_id: int
    key: str
    version_id: str
    manifest_id: int
    size: int
    etag: str
    last_modified: datetime
    attributes: ObjectAttributes
    owner_name: str = ""


@dataclass(frozen=True)
class SubFolder:
    """A folder inside a listed folder: its prefix (ending in ``/``) and when it changed.

    ``last_modified`` is its marker object's time, or else the newest time of the keys
    under it.
    """

    prefix: str
    last_modified: datetime


@dataclass(frozen=True)
class FolderListing:
    """The direct children of a folder: its files and its sub-folders."""

    files: tuple[StoredObject, ...]
    folders: tuple[SubFolder, ...]


@dataclass(frozen=True)
class Chunk:
    """A unique piece of content stored once in the backend."""

    id: int
    content_id: str
    size: int
    stored_size: int
    backend_key: str
    refcount: int


@dataclass(frozen=True)
class Upload:
    """A multipart upload in progress."""

    upload_id: str
    bucket_id: int
    key: str
    owner_id: int
    created_at: datetime
    attributes: ObjectAttributes


@dataclass(frozen=True)
class Part:
    """One uploaded part of a multipart upload."""

    part_number: int
    manifest_id: int
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class Actor:
    """Who asked for a change; recorded in the audit log with the change."""

    user_id: int | None
    access_key_id: str | None = None
    request_id: str | None = None
    remote_addr: str | None = None
    protocol: str = "s3"


@dataclass(frozen=True)
class StorageStats:
    """Totals across the whole gateway."""

    objects: int
    logical_bytes: int
    unique_bytes: int
    stored_bytes: int
    chunks: int

    @property
    def dedup_ratio(self) -> float:
        """Logical bytes per unique plain byte (1.0 = no duplication)."""
        return self.logical_bytes / self.unique_bytes if self.unique_bytes else 1.0

    @property
    def compression_ratio(self) -> float:
        """Unique plain bytes per stored byte (1.0 = incompressible)."""
        return self.unique_bytes / self.stored_bytes if self.stored_bytes else 1.0
