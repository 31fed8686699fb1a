"""The WebDAV part of the report and of the JSON file.

Throughput rows are those of ``bench.tables``. The other figures (small PUTs per second,
PROPFIND seconds) get one row each, with the value per server and the gateway's speed
ratio to each reference: above 1 means the gateway is faster, whether the figure is a
rate (gateway / reference) or a time (reference / gateway). Then come the RSS figures
around the PROPFIND series and the verdict on each of the gateway's targets.
"""

from __future__ import annotations

from typing import Any

from bench.model import MIB, DavSuiteResult, SmallPuts
from bench.services import LABELS
from bench.tables import (
    GATEWAY,
    Figure,
    backend_lines,
    backend_rows,
    figure_lines,
    figure_rows,
    rss_lines,
    rss_rows,
    table,
    target,
    target_lines,
    throughput_lines,
    throughput_rows,
)

DAV_REFERENCES = ("wsgidav", "rclone")
WSGIDAV, RCLONE = DAV_REFERENCES
# The gateway's targets: PUT and GET at least as fast as wsgidav's FilesystemProvider, PUT
# at least twice as fast as rclone serve, PROPFIND faster than rclone serve, and RSS flat
# across repeated PROPFINDs (drift from after the first to after the last below this).
PUT_VS_RCLONE = 2.0
FLAT_DRIFT_MIB = 10.0


def _rates(suite: DavSuiteResult, records: list[SmallPuts]) -> dict[str, float | None]:
    found = {record.service: record for record in records}
    return {
        service: found[service].per_second if service in found and found[service].ok else None
        for service in suite.services
    }


def _listing_times(suite: DavSuiteResult, median: bool) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for service in suite.services:
        record = suite.listing_of(service)
        if record is None:
            values[service] = None
        else:
            values[service] = record.median_seconds if median else record.first_seconds
    return values


def figures(suite: DavSuiteResult) -> list[Figure]:
    """The figures ``suite`` has records for, labelled with their file counts and sizes."""
    found: list[Figure] = []
    for key, records, what in (
        ("small_puts_per_s", suite.small_puts, "clients"),
        ("fill_puts_per_s", suite.fills, "clients (listing fill)"),
    ):
        if records:
            first = records[0]
            label = f"{first.files} x {first.size_bytes / 1024:g} KiB PUTs, {first.workers} {what}"
            recorded = frozenset(record.service for record in records)
            rates = _rates(suite, records)
            found.append(Figure(key, label, "files/s", True, rates, recorded, digits=0))
    if suite.listings:
        entries = suite.listings[0].entries
        repeats = max(len(r.seconds) for r in suite.listings)
        label = f"PROPFIND Depth 1, {entries} entries"
        recorded = frozenset(record.service for record in suite.listings)
        found.append(
            Figure(
                "propfind_first_s",
                f"{label}, first",
                "s",
                False,
                _listing_times(suite, median=False),
                recorded,
            )
        )
        found.append(
            Figure(
                "propfind_median_s",
                f"{label}, median of {repeats}",
                "s",
                False,
                _listing_times(suite, median=True),
                recorded,
            )
        )
    return found


def _mib(value: int | None) -> float | None:
    return None if value is None else value / MIB


def listing_rss_rows(suite: DavSuiteResult) -> list[dict[str, Any]]:
    """One dict per server with a PROPFIND series: RSS in MiB before it, peak during it,
    after the first and the last PROPFIND, a second after the last, and the drift (after
    the last minus after the first)."""
    rows = []
    for record in suite.listings:
        after_each = record.rss_after_each_bytes
        rows.append(
            {
                "service": record.service,
                "propfinds": len(record.seconds),
                "before_mib": _mib(record.rss_before_bytes),
                "peak_mib": _mib(record.rss_peak_bytes),
                "after_first_mib": _mib(after_each[0]) if after_each else None,
                "after_last_mib": _mib(after_each[-1]) if after_each else None,
                "settled_after_mib": _mib(record.rss_after_bytes),
                "drift_mib": _mib(record.rss_drift_bytes),
                "ok": record.ok,
            }
        )
    return rows


def _throughput_target(
    suite: DavSuiteResult, reference: str, operations: tuple[str, ...], floor: float
) -> dict[str, Any]:
    ratios = [
        row[f"{GATEWAY}/{reference}"]
        for row in throughput_rows(suite, DAV_REFERENCES)
        if row["operation"] in operations
    ]
    name = f"gateway {' and '.join(operations)} >= {floor:g} x {LABELS[reference]}"
    if not ratios or any(r is None for r in ratios):
        return target(name, "not measured", None)
    return target(name, f"lowest ratio {min(ratios):.2f}", min(ratios) >= floor)


def targets(suite: DavSuiteResult) -> list[dict[str, Any]]:
    """The gateway's targets, each with the deciding value and ``met`` (None when it
    could not be judged because a figure is missing)."""
    found = [
        _throughput_target(suite, WSGIDAV, ("PUT", "GET"), 1.0),
        _throughput_target(suite, RCLONE, ("PUT",), PUT_VS_RCLONE),
    ]
    gateway, rclone = suite.listing_of(GATEWAY), suite.listing_of(RCLONE)
    name = f"gateway PROPFIND faster than {LABELS[RCLONE]} (median)"
    gw_s = gateway.median_seconds if gateway else None
    rc_s = rclone.median_seconds if rclone else None
    if gw_s is None or rc_s is None:
        found.append(target(name, "not measured", None))
    else:
        found.append(target(name, f"{gw_s:.2f} s vs {rc_s:.2f} s", gw_s < rc_s))
    name = f"gateway RSS flat across PROPFINDs (drift < {FLAT_DRIFT_MIB:g} MiB)"
    drift = gateway.rss_drift_bytes if gateway else None
    if drift is None:
        found.append(target(name, "not measured", None))
    else:
        found.append(target(name, f"drift {drift / MIB:+.1f} MiB", drift / MIB < FLAT_DRIFT_MIB))
    return found


def _rss_listing_lines(suite: DavSuiteResult) -> list[str]:
    header = ["server", "before", "peak", "after 1st", "after last", "1 s later", "drift"]
    body = []

    def fmt(value: float | None, sign: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value:+.1f}" if sign else f"{value:.1f}"

    for row in listing_rss_rows(suite):
        body.append(
            [
                LABELS[row["service"]],
                fmt(row["before_mib"]),
                fmt(row["peak_mib"]),
                fmt(row["after_first_mib"]),
                fmt(row["after_last_mib"]),
                fmt(row["settled_after_mib"]),
                fmt(row["drift_mib"], sign=True),
            ]
        )
    return table(header, body, left=1)


def dav_lines(suite: DavSuiteResult, size_bytes: int) -> list[str]:
    """The WebDAV section of the printed report."""
    lines = [
        "",
        f"WebDAV: curl PUT/GET throughput in MiB/s, {size_bytes / MIB:g} MiB files; "
        "ratios above 1 mean the gateway is faster.",
        "",
        *throughput_lines(suite, DAV_REFERENCES),
        "",
        "WebDAV: small files and listing; gw/x is the speed ratio (above 1 = gateway faster).",
        "",
        *figure_lines(figures(suite), suite, DAV_REFERENCES),
    ]
    if suite.listings:
        repeats = max(len(r.seconds) for r in suite.listings)
        lines += [
            "",
            f"WebDAV: server RSS in MiB around {repeats} PROPFINDs (process and children; "
            "drift = after last - after 1st):",
            "",
            *_rss_listing_lines(suite),
        ]
    lines += ["", *rss_lines(suite)]
    backend = backend_lines(suite)
    if backend:
        lines += ["", *backend]
    if GATEWAY in suite.services:
        lines += ["", *target_lines("Gateway WebDAV targets:", targets(suite))]
    return lines


def dav_failure_lines(suite: DavSuiteResult) -> list[str]:
    """One line per failed batch of small PUTs and per failed PROPFIND series."""
    lines = []
    for puts in [*suite.small_puts, *suite.fills]:
        if not puts.ok:
            detail = "; ".join(puts.errors) or "not all PUTs ran"
            lines.append(
                f"  WebDAV {LABELS[puts.service]} PUTs into {puts.folder}/: {puts.succeeded} of "
                f"{puts.files} succeeded, {puts.failed} failed: {detail}"
            )
    lines += [
        f"  WebDAV {LABELS[listing.service]} PROPFIND {listing.folder}/: {listing.error}"
        for listing in suite.listings
        if listing.error
    ]
    return lines


def dav_json(suite: DavSuiteResult) -> dict[str, Any]:
    """The ``webdav`` object of the JSON file: the rows of the report and the raw records."""
    return {
        "services": suite.services,
        "datasets": suite.datasets,
        "clients": suite.clients,
        "ok": suite.ok,
        "service_errors": suite.service_errors,
        "throughput": throughput_rows(suite, DAV_REFERENCES),
        "figures": figure_rows(figures(suite), DAV_REFERENCES),
        "propfind_rss_mib": listing_rss_rows(suite),
        "targets": targets(suite) if GATEWAY in suite.services else [],
        "rss_growth_mib": rss_rows(suite),
        "gateway_backend": backend_rows(suite),
        "measurements": [m.to_json() for m in suite.measurements],
        "small_puts": [r.to_json() for r in suite.small_puts],
        "listing_fills": [r.to_json() for r in suite.fills],
        "listings": [r.to_json() for r in suite.listings],
    }
