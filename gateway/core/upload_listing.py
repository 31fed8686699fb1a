"""ListMultipartUploads: one page of a bucket's uploads in progress, paged in SQL.

Uploads come in S3's order: by key, and the uploads of one key by start time (then
upload id). Keys whose remainder after the prefix contains the delimiter roll up into
one common prefix each, counted once against the page size, and the listing jumps
past every key under it rather than reading them.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.names import common_prefix, key_successor
from gateway.ports import MetadataStore
from gateway.records import Upload, UploadCursor


@dataclass(frozen=True)
class UploadListing:
    """One page of uploads and common prefixes, both in key order.

    ``next_key`` and ``next_upload_id`` are the markers that resume after this page
    (``next_upload_id`` None when the page ends with a common prefix).
    """

    uploads: tuple[Upload, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_key: str | None
    next_upload_id: str | None


def start_cursor(
    metadata: MetadataStore, bucket_id: int, key_marker: str, upload_id_marker: str
) -> UploadCursor | None:
    """Where a listing after ``key-marker`` / ``upload-id-marker`` starts.

    Without a key marker the upload id marker is ignored (as in S3). With both, the
    uploads of the key marker after that upload come first; an upload id the key
    marker does not have resumes at the next key.
    """
    if not key_marker:
        return None
    if upload_id_marker:
        upload = metadata.get_upload(upload_id_marker)
        if upload is not None and upload.bucket_id == bucket_id and upload.key == key_marker:
            return UploadCursor(key_marker, upload=(upload.created_at, upload.upload_id))
    return UploadCursor(key_marker)


def list_uploads(
    metadata: MetadataStore,
    bucket_id: int,
    *,
    prefix: str = "",
    delimiter: str = "",
    key_marker: str = "",
    upload_id_marker: str = "",
    max_uploads: int = 1000,
) -> UploadListing:
    """The page of at most ``max_uploads`` uploads and common prefixes after the markers."""
    cursor = start_cursor(metadata, bucket_id, key_marker, upload_id_marker)
    uploads: list[Upload] = []
    prefixes: list[str] = []
    last: tuple[str, str | None] | None = None
    while len(uploads) + len(prefixes) < max_uploads:
        wanted = max_uploads - len(uploads) - len(prefixes)
        batch = metadata.list_uploads(bucket_id, prefix, after=cursor, limit=wanted)
        for upload in batch:
            common = common_prefix(upload.key, prefix, delimiter)
            if common is None:
                uploads.append(upload)
                last = (upload.key, upload.upload_id)
                cursor = UploadCursor(upload.key, upload=(upload.created_at, upload.upload_id))
                continue
            if not key_marker or common > key_marker:
                prefixes.append(common)
                last = (common, None)
            successor = key_successor(common)
            if successor is None:
                return UploadListing(tuple(uploads), tuple(prefixes), False, None, None)
            cursor = UploadCursor(successor, inclusive=True)
            break
        else:
            if len(batch) < wanted:
                return UploadListing(tuple(uploads), tuple(prefixes), False, None, None)
    more = bool(metadata.list_uploads(bucket_id, prefix, after=cursor, limit=1))
    next_key, next_upload_id = last if more and last else (None, None)
    return UploadListing(tuple(uploads), tuple(prefixes), more, next_key, next_upload_id)
