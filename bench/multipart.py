"""A multipart upload driven call by call with boto3, and the checks of its result.

``upload_in_parts`` makes the calls itself rather than through boto3's TransferManager,
so the requests are exactly these: one CreateMultipartUpload, one UploadPart per part of
``part_size`` bytes (the last may be shorter), sent by ``threads`` threads at once, and
one CompleteMultipartUpload. As ``upload_file`` does, it asks for CRC32 part checksums
(botocore computes them and signs each part's SHA-256 over plain HTTP) and passes them
back in the completion. The threads share one S3 client, as TransferManager's do (boto3
clients are thread-safe), and each reads its part from the file when it sends it, so
about ``threads`` parts are in memory at a time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from bench.clients import TransferError
from bench.data import BLOCK, Dataset

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

CHECKSUM_ALGORITHM: Final = "CRC32"
_CLIENT_ERRORS = (BotoCoreError, ClientError, OSError)


@dataclass(frozen=True)
class Upload:
    """A completed multipart upload: its wall time, its part count and the ETag that
    CompleteMultipartUpload returned (without quotes)."""

    seconds: float
    parts: int
    etag: str


def part_ranges(size: int, part_size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of each part of a ``size``-byte file, in order."""
    return [(offset, min(part_size, size - offset)) for offset in range(0, size, part_size)]


def _send_part(
    client: S3Client,
    bucket: str,
    key: str,
    upload_id: str,
    fd: int,
    number: int,
    span: tuple[int, int],
) -> CompletedPartTypeDef:
    offset, length = span
    body = os.pread(fd, length, offset)
    if len(body) != length:
        raise TransferError(f"part {number}: read {len(body)} of {length} bytes")
    answer = client.upload_part(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=number,
        Body=body,
        ChecksumAlgorithm=CHECKSUM_ALGORITHM,
    )
    part: CompletedPartTypeDef = {"PartNumber": number, "ETag": answer["ETag"]}
    if "ChecksumCRC32" in answer:
        part["ChecksumCRC32"] = answer["ChecksumCRC32"]
    return part


def _send_parts(
    client: S3Client,
    bucket: str,
    key: str,
    upload_id: str,
    source: Path,
    spans: list[tuple[int, int]],
    threads: int,
) -> list[CompletedPartTypeDef]:
    """UploadPart every span with ``threads`` threads; the parts in order. On the first
    failure (or KeyboardInterrupt) the parts not yet started are cancelled, the running
    ones are waited for, and the exception propagates."""
    fd = os.open(source, os.O_RDONLY)
    pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="part")
    try:
        futures = [
            pool.submit(_send_part, client, bucket, key, upload_id, fd, number, span)
            for number, span in enumerate(spans, start=1)
        ]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        os.close(fd)


def upload_in_parts(
    client: S3Client, bucket: str, key: str, source: Path, part_size: int, threads: int
) -> Upload:
    """Upload ``source`` as ``bucket/key`` in parts of ``part_size`` bytes, ``threads`` at a
    time; the wall time covers all the calls, from CreateMultipartUpload to the answer of
    CompleteMultipartUpload.

    Raises TransferError when a call fails; the upload is then aborted (best effort).
    """
    spans = part_ranges(source.stat().st_size, part_size)
    started = time.perf_counter()
    try:
        created = client.create_multipart_upload(
            Bucket=bucket, Key=key, ChecksumAlgorithm=CHECKSUM_ALGORITHM
        )
    except _CLIENT_ERRORS as exc:
        raise TransferError(f"CreateMultipartUpload: {type(exc).__name__}: {exc}") from exc
    upload_id = created["UploadId"]
    try:
        parts = _send_parts(client, bucket, key, upload_id, source, spans, threads)
        completed = client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException as exc:
        with contextlib.suppress(*_CLIENT_ERRORS):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        if isinstance(exc, (*_CLIENT_ERRORS, TransferError)):
            raise TransferError(f"multipart upload: {type(exc).__name__}: {exc}") from exc
        raise
    seconds = time.perf_counter() - started
    return Upload(seconds, len(spans), completed.get("ETag", "").strip('"'))


@functools.lru_cache(maxsize=8)
def multipart_etag(path: Path, part_size: int) -> str:
    """S3's ETag of the file at ``path`` uploaded in parts of ``part_size``: the MD5 of
    the concatenated binary MD5s of the parts, then ``-`` and the number of parts."""
    digests = b""
    with open(path, "rb") as stream:
        for _offset, length in part_ranges(path.stat().st_size, part_size):
            digest = hashlib.md5(usedforsecurity=False)
            remaining = length
            while remaining:
                block = stream.read(min(BLOCK, remaining))
                if not block:
                    break
                digest.update(block)
                remaining -= len(block)
            digests += digest.digest()
    count = len(digests) // 16
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{count}"


def check_object(
    client: S3Client, bucket: str, key: str, dataset: Dataset, etag: str, part_size: int
) -> str | None:
    """Why the multipart upload of ``dataset`` to ``bucket/key`` with ETag ``etag`` is
    wrong, or None: the ETag must be S3's multipart ETag of the file, and a GET of the
    object (read as a stream, not stored) must give the file's size and MD5."""
    expected = multipart_etag(dataset.path, part_size)
    if etag != expected:
        return f"CompleteMultipartUpload gave ETag {etag!r}, expected {expected!r}"
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        for block in body.iter_chunks(BLOCK):
            digest.update(block)
            size += len(block)
    except _CLIENT_ERRORS as exc:
        return f"verifying GET: {type(exc).__name__}: {exc}"
    if size != dataset.size:
        return f"verifying GET read {size} bytes, expected {dataset.size}"
    if digest.hexdigest() != dataset.md5:
        return "verifying GET: content differs from the original (MD5)"
    return None
