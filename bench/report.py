"""The printed report and the JSON file of a run.

The S3 part comes from ``bench.s3_report`` and the WebDAV part from
``bench.dav_report``; both build on the rows of ``bench.tables``: one per (data set,
client, operation), with the MiB/s of each server and the gateway's ratio to each
reference server (above 1 = gateway faster), and one per other figure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.dav_report import dav_failure_lines, dav_json, dav_lines
from bench.model import MIB, RunResult
from bench.s3_report import s3_failure_lines, s3_json, s3_lines
from bench.tables import failure_lines


def render(result: RunResult) -> str:
    """The human-readable report: for each suite run, its tables; then the failures."""
    lines: list[str] = []
    if result.s3 is not None:
        lines += s3_lines(result.s3, result)
    if result.webdav is not None:
        lines += dav_lines(result.webdav, result.size_bytes)
    failures: list[str] = []
    if result.s3 is not None:
        failures += failure_lines(result.s3, "S3 ")
        failures += s3_failure_lines(result.s3)
    if result.webdav is not None:
        failures += failure_lines(result.webdav, "WebDAV ")
        failures += dav_failure_lines(result.webdav)
    if failures:
        lines += ["", "FAILURES:", *failures]
    lines.append("")
    return "\n".join(lines)


def to_json(result: RunResult) -> dict[str, Any]:
    """The JSON document of the run: the S3 suite's rows and records at the top level
    (empty when it did not run), the WebDAV suite's under ``webdav`` (null when it did
    not run)."""
    s3 = s3_json(result.s3)
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
        "measurements": s3["measurements"],
        "figures": s3["figures"],
        "targets": s3["targets"],
        "multipart_rss_growth_mib": s3["multipart_rss_growth_mib"],
        "multipart_gateway_backend": s3["multipart_gateway_backend"],
        "multipart": s3["multipart"],
        "small_puts": s3["small_puts"],
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
