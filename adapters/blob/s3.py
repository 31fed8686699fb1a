"""A blob store in an S3 (or S3-compatible) bucket, one object per key."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.response import StreamingBody

from gateway.ports import Allocate, BlobNotFound, BlobStoreUnavailable, Bytes
from gateway.records import BackendPart

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectOutputTypeDef

_T = TypeVar("_T")

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_CONNECT_TIMEOUT = 10.0
# ``ping`` (the health probe) gives up after these many seconds, on its first attempt.
PING_TIMEOUT = 5.0
# ``get_into`` reads response bodies in pieces of this size: small enough to come from
# memory the allocator already has, large enough to keep the calls few.
READ_PIECE = 128 * 1024

# ``put_stream`` sends a stream longer than this as a multipart upload of parts this size
# (S3's minimum part size is 5 MiB); one part is all it holds in memory.
STREAM_PART = 8 * 1024 * 1024

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchUpload", "404", "NotFound"})
# The server found the upload's Content-MD5 wrong: the body was corrupted in
# transit. botocore does not retry this, but sending the request again cures it.
_CORRUPTED_IN_TRANSIT = "BadDigest"


class _BodyBrokeOff(Exception):
    """A response body failed while being read, after botocore's retries were done with it."""


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _fill(view: memoryview, body: StreamingBody) -> memoryview:
    """Read ``body`` into ``view``, which it must fill exactly (IncompleteReadError if not)."""
    filled = 0
    while piece := body.read(READ_PIECE):
        end = filled + len(piece)
        if end > len(view):
            raise IncompleteReadError(actual_bytes=end, expected_bytes=len(view))
        view[filled:end] = piece
        filled = end
    if filled != len(view):
        raise IncompleteReadError(actual_bytes=filled, expected_bytes=len(view))
    return view


def _parts_of(stream: Iterable[Bytes], size: int) -> Iterator[bytes]:
    """The bytes of ``stream`` regrouped into pieces of ``size`` (the last may be shorter;
    an empty stream gives nothing)."""
    buffer = bytearray()
    for piece in stream:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def _chain(first: bytes, second: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from rest


class S3BlobStore:
    """``BlobStore`` over an S3 bucket, with keys stored under ``prefix``.

    Credentials come from boto3's default chain (environment, profile,
    instance role, ...) and are never accepted as arguments. Throttling, 5xx
    and connection errors are retried by botocore (standard mode, up to
    ``max_attempts`` attempts per request); truncated response bodies and
    uploads rejected as corrupted are retried here, up to ``max_attempts``
    times. Whatever survives the retries raises ``BlobStoreUnavailable``,
    including configuration errors such as a missing bucket or denied access.

    ``put`` sends a Content-MD5 header, which every S3 implementation checks,
    so a body corrupted in transit is rejected rather than stored.

    Thread-safe: one boto3 client, created here, is shared by all threads.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        public_endpoint_url: str | None = None,
    ) -> None:
        """Address ``bucket`` at ``endpoint_url`` (AWS when ``None``).

        ``prefix`` is a key prefix without leading or trailing ``/``; keys are
        stored as ``prefix/key``. ``max_attempts`` counts the first attempt,
        so 1 disables retries. ``connect_timeout`` is in seconds. ``public_endpoint_url``
        is where clients reach the service for direct uploads (``endpoint_url`` if None).
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._max_attempts = max_attempts
        config = Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": max_attempts},
            max_pool_connections=32,
            connect_timeout=connect_timeout,
            # Content-MD5 already protects uploads; botocore's default extra
            # CRC32 (sent as an aws-chunked trailer over TLS) is rejected by
            # several S3-compatible servers.
            request_checksum_calculation="when_required",
        )
        # A private session: boto3's default session is not thread-safe to create.
        self._client: S3Client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )
        self._endpoint_url = endpoint_url
        self._public_endpoint_url = public_endpoint_url or endpoint_url
        self._presigner: S3Client | None = None
        self._region = region
        self._probe: S3Client | None = None
        self._probe_lock = threading.Lock()

    @property
    def bucket(self) -> str:
        """The bucket holding the objects."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The key prefix inside the bucket, ``""`` or ending with ``/``."""
        return self._prefix

    def put(self, key: str, *parts: Bytes) -> None:
        """Store ``parts`` one after the other under ``key`` with a single PutObject (atomic
        in S3). The parts are joined into one body, which botocore needs to retry a send."""
        data = b"".join(parts)
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()

        def attempt() -> None:
            self._client.put_object(
                Bucket=self._bucket, Key=self._prefix + key, Body=data, ContentMD5=md5
            )

        self._call(f"put {key!r}", attempt)

    def put_stream(self, key: str, stream: Iterable[Bytes]) -> None:
        """Store the pieces of ``stream`` under ``key``: one PutObject when they add up to
        at most ``STREAM_PART`` bytes, else a multipart upload of ``STREAM_PART`` parts,
        completed only after the stream ended (aborted if it raised), so the object
        appears whole or not at all."""
        parts = _parts_of(stream, STREAM_PART)
        first = next(parts, b"")
        second = next(parts, None)
        if second is None:
            self.put(key, first)
            return
        bucket, name = self._bucket, self._prefix + key
        upload_id = self._call(
            f"start upload {key!r}",
            lambda: self._client.create_multipart_upload(Bucket=bucket, Key=name)["UploadId"],
        )
        try:
            done: list[dict[str, object]] = []
            for number, data in enumerate(_chain(first, second, parts), start=1):
                done.append(
                    {"PartNumber": number, "ETag": self._put_part(key, upload_id, number, data)}
                )
            self._call(
                f"complete upload {key!r}",
                lambda: self._client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": done},  # type: ignore[typeddict-item]
                ),
            )
        except BaseException:
            with contextlib.suppress(BlobStoreUnavailable, ClientError):
                self._call(
                    f"abort upload {key!r}",
                    lambda: self._client.abort_multipart_upload(
                        Bucket=bucket, Key=name, UploadId=upload_id
                    ),
                )
            raise

    def _put_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()

        def attempt() -> str:
            return self._client.upload_part(
                Bucket=self._bucket,
                Key=self._prefix + key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ContentMD5=md5,
            )["ETag"]

        return self._call(f"put part {number} of {key!r}", attempt)

    def read_stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield bytes ``[start, end)`` of the object from one ranged GetObject, in pieces
        of ``READ_PIECE``; a body that breaks off is resumed where it stopped."""
        position = start
        retries_left = self._max_attempts - 1
        while end is None or position < end:
            wanted = f"bytes={position}-" + ("" if end is None else str(end - 1))

            def attempt(wanted: str = wanted) -> StreamingBody | None:
                try:
                    response = self._client.get_object(
                        Bucket=self._bucket, Key=self._prefix + key, Range=wanted
                    )
                except ClientError as exc:
                    if _error_code(exc) == "InvalidRange":
                        return None
                    raise
                return response["Body"]

            try:
                body = self._call(f"get {key!r}", attempt)
            except ClientError as exc:
                raise BlobNotFound(key) from exc
            if body is None:
                return
            try:
                while piece := body.read(READ_PIECE):
                    position += len(piece)
                    yield piece
                return
            except (IncompleteReadError, ReadTimeoutError, ResponseStreamingError) as exc:
                if not retries_left:
                    raise BlobStoreUnavailable(f"s3 get {key!r} failed: {exc}") from exc
                retries_left -= 1
            finally:
                body.close()

    def get(self, key: str) -> bytes:
        """Return the object's bytes; ``BlobNotFound`` if there is none."""
        body: bytes = self._read_whole(key, lambda response: response["Body"].read())
        return body

    def get_into(self, key: str, allocate: Allocate) -> memoryview:
        """Stream the object into ``allocate(its size)``; a retried read allocates anew."""
        return self._read_whole(
            key, lambda response: _fill(allocate(response["ContentLength"]), response["Body"])
        )

    def _read_whole(self, key: str, consume: Callable[[GetObjectOutputTypeDef], _T]) -> _T:
        """GetObject ``key`` and ``consume`` the response, the whole call retried when the
        body breaks off; ``BlobNotFound`` if there is no such object."""

        def attempt() -> _T:
            response = self._client.get_object(Bucket=self._bucket, Key=self._prefix + key)
            try:
                return consume(response)
            except (IncompleteReadError, ReadTimeoutError, ResponseStreamingError) as exc:
                raise _BodyBrokeOff from exc

        try:
            return self._call(f"get {key!r}", attempt)
        except ClientError as exc:
            raise BlobNotFound(key) from exc

    def delete(self, key: str) -> None:
        """Remove ``key``; S3 reports success for a missing key too."""

        def attempt() -> None:
            self._client.delete_object(Bucket=self._bucket, Key=self._prefix + key)

        self._call(f"delete {key!r}", attempt)

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` exists, with a HEAD request."""

        def attempt() -> None:
            self._client.head_object(Bucket=self._bucket, Key=self._prefix + key)

        try:
            self._call(f"stat {key!r}", attempt)
        except ClientError:
            return False
        return True

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every key starting with ``prefix``, page by page, with the store prefix removed."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][len(self._prefix) :]
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreUnavailable(f"cannot list s3://{self._bucket}: {exc}") from exc

    def ping(self) -> None:
        """List at most one key under the prefix, in one attempt of at most ``PING_TIMEOUT``
        seconds to connect and as many to read.

        A missing bucket, denied credentials and an unreachable endpoint all raise
        ``BlobStoreUnavailable``. The probe has a client of its own without retries, so
        the main client's back-off never delays the answer.
        """
        try:
            self._probe_client().list_objects_v2(
                Bucket=self._bucket, Prefix=self._prefix, MaxKeys=1
            )
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreUnavailable(f"s3 ping of {self._bucket} failed: {exc}") from exc

    def flush(self) -> None:
        """Nothing to do: S3 acknowledges a put only once it is durable."""

    def close(self) -> None:
        """Close the clients' connection pools."""
        self._client.close()
        with self._probe_lock:
            for client in (self._probe, self._presigner):
                if client is not None:
                    client.close()

    # --- direct uploads (the DirectUploads port) ---------------------------------------

    def start_upload(self, key: str) -> str:
        """Start a multipart upload of ``key``; its upload id."""
        name = self._prefix + key
        return self._call(
            f"start upload {key!r}",
            lambda: self._client.create_multipart_upload(Bucket=self._bucket, Key=name)["UploadId"],
        )

    def part_url(self, key: str, upload_id: str, number: int, expires_in: int) -> str:
        """A pre-signed UploadPart URL at the public endpoint (signing is local)."""
        with self._probe_lock:
            if self._presigner is None:
                self._presigner = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self._public_endpoint_url,
                    region_name=self._region,
                    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
                )
            presigner = self._presigner
        return presigner.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._bucket,
                "Key": self._prefix + key,
                "UploadId": upload_id,
                "PartNumber": number,
            },
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )

    def uploaded_parts(self, key: str, upload_id: str) -> list[BackendPart]:
        """ListParts, every page; ``BlobNotFound`` when the upload is gone."""
        parts: list[BackendPart] = []
        marker = 0
        while True:

            def attempt(marker: int = marker) -> Any:
                return self._client.list_parts(
                    Bucket=self._bucket,
                    Key=self._prefix + key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                )

            try:
                page = self._call(f"list parts of {key!r}", attempt)
            except ClientError as exc:
                raise BlobNotFound(key) from exc
            parts += [
                BackendPart(p["PartNumber"], p["Size"], p["ETag"].strip('"'))
                for p in page.get("Parts", [])
            ]
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    def complete_upload(self, key: str, upload_id: str, parts: Sequence[BackendPart]) -> None:
        """CompleteMultipartUpload of ``parts``; ``BlobNotFound`` when the upload is gone."""
        listed = [{"PartNumber": p.number, "ETag": f'"{p.etag}"'} for p in parts]
        try:
            self._call(
                f"complete upload {key!r}",
                lambda: self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._prefix + key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": listed},  # type: ignore[typeddict-item]
                ),
            )
        except ClientError as exc:
            raise BlobNotFound(key) from exc

    def abort_upload(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload; an upload already gone is fine."""
        with contextlib.suppress(ClientError):
            self._call(
                f"abort upload {key!r}",
                lambda: self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._prefix + key, UploadId=upload_id
                ),
            )

    def _probe_client(self) -> S3Client:
        """The client ``ping`` uses, made on first use (most stores are never pinged)."""
        with self._probe_lock:
            if self._probe is None:
                config = Config(
                    s3={"addressing_style": "path"},
                    retries={"mode": "standard", "total_max_attempts": 1},
                    max_pool_connections=2,
                    connect_timeout=PING_TIMEOUT,
                    read_timeout=PING_TIMEOUT,
                )
                self._probe = boto3.session.Session().client(
                    "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
                )
            return self._probe

    def _call(self, what: str, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt``, retrying the failures botocore leaves to its caller.

        A not-found ``ClientError`` is re-raised unchanged for the caller to
        interpret; every other failure becomes ``BlobStoreUnavailable``.
        """
        retries_left = self._max_attempts - 1
        while True:
            try:
                return attempt()
            except ClientError as exc:
                code = _error_code(exc)
                if code in _NOT_FOUND_CODES:
                    raise
                if code != _CORRUPTED_IN_TRANSIT or not retries_left:
                    raise BlobStoreUnavailable(f"s3 {what} failed: {exc}") from exc
            except _BodyBrokeOff as exc:
                if not retries_left:
                    raise BlobStoreUnavailable(f"s3 {what} failed: {exc.__cause__}") from exc
            except BotoCoreError as exc:
                raise BlobStoreUnavailable(f"s3 {what} failed: {exc}") from exc
            retries_left -= 1
