"""The S3 suite's parallel measurements over one running server.

The suite runs them on a freshly started server, after the PUT/GET loop of
``bench.runner`` has been run on another instance: on the gateway, that loop's uploads
of the same files in the same 8 MiB parts would otherwise turn these uploads into pure
deduplication. In order:

1. for each data set, a multipart upload by ``bench.multipart`` (``plan.part_size``
   parts, ``plan.part_threads`` threads), timed, with the server's peak RSS and, on the
   gateway, the bytes its backend gained; then, outside the timing, the ETag and a GET
   of the whole object checked against the file;
2. ``plan.small_puts`` PutObject of ``plan.small_size`` fresh random bytes each, under
   ``small/``, by ``plan.small_threads`` clients at once (``bench.s3_puts``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.data import Dataset
from bench.endpoint import Endpoint
from bench.memory import PeakRss
from bench.model import MIB, Measurement, S3SuiteResult, SmallPuts
from bench.multipart import Upload, check_object, upload_in_parts
from bench.runner import directory_size
from bench.s3_puts import parallel_puts
from bench.services import BUCKET, Service

Log = Callable[[str], None]
CLIENT = "boto3"
OPERATION = "multipart"
SMALL_PREFIX = "small/"


@dataclass(frozen=True)
class S3Plan:
    """How the parallel S3 measurements are done."""

    part_size: int = 8 * MIB
    part_threads: int = 4
    small_puts: int = 1000
    small_size: int = 4096
    small_threads: int = 8


def _skipped(service: Service[Endpoint], dataset: Dataset, code: int) -> Measurement:
    return Measurement(
        service.name,
        dataset.name,
        CLIENT,
        OPERATION,
        dataset.size,
        error=f"skipped: the server exited with code {code}",
    )


def upload(service: Service[Endpoint], dataset: Dataset, plan: S3Plan) -> Measurement:
    """The timed multipart upload of ``dataset`` as ``<dataset>-multipart``, then its
    checks; a failure of either is recorded in the measurement's ``error``."""
    measurement = Measurement(service.name, dataset.name, CLIENT, OPERATION, dataset.size)
    key = f"{dataset.name}-multipart"
    client = service.endpoint.s3_client()
    try:
        backend_before = directory_size(service.blob_dir) if service.blob_dir else 0
        done: Upload | None = None
        with PeakRss(service.pid) as rss:
            try:
                done = upload_in_parts(
                    client, BUCKET, key, dataset.path, plan.part_size, plan.part_threads
                )
            except Exception as exc:  # a failed transfer is a result, not a crash
                measurement.error = f"{type(exc).__name__}: {exc}"
        measurement.rss_before_bytes, measurement.rss_peak_bytes = rss.before, rss.peak
        if service.blob_dir:
            measurement.backend_bytes_added = directory_size(service.blob_dir) - backend_before
        if done is not None:
            measurement.seconds = done.seconds
            measurement.error = check_object(
                client, BUCKET, key, dataset, done.etag, plan.part_size
            )
    finally:
        client.close()
    return measurement


def describe_upload(measurement: Measurement, plan: S3Plan) -> str:
    """One progress line for a multipart upload."""
    parts = -(-measurement.size_bytes // plan.part_size)
    line = (
        f"[{measurement.service}] {measurement.dataset:6} multipart, {parts} x "
        f"{plan.part_size / MIB:g} MiB parts, {plan.part_threads} threads"
    )
    if measurement.seconds is not None:
        line += f" {measurement.seconds:7.2f} s"
    if measurement.mib_per_s is not None:
        line += f" {measurement.mib_per_s:8.1f} MiB/s"
    if measurement.rss_growth_bytes is not None:
        line += f"  RSS +{measurement.rss_growth_bytes / MIB:.1f} MiB"
    if measurement.backend_bytes_added is not None:
        line += f"  backend +{measurement.backend_bytes_added / MIB:.1f} MiB"
    if measurement.error:
        line += f"  FAILED: {measurement.error}"
    return line


def put_small(service: Service[Endpoint], plan: S3Plan) -> SmallPuts:
    """``plan.small_puts`` PUTs of fresh random objects under ``small/`` (so that no server
    can deduplicate them), by ``plan.small_threads`` clients."""
    record = SmallPuts(
        service.name,
        f"{BUCKET}/{SMALL_PREFIX.rstrip('/')}",
        plan.small_puts,
        plan.small_size,
        plan.small_threads,
    )
    keys = [f"{SMALL_PREFIX}p{index:06d}.bin" for index in range(plan.small_puts)]
    tally = parallel_puts(
        service.endpoint,
        BUCKET,
        keys,
        lambda _index: os.urandom(plan.small_size),
        plan.small_threads,
    )
    record.succeeded, record.failed = tally.succeeded, tally.failed
    record.seconds, record.errors = tally.seconds, tally.errors
    return record


def describe_small(record: SmallPuts) -> str:
    """One progress line for the small PUTs."""
    line = (
        f"[{record.service}] {record.files} x {record.size_bytes} B PutObject by "
        f"{record.workers} clients: {record.succeeded} ok"
    )
    if record.seconds:
        line += f" in {record.seconds:.1f} s, {record.per_second:.0f}/s"
    if not record.ok:
        line += f"  FAILED: {record.failed} failed; " + " | ".join(record.errors)
    return line


def measure_parallel(
    service: Service[Endpoint],
    suite: S3SuiteResult,
    datasets: Sequence[Dataset],
    plan: S3Plan,
    log: Log,
) -> bool:
    """Take the multipart uploads and the small PUTs on ``service``, adding each to
    ``suite`` as soon as it is taken; True when all succeeded."""
    suite.part_size, suite.part_threads = plan.part_size, plan.part_threads
    ok = True
    for dataset in datasets:
        exited = service.process.poll()
        measurement = (
            _skipped(service, dataset, exited)
            if exited is not None
            else upload(service, dataset, plan)
        )
        suite.multipart.append(measurement)
        log(describe_upload(measurement, plan))
        ok = ok and measurement.ok
    exited = service.process.poll()
    if exited is None:
        small = put_small(service, plan)
    else:
        small = SmallPuts(
            service.name,
            f"{BUCKET}/{SMALL_PREFIX.rstrip('/')}",
            plan.small_puts,
            plan.small_size,
            plan.small_threads,
            errors=[f"skipped: the server exited with code {exited}"],
        )
    suite.small_puts.append(small)
    log(describe_small(small))
    return ok and small.ok
