"""The S3 part of the report and of the JSON file.

First the PUT/GET loop's tables from ``bench.tables`` (throughput, RSS growth, backend
bytes). Then the parallel measurements: one figure row per multipart upload (MiB/s) and
for the small PUTs (PUTs/s), with the gateway's ratio to each reference (above 1 =
gateway faster); the RSS growth and backend bytes of the multipart uploads; and the
verdict on the gateway's two targets against SeaweedFS.
"""

from __future__ import annotations

from typing import Any

from bench.model import MIB, RunResult, S3SuiteResult
from bench.services import LABELS
from bench.tables import (
    GATEWAY,
    Figure,
    backend_lines,
    backend_row,
    backend_rows,
    figure_lines,
    figure_rows,
    rss_cell,
    rss_lines,
    rss_rows,
    table,
    target,
    target_lines,
    throughput_lines,
    throughput_rows,
)

REFERENCES = ("seaweedfs", "moto")
SEAWEEDFS = "seaweedfs"


def _part_label(suite: S3SuiteResult, size_bytes: int) -> str:
    """``8 x 8 MiB parts, 4 threads`` for an upload of ``size_bytes``."""
    parts = -(-size_bytes // suite.part_size)
    return f"{parts} x {suite.part_size / MIB:g} MiB parts, {suite.part_threads} threads"


def figures(suite: S3SuiteResult) -> list[Figure]:
    """The parallel figures ``suite`` has records for: a multipart upload per data set, in
    MiB/s, and the small PUTs, in PUTs/s."""
    found: list[Figure] = []
    for dataset in suite.datasets:
        records = [m for m in suite.multipart if m.dataset == dataset]
        if not records:
            continue
        values: dict[str, float | None] = {}
        for service in suite.services:
            measurement = suite.multipart_of(service, dataset)
            values[service] = measurement.mib_per_s if measurement else None
        found.append(
            Figure(
                f"multipart_{dataset}_mib_per_s",
                f"multipart PUT {dataset}, {_part_label(suite, records[0].size_bytes)}",
                "MiB/s",
                True,
                values,
                frozenset(m.service for m in records),
                digits=1,
            )
        )
    if suite.small_puts:
        first = suite.small_puts[0]
        rates: dict[str, float | None] = {}
        for service in suite.services:
            record = suite.small_puts_of(service)
            rates[service] = record.per_second if record and record.ok else None
        found.append(
            Figure(
                "small_puts_per_s",
                f"{first.files} x {first.size_bytes / 1024:g} KiB PUTs, {first.workers} clients",
                "PUTs/s",
                True,
                rates,
                frozenset(record.service for record in suite.small_puts),
                digits=0,
            )
        )
    return found


def multipart_rss_rows(suite: S3SuiteResult) -> list[dict[str, Any]]:
    """One dict per data set: the peak RSS growth in MiB during its multipart upload per
    server, with the RSS just before under ``<server>_before``."""
    rows = []
    for dataset in suite.datasets:
        row: dict[str, Any] = {"dataset": dataset}
        for service in suite.services:
            found = suite.multipart_of(service, dataset)
            growth = found.rss_growth_bytes if found else None
            before = found.rss_before_bytes if found else None
            row[service] = None if growth is None else growth / MIB
            row[f"{service}_before"] = None if before is None else before / MIB
        rows.append(row)
    return rows


def multipart_backend_rows(suite: S3SuiteResult) -> list[dict[str, Any]]:
    """One dict per multipart upload to the gateway: logical MiB, MiB added to its
    backend, and their ratio."""
    return [backend_row(m) for m in suite.multipart if m.service == GATEWAY]


def _lowest_ratio_target(suite: S3SuiteResult, name: str, keys: list[str]) -> dict[str, Any]:
    rows = [row for row in figure_rows(figures(suite), REFERENCES) if row["figure"] in keys]
    ratios = [row[f"{GATEWAY}/{SEAWEEDFS}"] for row in rows]
    if len(ratios) != len(keys) or any(r is None for r in ratios):
        return target(name, "not measured", None)
    return target(name, f"lowest ratio {min(ratios):.2f}", min(ratios) >= 1.0)


def targets(suite: S3SuiteResult) -> list[dict[str, Any]]:
    """The gateway's targets of the parallel measurements, each with the deciding value
    and ``met`` (None when a figure is missing): multipart MiB/s of every data set at
    least SeaweedFS's, and small PUTs/s at least SeaweedFS's."""
    seaweedfs = LABELS[SEAWEEDFS]
    multipart_keys = [f"multipart_{dataset}_mib_per_s" for dataset in suite.datasets]
    found = [
        _lowest_ratio_target(
            suite,
            f"gateway multipart MiB/s >= {seaweedfs}'s ({' and '.join(suite.datasets)})",
            multipart_keys,
        )
    ]
    name = f"gateway small PUTs/s >= {seaweedfs}'s"
    gateway, reference = suite.small_puts_of(GATEWAY), suite.small_puts_of(SEAWEEDFS)
    gw_rate = gateway.per_second if gateway and gateway.ok else None
    sw_rate = reference.per_second if reference and reference.ok else None
    if gw_rate is None or sw_rate is None:
        found.append(target(name, "not measured", None))
    else:
        value = f"{gw_rate:.0f} vs {sw_rate:.0f} PUTs/s, ratio {gw_rate / sw_rate:.2f}"
        found.append(target(name, value, gw_rate >= sw_rate))
    return found


def _multipart_lines(suite: S3SuiteResult) -> list[str]:
    lines = [
        "Multipart uploads: peak RSS growth in MiB over the server's RSS just before "
        "(process and children, sampled every 50 ms):",
        "",
    ]
    header = ["data", *(LABELS[s] for s in suite.services)]
    body = [
        [row["dataset"], *(rss_cell(row[s], row[f"{s}_before"]) for s in suite.services)]
        for row in multipart_rss_rows(suite)
    ]
    lines += table(header, body, left=1)
    backend = multipart_backend_rows(suite)
    if backend:
        lines += [
            "",
            "Gateway backend: bytes added under <data>/blobs by each multipart upload:",
            "",
        ]
        header = ["data", "object MiB", "added MiB", "stored/logical"]
        body = []
        for row in backend:
            added, stored = row["backend_added_mib"], row["stored_per_logical"]
            body.append(
                [
                    row["dataset"],
                    f"{row['logical_mib']:.1f}",
                    "-" if added is None else f"{added:.1f}",
                    "-" if stored is None else f"{stored:.3f}",
                ]
            )
        lines += table(header, body, left=1)
    return lines


def _parallel_lines(suite: S3SuiteResult) -> list[str]:
    found = figures(suite)
    if not found:
        return []
    lines = [
        "",
        "S3 API, parallel, on each server started afresh: multipart uploads (boto3, one "
        "call per part) in MiB/s and small PutObject in PUTs/s; ratios above 1 mean the "
        "gateway is faster.",
        "",
        *figure_lines(found, suite, REFERENCES),
    ]
    if suite.multipart:
        lines += ["", *_multipart_lines(suite)]
    if GATEWAY in suite.services:
        lines += ["", *target_lines("Gateway S3 targets:", targets(suite))]
    return lines


def s3_lines(suite: S3SuiteResult, result: RunResult) -> list[str]:
    """The S3 section of the printed report."""
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
    lines += _parallel_lines(suite)
    return lines


def s3_failure_lines(suite: S3SuiteResult) -> list[str]:
    """One line per failed multipart upload and per failed batch of small PUTs."""
    lines = [
        f"  S3 {LABELS[m.service]} {m.dataset} multipart upload: {m.error}"
        for m in suite.multipart
        if not m.ok
    ]
    for puts in suite.small_puts:
        if not puts.ok:
            detail = "; ".join(puts.errors) or "not all PUTs ran"
            lines.append(
                f"  S3 {LABELS[puts.service]} PUTs under {puts.folder}/: {puts.succeeded} of "
                f"{puts.files} succeeded, {puts.failed} failed: {detail}"
            )
    return lines


def s3_json(suite: S3SuiteResult | None) -> dict[str, Any]:
    """The S3 suite's keys of the JSON file (empty lists when it did not run)."""
    if suite is None:
        suite = S3SuiteResult(services=[], datasets=[], clients=[])
    return {
        "services": suite.services,
        "datasets": suite.datasets,
        "clients": suite.clients,
        "service_errors": suite.service_errors,
        "throughput": throughput_rows(suite, REFERENCES),
        "rss_growth_mib": rss_rows(suite),
        "gateway_backend": backend_rows(suite),
        "measurements": [m.to_json() for m in suite.measurements],
        "figures": figure_rows(figures(suite), REFERENCES),
        "targets": targets(suite) if GATEWAY in suite.services else [],
        "multipart_rss_growth_mib": multipart_rss_rows(suite) if suite.multipart else [],
        "multipart_gateway_backend": multipart_backend_rows(suite),
        "multipart": [m.to_json() for m in suite.multipart],
        "small_puts": [r.to_json() for r in suite.small_puts],
    }
