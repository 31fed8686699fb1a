"""The printed tables and the JSON file of a run.

Both are built from the same rows: one per (data set, client, operation), with the MiB/s
of each server and the gateway's ratio to each reference server (above 1 = gateway faster).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.model import MIB, Measurement, RunResult
from bench.services import LABELS

GATEWAY = "gateway"
REFERENCES = ("seaweedfs", "moto")
OPERATIONS = ("PUT", "GET")
RSS_TARGET_MIB = 100


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def throughput_rows(result: RunResult) -> list[dict[str, Any]]:
    """One dict per (dataset, client, operation): ``dataset``, ``client``, ``operation``,
    MiB/s per selected server under its name (None when failed or not run), and
    ``gateway/<server>`` ratios for each reference server (None unless both ran).
    """
    rows: list[dict[str, Any]] = []
    for dataset in result.datasets:
        for client in result.clients:
            for operation in OPERATIONS:
                row: dict[str, Any] = {
                    "dataset": dataset,
                    "client": client,
                    "operation": operation,
                }
                for service in result.services:
                    found = result.find(service, dataset, client, operation)
                    row[service] = found.mib_per_s if found else None
                for reference in REFERENCES:
                    row[f"{GATEWAY}/{reference}"] = _ratio(row.get(GATEWAY), row.get(reference))
                rows.append(row)
    return rows


def rss_rows(result: RunResult) -> list[dict[str, Any]]:
    """One dict per (dataset, client) PUT: peak RSS growth in MiB per selected server."""
    rows: list[dict[str, Any]] = []
    for dataset in result.datasets:
        for client in result.clients:
            row: dict[str, Any] = {"dataset": dataset, "client": client, "operation": "PUT"}
            for service in result.services:
                found = result.find(service, dataset, client, "PUT")
                growth = found.rss_growth_bytes if found else None
                row[service] = None if growth is None else growth / MIB
                row[f"{service}_before"] = (
                    None
                    if found is None or found.rss_before_bytes is None
                    else found.rss_before_bytes / MIB
                )
            rows.append(row)
    return rows


def backend_rows(result: RunResult) -> list[dict[str, Any]]:
    """One dict per gateway PUT: logical MiB, MiB added to the backend, and their ratio."""
    rows: list[dict[str, Any]] = []
    for measurement in result.measurements:
        if measurement.service != GATEWAY or measurement.operation != "PUT":
            continue
        added = measurement.backend_bytes_added
        rows.append(
            {
                "dataset": measurement.dataset,
                "client": measurement.client,
                "logical_mib": measurement.size_bytes / MIB,
                "backend_added_mib": None if added is None else added / MIB,
                "stored_per_logical": None if added is None else added / measurement.size_bytes,
                "ok": measurement.ok,
            }
        )
    return rows


def _cell(value: float | None, failed: bool, digits: int = 1) -> str:
    if value is not None:
        return f"{value:.{digits}f}"
    return "FAIL" if failed else "-"


def _table(header: Sequence[str], body: Sequence[Sequence[str]], left: int) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in body)]


def _failed(result: RunResult, service: str, dataset: str, client: str, operation: str) -> bool:
    found = result.find(service, dataset, client, operation)
    return (found is not None and not found.ok) or service in result.service_errors


def render(result: RunResult) -> str:
    """The human-readable report: throughput with ratios, RSS, gateway backend, failures."""
    size_mib = result.size_bytes / MIB
    lines = [
        "",
        f"Throughput in MiB/s (1 MiB = 2^20 bytes; object size / wall time), "
        f"{size_mib:g} MiB objects; ratios above 1 mean the gateway is faster.",
        "",
    ]
    ratio_names = [r for r in REFERENCES if r in result.services and GATEWAY in result.services]
    header = ["data", "client", "op", *(LABELS[s] for s in result.services)]
    header += [f"gw/{LABELS[r]}" for r in ratio_names]
    body = []
    for row in throughput_rows(result):
        keys = (row["dataset"], row["client"], row["operation"])
        cells = [row["dataset"], row["client"], row["operation"]]
        cells += [_cell(row[s], _failed(result, s, *keys)) for s in result.services]
        cells += [_cell(row[f"{GATEWAY}/{r}"], False, 2) for r in ratio_names]
        body.append(cells)
    lines += _table(header, body, left=3)

    lines += [
        "",
        "Peak RSS growth during each PUT, MiB over the server's RSS just before it "
        f"(process and children, sampled every 50 ms; gateway target < {RSS_TARGET_MIB}):",
        "",
    ]
    header = ["data", "client", *(LABELS[s] for s in result.services)]
    body = []
    for row in rss_rows(result):
        cells = [row["dataset"], row["client"]]
        for service in result.services:
            growth, before = row[service], row[f"{service}_before"]
            cells.append("-" if growth is None else f"{growth:.1f} (of {before:.0f})")
        body.append(cells)
    lines += _table(header, body, left=2)
    if GATEWAY in result.services:
        worst = [row[GATEWAY] for row in rss_rows(result) if row[GATEWAY] is not None]
        if worst:
            verdict = "met" if max(worst) < RSS_TARGET_MIB else "MISSED"
            lines.append(
                f"gateway: largest growth {max(worst):.1f} MiB, target < {RSS_TARGET_MIB} MiB "
                f"{verdict}"
            )

    backend = backend_rows(result)
    if backend:
        lines += ["", "Gateway backend: bytes added under <data>/blobs by each PUT:", ""]
        header = ["data", "client", "object MiB", "added MiB", "stored/logical"]
        body = []
        for row in backend:
            added, ratio = row["backend_added_mib"], row["stored_per_logical"]
            cells = [row["dataset"], row["client"], f"{row['logical_mib']:.1f}"]
            cells.append("-" if added is None else f"{added:.1f}")
            cells.append("-" if ratio is None else f"{ratio:.3f}")
            body.append(cells)
        lines += _table(header, body, left=2)
        lines.append(
            "(the other client's upload of the same file adds only the chunks that cross its "
            "multipart part boundaries)"
        )
    if result.gateway_stats:
        lines += ["", "gateway stats after all uploads:"]
        lines += [f"  {label:18} {value}" for label, value in result.gateway_stats.items()]

    failures = [m for m in result.measurements if not m.ok]
    if result.service_errors or failures:
        lines += ["", "FAILURES:"]
        for service, error in result.service_errors.items():
            lines.append(f"  {LABELS[service]}: " + error.replace("\n", "\n    "))
        lines += [_failure(m) for m in failures]
    lines.append("")
    return "\n".join(lines)


def _failure(measurement: Measurement) -> str:
    return (
        f"  {LABELS[measurement.service]} {measurement.dataset} {measurement.client} "
        f"{measurement.operation}: {measurement.error}"
    )


def to_json(result: RunResult) -> dict[str, Any]:
    """The JSON document of the run: the same rows as the text, plus raw measurements."""
    return {
        "started_at": result.started_at,
        "duration_seconds": round(result.duration_seconds, 1),
        "size_bytes": result.size_bytes,
        "size_mib": result.size_bytes / MIB,
        "unit": "MiB/s = 2**20 bytes per second, object size / wall time",
        "services": result.services,
        "datasets": result.datasets,
        "clients": result.clients,
        "environment": result.environment,
        "ok": result.ok,
        "service_errors": result.service_errors,
        "throughput": throughput_rows(result),
        "rss_growth_mib": rss_rows(result),
        "gateway_backend": backend_rows(result),
        "gateway_stats": result.gateway_stats,
        "measurements": [m.to_json() for m in result.measurements],
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
