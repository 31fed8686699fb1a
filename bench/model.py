"""The benchmark's result records, shared by the runner and the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MIB = 1 << 20


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
class RunResult:
    """Everything one benchmark run found.

    ``services`` lists the servers selected, in run order; ``service_errors`` holds the
    ones that could not be started (or failed in the middle) with the reason;
    ``gateway_stats`` is the output of ``gateway stats`` after all gateway uploads.
    """

    size_bytes: int
    services: list[str]
    datasets: list[str]
    clients: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)
    service_errors: dict[str, str] = field(default_factory=dict)
    gateway_stats: dict[str, str] | None = None
    started_at: str = ""
    duration_seconds: float = 0.0

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
