"""The WebDAV measurements over one running server.

In order: curl PUT and GET of each test file (``bench.runner``'s loop, with the WebDAV
curl client), small PUTs by parallel clients into ``bench/small/``, the fill of
``bench/listing/`` with many small files, and a series of ``PROPFIND Depth: 1`` of
that folder while the server's RSS is sampled.
"""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from defusedxml.ElementTree import ParseError

from bench.clients import make_dav_clients
from bench.data import Dataset
from bench.dav_http import (
    DavConnection,
    DavError,
    count_responses,
    mkcol,
    parallel_puts,
    propfind,
)
from bench.endpoint import DavEndpoint
from bench.memory import PeakRss, tree_rss
from bench.model import MIB, DavSuiteResult, Listing, SmallPuts
from bench.runner import measure_service
from bench.services import BUCKET, Service

Log = Callable[[str], None]
SMALL_FOLDER = f"{BUCKET}/small"
LISTING_FOLDER = f"{BUCKET}/listing"
SETTLE_SECONDS = 1.0
# Pause after each PROPFIND before sampling RSS, so that the sample shows what the server
# keeps rather than the buffers of a response it is still tearing down.
SAMPLE_PAUSE_SECONDS = 0.25


@dataclass(frozen=True)
class DavPlan:
    """How much of each WebDAV measurement to do."""

    small_files: int = 4000
    small_size: int = 4096
    workers: int = 4
    listing_entries: int = 10000
    propfinds: int = 20


def _paths(folder: str, count: int) -> list[str]:
    return [f"{folder}/f{index:06d}.bin" for index in range(count)]


def _random_payload(size: int) -> Callable[[int], bytes]:
    """Fresh random bytes for every file, so that no server can deduplicate them."""
    return lambda _index: os.urandom(size)


def put_files(service: Service[DavEndpoint], folder: str, files: int, plan: DavPlan) -> SmallPuts:
    """MKCOL ``folder``, then PUT ``files`` random files of ``plan.small_size`` bytes into
    it with ``plan.workers`` parallel clients."""
    record = SmallPuts(service.name, folder, files, plan.small_size, plan.workers)
    try:
        mkcol(service.endpoint, folder + "/")
    except (DavError, OSError, http.client.HTTPException) as exc:
        record.errors.append(f"MKCOL {folder}/: {exc}")
        return record
    tally = parallel_puts(
        service.endpoint,
        _paths(folder, files),
        _random_payload(plan.small_size),
        plan.workers,
    )
    record.succeeded, record.failed = tally.succeeded, tally.failed
    record.seconds, record.errors = tally.seconds, tally.errors
    return record


def describe_puts(record: SmallPuts) -> str:
    """One progress line for a batch of small PUTs."""
    line = (
        f"webdav [{record.service}] {record.files} x {record.size_bytes} B PUT into "
        f"{record.folder}/ by {record.workers} clients: {record.succeeded} ok"
    )
    if record.seconds:
        line += f" in {record.seconds:.1f} s, {record.per_second:.0f}/s"
    if not record.ok:
        line += f"  FAILED: {record.failed} failed; " + " | ".join(record.errors)
    return line


def list_folder(service: Service[DavEndpoint], folder: str, entries: int, repeats: int) -> Listing:
    """``repeats`` PROPFIND Depth 1 of ``folder`` over one keep-alive connection, each
    checked to list ``entries`` + 1 resources (outside its timing), with the server's RSS
    before, peak during, ``SAMPLE_PAUSE_SECONDS`` after each, and ``SETTLE_SECONDS``
    after the last."""
    record = Listing(service.name, folder, entries)
    expected = entries + 1
    with DavConnection(service.endpoint) as connection, PeakRss(service.pid) as rss:
        for _ in range(repeats):
            try:
                seconds, reply = propfind(connection, folder)
            except (OSError, http.client.HTTPException) as exc:
                record.error = f"PROPFIND {folder}/: {type(exc).__name__}: {exc}"
                break
            time.sleep(SAMPLE_PAUSE_SECONDS)
            record.rss_after_each_bytes.append(tree_rss(service.pid))
            if reply.status != 207:
                record.error = f"PROPFIND {folder}/ answered {reply.describe()}"
                break
            record.seconds.append(seconds)
            record.response_bytes = len(reply.body)
            try:
                listed = count_responses(reply.body)
            except ParseError as exc:
                record.error = f"PROPFIND {folder}/ answered XML that does not parse: {exc}"
                break
            record.listed.append(listed)
            if listed != expected:
                record.error = f"PROPFIND {folder}/ listed {listed} resources, expected {expected}"
                break
    record.rss_before_bytes, record.rss_peak_bytes = rss.before, rss.peak
    time.sleep(SETTLE_SECONDS)
    record.rss_after_bytes = tree_rss(service.pid)
    return record


def describe_listing(record: Listing) -> str:
    """One progress line for a PROPFIND series."""
    line = f"webdav [{record.service}] PROPFIND Depth 1 of {record.entries} entries"
    if record.seconds:
        line += (
            f" x {len(record.seconds)}: first {record.seconds[0]:.2f} s, "
            f"min {min(record.seconds):.2f} s, max {max(record.seconds):.2f} s"
        )
    if record.rss_before_bytes is not None and record.rss_peak_bytes is not None:
        line += (
            f"  RSS {record.rss_before_bytes / MIB:.0f} -> peak {record.rss_peak_bytes / MIB:.0f}"
            f" -> {(record.rss_after_bytes or 0) / MIB:.0f} MiB"
        )
    if record.error:
        line += f"  FAILED: {record.error}"
    return line


def measure_dav_service(
    service: Service[DavEndpoint],
    suite: DavSuiteResult,
    datasets: Sequence[Dataset],
    scratch: Path,
    plan: DavPlan,
    log: Log,
) -> bool:
    """Take every WebDAV measurement of ``service``, adding each to ``suite`` as soon as it
    is taken; True when all succeeded. ``plan`` says how many files and PROPFINDs."""

    def tagged(line: str) -> None:
        log(f"webdav {line}")

    ok = True
    for measurement in measure_service(service, datasets, make_dav_clients(), scratch, tagged):
        suite.measurements.append(measurement)
        ok = ok and measurement.ok
    small = put_files(service, SMALL_FOLDER, plan.small_files, plan)
    suite.small_puts.append(small)
    log(describe_puts(small))
    fill = put_files(service, LISTING_FOLDER, plan.listing_entries, plan)
    suite.fills.append(fill)
    log(describe_puts(fill))
    if not fill.ok:
        suite.listings.append(
            Listing(service.name, LISTING_FOLDER, plan.listing_entries, error="fill failed")
        )
        return False
    listing = list_folder(service, LISTING_FOLDER, plan.listing_entries, plan.propfinds)
    suite.listings.append(listing)
    log(describe_listing(listing))
    return ok and small.ok and listing.ok
