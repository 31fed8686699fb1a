"""The ``ingest`` job kind: a finalized native-API upload enters the namespace.

``finalize`` queues the job in the transaction that moves the file to ``processing``.
The handler streams the file's raw parts from the backend through the same writer as
an S3 PUT (chunked, deduplicated, compressed, sealed for the bucket owner), checks the
size and SHA-256 again, and commits the object version with the file id as its version
id; that commit marks the file ``ready`` and queues the malware scan (when a scanner is
configured) in one transaction. Only then are the raw parts deleted.

At least once, and crash-safe: a file already ``ready`` (a crash after the commit,
before the deletion) only gets its raw parts deleted again, a missing raw part
then is fine, and a concurrent second run loses the commit to the first (the version
id is unique) without a second version. A file whose bytes no longer match is marked
``failed`` rather than retried; a backend failure raises, so the job is retried.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from gateway.core.files import raw_keys
from gateway.core.storage import Storage
from gateway.errors import ConflictError
from gateway.ports import FileStore
from gateway.records import FILE_PROCESSING, FILE_READY, Actor, Checksum, ObjectAttributes

log = logging.getLogger("gateway")

INGESTER = Actor(user_id=None, protocol="ingest")


class IngestStage:
    """The ``ingest`` job handler over the native API's ``files``."""

    def __init__(self, storage: Storage, store: FileStore) -> None:
        self._storage = storage
        self._store = store

    def __call__(self, payload: Mapping[str, Any]) -> None:
        """Ingest the file ``payload["file_id"]``."""
        file_id = str(payload["file_id"])
        store, storage = self._store, self._storage
        file = store.get_file(file_id)
        if file is None:
            return
        if file.status == FILE_READY:
            self._drop_raw(file_id)
            return
        if file.status != FILE_PROCESSING:
            return
        metadata = storage.metadata
        bucket = metadata.get_bucket(file.bucket_name)
        if bucket is None or bucket.id != file.bucket_id:
            store.fail_file(file_id, "the bucket was deleted before the file was ingested")
            self._drop_raw(file_id)
            return
        writer = storage.new_writer(file.size, owner_id=bucket.owner_id)
        digest = hashlib.sha256()
        try:
            for key in raw_keys(file):
                for piece in storage.blobs.read_stream(key):
                    digest.update(piece)
                    writer.write(piece)
            written = writer.finish()
        except BaseException:
            writer.abort()
            raise
        if written.size != file.size or digest.hexdigest() != file.sha256:
            store.fail_file(file_id, "the raw parts changed after finalize")
            log.error("ingest of file %s: raw parts differ from what was finalized", file_id)
            return
        try:
            metadata.commit_object(
                bucket,
                file.key,
                written.entries,
                written.md5_hex,
                ObjectAttributes(content_type=file.content_type),
                INGESTER,
                checksum=Checksum("sha256", base64.b64encode(digest.digest()).decode()),
                version_id=file_id,
            )
        except ConflictError:
            log.info("ingest of file %s: committed by an earlier run", file_id)
        self._drop_raw(file_id)

    def _drop_raw(self, file_id: str) -> None:
        file = self._store.get_file(file_id)
        if file is None:
            return
        for key in raw_keys(file):
            self._storage.blobs.delete(key)
