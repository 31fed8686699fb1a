"""Translation of the core's domain errors into S3 errors."""

from __future__ import annotations

from gateway import errors
from gateway.ports import BlobStoreUnavailable
from gateway.s3 import errors as s3
from gateway.s3.response import http_date

_MAPPING: tuple[tuple[type[Exception], type[s3.S3Error]], ...] = (
    (errors.BucketNotFoundError, s3.NoSuchBucket),
    (errors.ObjectNotFoundError, s3.NoSuchKey),
    (errors.UploadNotFoundError, s3.NoSuchUpload),
    (errors.VersionNotFoundError, s3.NoSuchVersion),
    (errors.AccessDeniedError, s3.AccessDenied),
    (errors.InvalidBucketNameError, s3.InvalidBucketName),
    (errors.KeyTooLongError, s3.KeyTooLongError),
    (errors.InvalidKeyError, s3.InvalidArgument),
    (errors.BucketNotEmptyError, s3.BucketNotEmpty),
    (errors.ChecksumMismatchError, s3.BadDigest),
    (errors.IncompleteBodyError, s3.IncompleteBody),
    (errors.InvalidPartError, s3.InvalidPart),
    (errors.InvalidPartOrderError, s3.InvalidPartOrder),
    (errors.EntityTooSmallError, s3.EntityTooSmall),
    (errors.EntityTooLargeError, s3.EntityTooLarge),
    (errors.PreconditionFailedError, s3.PreconditionFailed),
    (errors.RetryableError, s3.SlowDown),
    (BlobStoreUnavailable, s3.ServiceUnavailable),
)


def to_s3_error(error: Exception) -> s3.S3Error:
    """The S3 error a domain error maps to; InternalError for anything unexpected."""
    if isinstance(error, errors.DeleteMarkerError):
        return delete_marker_error(error)
    if isinstance(error, errors.ObjectBlockedError):
        # HEAD answers carry no body: the header says why the version is refused.
        answer = s3.AccessDenied(error.message)
        answer.headers["x-gateway-scan-status"] = error.status
        return answer
    for domain, protocol in _MAPPING:
        if isinstance(error, domain):
            message = str(error) if protocol.status < 500 else None
            return protocol(message if message and protocol is s3.InvalidArgument else None)
    return s3.InternalError()


def delete_marker_error(error: errors.DeleteMarkerError) -> s3.S3Error:
    """S3's answer to reading a delete marker: 404 NoSuchKey when it is the key's current
    version, 405 MethodNotAllowed when named by version id, both flagged in headers."""
    answer: s3.S3Error = s3.NoSuchKey() if error.current else s3.MethodNotAllowed()
    answer.headers.update({"x-amz-delete-marker": "true", "x-amz-version-id": error.version_id})
    if not error.current:
        answer.headers["Last-Modified"] = http_date(error.last_modified)
    return answer
