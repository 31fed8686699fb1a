"""The measurement loop over one running server.

For each data set, and for each client in turn, the runner PUTs the file under a key of
its own (``<dataset>-<client>``) and GETs it back, recording wall time, the server's RSS
(before and peak) and, for the gateway, the bytes its backend gained during the PUT. A
GET counts only when the downloaded file has the original's size and MD5; that check,
like the download's deletion, happens outside the timed section.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from bench.clients import Client
from bench.data import Dataset, file_md5
from bench.memory import PeakRss
from bench.model import MIB, Measurement
from bench.services import BUCKET, Service

Log = Callable[[str], None]
E = TypeVar("E")


def directory_size(path: Path) -> int:
    """Total size in bytes of the regular files under ``path`` (0 when it is missing)."""
    total = 0
    for directory, _subdirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def _describe(measurement: Measurement) -> str:
    head = (
        f"[{measurement.service}] {measurement.dataset:6} {measurement.client:5} "
        f"{measurement.operation:3}"
    )
    if measurement.seconds is not None:
        head += f" {measurement.seconds:7.2f} s"
    if measurement.mib_per_s is not None:
        head += f" {measurement.mib_per_s:8.1f} MiB/s"
    growth = measurement.rss_growth_bytes
    if growth is not None:
        head += f"  RSS +{growth / MIB:.1f} MiB"
    if measurement.backend_bytes_added is not None:
        head += f"  backend +{measurement.backend_bytes_added / MIB:.1f} MiB"
    if measurement.error:
        head += f"  FAILED: {measurement.error}"
    return head


def _put(service: Service[E], client: Client[E], dataset: Dataset, key: str) -> Measurement:
    measurement = Measurement(service.name, dataset.name, client.name, "PUT", dataset.size)
    backend_before = directory_size(service.blob_dir) if service.blob_dir else 0
    with PeakRss(service.pid) as rss:
        try:
            measurement.seconds = client.put(service.endpoint, BUCKET, key, dataset.path)
        except Exception as exc:  # a failed transfer is a result, not a crash
            measurement.error = f"{type(exc).__name__}: {exc}"
    measurement.rss_before_bytes, measurement.rss_peak_bytes = rss.before, rss.peak
    if service.blob_dir:
        measurement.backend_bytes_added = directory_size(service.blob_dir) - backend_before
    return measurement


def _get(
    service: Service[E], client: Client[E], dataset: Dataset, key: str, scratch: Path
) -> Measurement:
    measurement = Measurement(service.name, dataset.name, client.name, "GET", dataset.size)
    dest = scratch / f"{service.name}-{key}.download"
    try:
        with PeakRss(service.pid) as rss:
            try:
                measurement.seconds = client.get(service.endpoint, BUCKET, key, dest)
            except Exception as exc:  # a failed transfer is a result, not a crash
                measurement.error = f"{type(exc).__name__}: {exc}"
        measurement.rss_before_bytes, measurement.rss_peak_bytes = rss.before, rss.peak
        if measurement.error is None:
            size = dest.stat().st_size if dest.exists() else -1
            if size != dataset.size:
                measurement.error = f"downloaded {size} bytes, expected {dataset.size}"
            elif file_md5(dest) != dataset.md5:
                measurement.error = "downloaded content differs from the original (MD5)"
    finally:
        dest.unlink(missing_ok=True)
    return measurement


def measure_service(
    service: Service[E],
    datasets: Sequence[Dataset],
    clients: Sequence[Client[E]],
    scratch: Path,
    log: Log,
) -> Iterator[Measurement]:
    """PUT then GET every data set with every client against ``service``, yielding each
    measurement as soon as it is taken (so those taken before an error are kept).

    Downloads go to ``scratch`` and are deleted after checking. A failed PUT makes its
    GET a skipped measurement, and so does a server that has exited. Each measurement is
    passed to ``log`` as a line of text as soon as it is taken.
    """
    for dataset in datasets:
        for client in clients:
            key = f"{dataset.name}-{client.name}"
            exited = service.process.poll()
            if exited is not None:
                for operation in ("PUT", "GET"):
                    gone = Measurement(
                        service.name,
                        dataset.name,
                        client.name,
                        operation,
                        dataset.size,
                        error=f"skipped: the server exited with code {exited}",
                    )
                    log(_describe(gone))
                    yield gone
                continue
            put = _put(service, client, dataset, key)
            log(_describe(put))
            yield put
            if put.ok:
                get = _get(service, client, dataset, key, scratch)
            else:
                get = Measurement(
                    service.name,
                    dataset.name,
                    client.name,
                    "GET",
                    dataset.size,
                    error="skipped: the PUT failed",
                )
            log(_describe(get))
            yield get
