"""Domain errors raised by the core and the metadata port, independent of any protocol.

Front ends map them to their own formats (S3 XML error codes, WebDAV statuses).
"""

from __future__ import annotations

from datetime import datetime


class GatewayError(Exception):
    """Base class of the gateway's domain errors."""


class NotFoundError(GatewayError):
    """A user, key, bucket, object or upload does not exist (any more)."""


class ConflictError(GatewayError):
    """The change contradicts the current state (a name is taken, a user owns buckets, ...)."""


class BucketAlreadyExistsError(ConflictError):
    """The bucket name is taken; ``owner_id`` says by whom."""

    def __init__(self, owner_id: int) -> None:
        super().__init__("bucket already exists")
        self.owner_id = owner_id


class DestinationExistsError(ConflictError):
    """A copy or move would replace something at its destination and may not."""


class BucketNotEmptyError(ConflictError):
    """The bucket still holds objects."""


class ChunkIntegrityError(GatewayError):
    """A stored chunk is malformed or does not decode to its content id."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"chunk {key}: {reason}")
        self.key = key
        self.reason = reason


class RetryableError(GatewayError):
    """The change was rolled back and changed nothing, for a reason that passes: the same
    request, sent again, may well succeed. Front ends answer "try again later" (S3 503
    SlowDown, WebDAV 503, the native API 503 with Retry-After)."""


class TransactionConflictError(RetryableError):
    """The database aborted the transaction to break a deadlock or a serialization
    conflict with a concurrent one."""


class ChunksCollectedError(RetryableError):
    """Chunks a write stored or reused were garbage-collected before its commit named them;
    sent again, the request stores the content anew."""

    def __init__(self, missing: int) -> None:
        super().__init__(f"{missing} chunk(s) were garbage-collected before the commit; retry")
        self.missing = missing


class ChecksumMismatchError(GatewayError):
    """The body's digest differs from the one the client declared (e.g. Content-MD5)."""


class IncompleteBodyError(GatewayError):
    """The body ended before its declared length."""


class MalformedBodyError(IncompleteBodyError):
    """The body's transfer framing (HTTP chunked encoding) is broken: it has no sound end."""


class EntityTooLargeError(GatewayError):
    """The body exceeds the largest object size the gateway accepts."""


class AccessDeniedError(GatewayError):
    """The authenticated user may not do this."""


class BucketNotFoundError(NotFoundError):
    """The bucket does not exist."""


class ObjectNotFoundError(NotFoundError):
    """The key has no current version."""


class DeleteMarkerError(ObjectNotFoundError):
    """The addressed version is a delete marker, whose S3 version id and time it carries.

    ``current`` tells whether it was addressed as the key's current version (S3: 404)
    or by its version id (S3: 405).
    """

    def __init__(self, key: str, version_id: str, last_modified: datetime, *, current: bool):
        super().__init__(key)
        self.version_id = version_id
        self.last_modified = last_modified
        self.current = current


class VersionNotFoundError(NotFoundError):
    """The key has no version with the id a client named."""


class UploadNotFoundError(NotFoundError):
    """The multipart upload does not exist, or was completed or aborted."""


class InvalidNameError(GatewayError):
    """A bucket name or key breaks the naming rules."""


class InvalidBucketNameError(InvalidNameError):
    """A bucket name breaks S3's bucket naming rules."""


class InvalidKeyError(InvalidNameError):
    """An object key is empty, not valid UTF-8, or holds NUL."""


class KeyTooLongError(InvalidKeyError):
    """An object key is longer than 1024 bytes of UTF-8."""


class InvalidPartError(GatewayError):
    """A part named in a completion list is missing or its ETag differs."""


class InvalidPartOrderError(GatewayError):
    """The part numbers of a completion list are not strictly ascending."""


class EntityTooSmallError(GatewayError):
    """A part other than the last is smaller than the minimum part size."""


class PreconditionFailedError(GatewayError):
    """A conditional write's condition (named by the message) did not hold at commit."""


class ObjectBlockedError(AccessDeniedError):
    """The version may not be served because of its malware scan; ``status`` says why."""

    def __init__(self, key: str, message: str, status: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.status = status


class QuarantinedError(ObjectBlockedError):
    """The version is quarantined: malware was found, or it could not be scanned under the
    ``quarantine`` oversize policy."""


class ScanPendingError(ObjectBlockedError):
    """The version's bucket serves only scanned versions and this one has no verdict yet."""


class FileChecksumMismatchError(GatewayError):
    """A native-API upload's parts do not add up to the size or SHA-256 the client gave
    at finalize; the file stays ``uploading`` so that its parts can be fixed."""


class FileIncompleteError(GatewayError):
    """A native-API upload is finalized while parts are missing or of the wrong size."""


class FileNotReadyError(GatewayError):
    """A native-API file is read before its upload was finalized."""


class FileRejectedError(GatewayError):
    """An announced file breaks a limit (size, content type) before any byte moved."""


class QuotaExceededError(GatewayError):
    """An announced file would take its owner over the storage quota."""
