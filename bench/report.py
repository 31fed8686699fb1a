"""The printed report and the JSON file of a run.

The S3 part is built from the rows of ``bench.tables``: one per (data set, client,
operation), with the MiB/s of each server and the gateway's ratio to each reference server
(above 1 = gateway faster). The WebDAV part comes from ``bench.dav_report``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.dav_report import dav_failure_lines, dav_json, dav_lines
from bench.model import MIB, RunResult, SuiteResult
from bench.tables import (
    backend_lines,
    backend_rows,
    failure_lines,
    rss_lines,
    rss_rows,
    throughput_lines,
    throughput_rows,
)

REFERENCES = ("seaweedfs", "moto")


def _s3_lines(suite: SuiteResult, result: RunResult) -> list[str]:
    size_mib = result.size_bytes / MIB
    lines = [
        "",
        f"S3 API: throughput in MiB/s (1 MiB = 2^20 bytes; object size / wall time), "
        f"{size_mib:g} MiB objects; ratios above 1 mean the gateway is faster.",
        "",
    ]
    lines += throughput_lines(suite, REFERENCES)
    lines += ["", *rss_lines(suite)]
    backend = backend_lines(suite)
    if backend:
        lines += ["", *backend]
        lines.append(
            "(the other client's upload of the same file adds only the chunks that cross its "
            "multipart part boundaries)"
        )
    if result.gateway_stats:
        lines += ["", "gateway stats after all uploads:"]
        lines += [f"  {label:18} {value}" for label, value in result.gateway_stats.items()]
    return lines


def render(result: RunResult) -> str:
    """The human-readable report: for each suite run, its tables; then the failures."""
    lines: list[str] = []
    if result.s3 is not None:
        lines += _s3_lines(result.s3, result)
    if result.webdav is not None:
        lines += dav_lines(result.webdav, result.size_bytes)
    failures: list[str] = []
    if result.s3 is not None:
        failures += failure_lines(result.s3, "S3 ")
    if result.webdav is not None:
        failures += failure_lines(result.webdav, "WebDAV ")
        failures += dav_failure_lines(result.webdav)
    if failures:
        lines += ["", "FAILURES:", *failures]
    lines.append("")
    return "\n".join(lines)


def _s3_json(suite: SuiteResult | None) -> dict[str, Any]:
    if suite is None:
        suite = SuiteResult(services=[], datasets=[], clients=[])
    return {
        "services": suite.services,
        "datasets": suite.datasets,
        "clients": suite.clients,
        "service_errors": suite.service_errors,
        "throughput": throughput_rows(suite, REFERENCES),
        "rss_growth_mib": rss_rows(suite),
        "gateway_backend": backend_rows(suite),
    }


def to_json(result: RunResult) -> dict[str, Any]:
    """The JSON document of the run: the S3 suite's rows at the top level (empty when it
    did not run), the WebDAV suite's under ``webdav`` (null when it did not run), plus
    the raw S3 measurements."""
    s3 = _s3_json(result.s3)
    return {
        "started_at": result.started_at,
        "duration_seconds": round(result.duration_seconds, 1),
        "suites": result.suites,
        "size_bytes": result.size_bytes,
        "size_mib": result.size_bytes / MIB,
        "unit": "MiB/s = 2**20 bytes per second, object size / wall time",
        "services": s3["services"],
        "datasets": s3["datasets"],
        "clients": s3["clients"],
        "environment": result.environment,
        "ok": result.ok,
        "service_errors": s3["service_errors"],
        "throughput": s3["throughput"],
        "rss_growth_mib": s3["rss_growth_mib"],
        "gateway_backend": s3["gateway_backend"],
        "gateway_stats": result.gateway_stats,
        "measurements": [m.to_json() for m in result.s3.measurements] if result.s3 else [],
        "webdav": None if result.webdav is None else dav_json(result.webdav),
    }


def _rounded(value: Any) -> Any:
    """``value`` with every float rounded to 4 decimals, recursively."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def write_json(result: RunResult, path: Path) -> None:
    """Write ``to_json(result)`` (floats rounded) to ``path``, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_rounded(to_json(result)), indent=2) + "\n")
