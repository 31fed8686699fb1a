"""The benchmark's result records, shared by the runner and the report."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

MIB = 1 << 20
MAX_ERRORS_KEPT = 5


@dataclass
class Measurement:
    """One timed transfer of one data set by one client against one server.

    ``seconds`` is None when the transfer did not run to completion; ``error`` says why
    it failed or was skipped (a GET whose content did not match has both). RSS figures
    are of the server's process tree (before the transfer, and peak during it), and
    ``backend_bytes_added`` is the growth of the gateway's blob directory during a PUT.
    """

    service: str
    dataset: str
    client: str
    operation: str
    size_bytes: int
    seconds: float | None = None
    error: str | None = None
    rss_before_bytes: int | None = None
    rss_peak_bytes: int | None = None
    backend_bytes_added: int | None = None

    @property
    def ok(self) -> bool:
        """True when the transfer completed and (for a GET) its content matched."""
        return self.error is None and self.seconds is not None

    @property
    def mib_per_s(self) -> float | None:
        """Throughput in MiB/s (2**20 bytes per second): size / wall time; None unless ok."""
        if not self.ok or not self.seconds:
            return None
        return self.size_bytes / MIB / self.seconds

    @property
    def rss_growth_bytes(self) -> int | None:
        """Peak RSS minus RSS before, in bytes, when both were sampled."""
        if self.rss_before_bytes is None or self.rss_peak_bytes is None:
            return None
        return max(0, self.rss_peak_bytes - self.rss_before_bytes)

    def to_json(self) -> dict[str, Any]:
        """The fields plus the derived ``mib_per_s`` and ``rss_growth_bytes``."""
        record = asdict(self)
        record["mib_per_s"] = self.mib_per_s
        record["rss_growth_bytes"] = self.rss_growth_bytes
        return record


@dataclass
class SuiteResult:
    """The throughput measurements of one suite (S3 or WebDAV) of a run.

    ``services`` lists the servers selected, in run order; ``service_errors`` holds the
    ones that could not be started (or failed in the middle) with the reason.
    """

    services: list[str]
    datasets: list[str]
    clients: list[str]
    measurements: list[Measurement] = field(default_factory=list)
    service_errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every server started and every transfer succeeded."""
        return not self.service_errors and all(m.ok for m in self.measurements)

    def find(self, service: str, dataset: str, client: str, operation: str) -> Measurement | None:
        """The measurement with these keys, if any."""
        for measurement in self.measurements:
            if (measurement.service, measurement.dataset, measurement.client) == (
                service,
                dataset,
                client,
            ) and measurement.operation == operation:
                return measurement
        return None


@dataclass
class PutTally:
    """What a batch of parallel PUTs achieved: the counts, the wall time, and the first
    few distinct errors."""

    succeeded: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, error: str | None) -> None:
        """Count one PUT: a success when ``error`` is None, else a failure, keeping its
        text when it is one of the first ``MAX_ERRORS_KEPT`` distinct ones. Callers that
        share a tally between threads hold a lock around this."""
        if error is None:
            self.succeeded += 1
            return
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT and error not in self.errors:
            self.errors.append(error)


@dataclass
class SmallPuts:
    """``files`` PUTs of ``size_bytes`` each into ``folder``, by ``workers`` clients at once.

    ``folder`` is a WebDAV folder or an S3 key prefix (``bucket/prefix``). Only successful
    answers count as ``succeeded`` (201 and 204 for WebDAV, 200 for S3); ``errors`` keeps
    the first few distinct failures (status and body, or exception). ``seconds`` is the
    wall time from the moment all workers start to the moment the last one finishes.
    """

    service: str
    folder: str
    files: int
    size_bytes: int
    workers: int
    succeeded: int = 0
    failed: int = 0
    seconds: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every PUT succeeded."""
        return self.seconds is not None and self.succeeded == self.files and not self.failed

    @property
    def per_second(self) -> float | None:
        """Successful PUTs per second of wall time; None when nothing ran."""
        if not self.seconds:
            return None
        return self.succeeded / self.seconds

    def to_json(self) -> dict[str, Any]:
        """The fields plus the derived ``per_second``."""
        record = asdict(self)
        record["per_second"] = self.per_second
        return record


@dataclass
class Listing:
    """Repeated ``PROPFIND Depth: 1`` of a folder holding ``entries`` files.

    ``seconds`` has the time of each PROPFIND (request sent to response fully read);
    ``listed`` the number of ``<D:response>`` elements each answer held (``entries`` + 1
    for the folder itself when correct). RSS figures are of the server's process tree:
    just before the first PROPFIND, the peak while they ran, after each one, and after
    the last one. ``error`` says why the series stopped or failed its check.
    """

    service: str
    folder: str
    entries: int
    seconds: list[float] = field(default_factory=list)
    listed: list[int] = field(default_factory=list)
    response_bytes: int | None = None
    rss_before_bytes: int | None = None
    rss_peak_bytes: int | None = None
    rss_after_bytes: int | None = None
    rss_after_each_bytes: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every PROPFIND ran and listed the folder and all its entries."""
        return self.error is None and bool(self.seconds)

    @property
    def first_seconds(self) -> float | None:
        """The time of the first PROPFIND."""
        return self.seconds[0] if self.ok else None

    @property
    def median_seconds(self) -> float | None:
        """The median time over all PROPFINDs."""
        return statistics.median(self.seconds) if self.ok else None

    @property
    def rss_drift_bytes(self) -> int | None:
        """RSS after the last PROPFIND minus RSS after the first (the growth per repeat,
        once the first one has warmed up whatever caches and arenas it uses)."""
        if len(self.rss_after_each_bytes) < 2:
            return None
        return self.rss_after_each_bytes[-1] - self.rss_after_each_bytes[0]

    def to_json(self) -> dict[str, Any]:
        """The fields plus the derived first and median seconds and RSS drift."""
        record = asdict(self)
        record["first_seconds"] = self.first_seconds
        record["median_seconds"] = self.median_seconds
        record["rss_drift_bytes"] = self.rss_drift_bytes
        return record


@dataclass
class DavSuiteResult(SuiteResult):
    """The WebDAV suite: the throughput measurements plus, per server, the parallel small
    PUTs, the fill of the listing folder, and the PROPFIND series over it."""

    small_puts: list[SmallPuts] = field(default_factory=list)
    fills: list[SmallPuts] = field(default_factory=list)
    listings: list[Listing] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every server started and every measurement succeeded."""
        records: list[SmallPuts | Listing] = [*self.small_puts, *self.fills, *self.listings]
        return super().ok and all(record.ok for record in records)

    def small_puts_of(self, service: str) -> SmallPuts | None:
        """The small-PUT measurement of ``service``, if any."""
        return next((record for record in self.small_puts if record.service == service), None)

    def listing_of(self, service: str) -> Listing | None:
        """The PROPFIND series of ``service``, if any."""
        return next((record for record in self.listings if record.service == service), None)


@dataclass
class S3SuiteResult(SuiteResult):
    """The S3 suite: the PUT/GET measurements plus, per server (each on a fresh start), a
    multipart upload of each data set in parts of ``part_size`` bytes by ``part_threads``
    threads (``multipart``: client ``boto3``, operation ``multipart``) and a batch of
    small PUTs by parallel clients."""

    multipart: list[Measurement] = field(default_factory=list)
    small_puts: list[SmallPuts] = field(default_factory=list)
    part_size: int = 8 * MIB
    part_threads: int = 4

    @property
    def ok(self) -> bool:
        """True when every server started and every measurement succeeded."""
        records: list[Measurement | SmallPuts] = [*self.multipart, *self.small_puts]
        return super().ok and all(record.ok for record in records)

    def multipart_of(self, service: str, dataset: str) -> Measurement | None:
        """The multipart upload of ``dataset`` to ``service``, if any."""
        return next(
            (m for m in self.multipart if (m.service, m.dataset) == (service, dataset)), None
        )

    def small_puts_of(self, service: str) -> SmallPuts | None:
        """The small-PUT measurement of ``service``, if any."""
        return next((record for record in self.small_puts if record.service == service), None)


@dataclass
class RunResult:
    """Everything one benchmark run found: the S3 suite and the WebDAV suite (None when
    not selected), and ``gateway_stats``, the output of ``gateway stats`` after all the
    S3 suite's gateway uploads."""

    size_bytes: int
    s3: S3SuiteResult | None
    webdav: DavSuiteResult | None
    environment: dict[str, str] = field(default_factory=dict)
    gateway_stats: dict[str, str] | None = None
    started_at: str = ""
    duration_seconds: float = 0.0

    @property
    def suites(self) -> list[str]:
        """The names of the suites that were selected, in run order."""
        return [
            name for name, suite in (("s3", self.s3), ("webdav", self.webdav)) if suite is not None
        ]

    @property
    def ok(self) -> bool:
        """True when every selected suite succeeded."""
        return all(suite.ok for suite in (self.s3, self.webdav) if suite is not None)
