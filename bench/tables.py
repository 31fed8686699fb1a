"""Rows and text tables shared by the S3 and the WebDAV report.

The rows are plain dicts (the JSON file holds them as they are): one per (data set,
client, operation) for throughput, with the MiB/s of each server and the gateway's
ratio to each reference server (above 1 = gateway faster), plus the RSS and backend rows
of the uploads. Other per-server figures (a rate or a time) are ``Figure``s with the
gateway's speed ratios, and the gateway's targets are dicts with a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.model import MIB, Measurement, SuiteResult
from bench.services import LABELS

GATEWAY = "gateway"
OPERATIONS = ("PUT", "GET")
RSS_TARGET_MIB = 100
VERDICTS = {True: "met", False: "MISSED", None: "not judged"}


@dataclass(frozen=True)
class Figure:
    """A per-server figure: its values by server (None: failed or not run), whether a
    higher value is better (a rate) or a lower one (a time), the servers that have a
    record for it (so None means failed rather than not run), and the decimals shown."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    values: dict[str, float | None]
    recorded: frozenset[str]
    digits: int = 2


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``; None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def cell(value: float | None, failed: bool, digits: int = 1) -> str:
    """A number for a table: the value, else ``FAIL`` when it failed, else ``-``."""
    if value is not None:
        return f"{value:.{digits}f}"
    return "FAIL" if failed else "-"


def table(header: Sequence[str], body: Sequence[Sequence[str]], left: int) -> list[str]:
    """Text lines of a table with a rule under ``header``; the first ``left`` columns are
    left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            text.ljust(width) if i < left else text.rjust(width)
            for i, (text, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in body)]


def ratio_names(services: Sequence[str], references: Sequence[str]) -> list[str]:
    """The references the gateway can be compared with: both it and they were selected."""
    return [r for r in references if r in services and GATEWAY in services]


def speed_ratio(figure: Figure, gateway: float | None, reference: float | None) -> float | None:
    """The gateway's speed relative to ``reference`` on ``figure``, above 1 = gateway
    faster: gateway / reference for a rate, reference / gateway for a time."""
    if figure.higher_is_better:
        return ratio(gateway, reference)
    return ratio(reference, gateway)


def figure_rows(figures: Sequence[Figure], references: Sequence[str]) -> list[dict[str, Any]]:
    """One dict per figure: ``figure``, ``label``, ``unit``, the value per server under
    its name, and ``gateway/<reference>`` speed ratios (above 1 = gateway faster)."""
    rows = []
    for figure in figures:
        row: dict[str, Any] = {"figure": figure.key, "label": figure.label, "unit": figure.unit}
        row.update(figure.values)
        for reference in references:
            row[f"{GATEWAY}/{reference}"] = speed_ratio(
                figure, row.get(GATEWAY), row.get(reference)
            )
        rows.append(row)
    return rows


def figure_lines(
    figures: Sequence[Figure], suite: SuiteResult, references: Sequence[str]
) -> list[str]:
    """The table of ``figures``: one line each with its unit, the value per server of
    ``suite`` and the gateway's speed ratio to each reference that ran."""
    compared = ratio_names(suite.services, references)
    header = ["figure", "unit", *(LABELS[s] for s in suite.services)]
    header += [f"gw/{LABELS[r]}" for r in compared]
    body = []
    for figure, row in zip(figures, figure_rows(figures, references), strict=True):
        cells = [figure.label, figure.unit]
        for service in suite.services:
            failed = service in figure.recorded or service in suite.service_errors
            cells.append(cell(figure.values.get(service), failed, figure.digits))
        cells += [cell(row[f"{GATEWAY}/{r}"], False, 2) for r in compared]
        body.append(cells)
    return table(header, body, left=2)


def target(name: str, value: str, met: bool | None) -> dict[str, Any]:
    """A target of the gateway: its name, the deciding value, and ``met`` (None when it
    could not be judged because a figure is missing)."""
    return {"target": name, "value": value, "met": met}


def target_lines(title: str, targets: Sequence[dict[str, Any]]) -> list[str]:
    """``title``, then one line per target with its value and verdict."""
    lines = [title]
    for found in targets:
        lines.append(f"  {found['target']}: {found['value']}  {VERDICTS[found['met']]}")
    return lines


def throughput_rows(suite: SuiteResult, references: Sequence[str]) -> list[dict[str, Any]]:
    """One dict per (dataset, client, operation): ``dataset``, ``client``, ``operation``,
    MiB/s per selected server under its name (None when failed or not run), and
    ``gateway/<server>`` ratios for each reference server (None unless both ran).
    """
    rows: list[dict[str, Any]] = []
    for dataset in suite.datasets:
        for client in suite.clients:
            for operation in OPERATIONS:
                row: dict[str, Any] = {
                    "dataset": dataset,
                    "client": client,
                    "operation": operation,
                }
                for service in suite.services:
                    found = suite.find(service, dataset, client, operation)
                    row[service] = found.mib_per_s if found else None
                for reference in references:
                    row[f"{GATEWAY}/{reference}"] = ratio(row.get(GATEWAY), row.get(reference))
                rows.append(row)
    return rows


def rss_rows(suite: SuiteResult) -> list[dict[str, Any]]:
    """One dict per (dataset, client) PUT: peak RSS growth in MiB per selected server."""
    rows: list[dict[str, Any]] = []
    for dataset in suite.datasets:
        for client in suite.clients:
            row: dict[str, Any] = {"dataset": dataset, "client": client, "operation": "PUT"}
            for service in suite.services:
                found = suite.find(service, dataset, client, "PUT")
                growth = found.rss_growth_bytes if found else None
                row[service] = None if growth is None else growth / MIB
                row[f"{service}_before"] = (
                    None
                    if found is None or found.rss_before_bytes is None
                    else found.rss_before_bytes / MIB
                )
            rows.append(row)
    return rows


def rss_cell(growth_mib: float | None, before_mib: float | None) -> str:
    """``growth (of before)`` in MiB for an RSS table, or ``-``."""
    return "-" if growth_mib is None else f"{growth_mib:.1f} (of {before_mib:.0f})"


def backend_row(measurement: Measurement) -> dict[str, Any]:
    """The backend figures of one gateway upload: ``dataset``, ``client``, logical MiB,
    MiB added to the backend, and their ratio, and whether the upload succeeded."""
    added = measurement.backend_bytes_added
    return {
        "dataset": measurement.dataset,
        "client": measurement.client,
        "logical_mib": measurement.size_bytes / MIB,
        "backend_added_mib": None if added is None else added / MIB,
        "stored_per_logical": None if added is None else added / measurement.size_bytes,
        "ok": measurement.ok,
    }


def backend_rows(suite: SuiteResult) -> list[dict[str, Any]]:
    """One dict per gateway PUT: logical MiB, MiB added to the backend, and their ratio."""
    return [
        backend_row(measurement)
        for measurement in suite.measurements
        if measurement.service == GATEWAY and measurement.operation == "PUT"
    ]


def _failed(suite: SuiteResult, service: str, dataset: str, client: str, operation: str) -> bool:
    found = suite.find(service, dataset, client, operation)
    return (found is not None and not found.ok) or service in suite.service_errors


def throughput_lines(suite: SuiteResult, references: Sequence[str]) -> list[str]:
    """The throughput table: one line per (data set, client, operation), MiB/s per
    server, then the gateway's ratio to each reference that ran."""
    compared = ratio_names(suite.services, references)
    header = ["data", "client", "op", *(LABELS[s] for s in suite.services)]
    header += [f"gw/{LABELS[r]}" for r in compared]
    body = []
    for row in throughput_rows(suite, references):
        keys = (row["dataset"], row["client"], row["operation"])
        cells = [row["dataset"], row["client"], row["operation"]]
        cells += [cell(row[s], _failed(suite, s, *keys)) for s in suite.services]
        cells += [cell(row[f"{GATEWAY}/{r}"], False, 2) for r in compared]
        body.append(cells)
    return table(header, body, left=3)


def rss_lines(suite: SuiteResult) -> list[str]:
    """The table of peak RSS growth during each PUT, and the gateway's verdict."""
    lines = [
        "Peak RSS growth during each PUT, MiB over the server's RSS just before it "
        f"(process and children, sampled every 50 ms; gateway target < {RSS_TARGET_MIB}):",
        "",
    ]
    header = ["data", "client", *(LABELS[s] for s in suite.services)]
    body = []
    rows = rss_rows(suite)
    for row in rows:
        cells = [row["dataset"], row["client"]]
        cells += [rss_cell(row[service], row[f"{service}_before"]) for service in suite.services]
        body.append(cells)
    lines += table(header, body, left=2)
    if GATEWAY in suite.services:
        worst = [row[GATEWAY] for row in rows if row[GATEWAY] is not None]
        if worst:
            verdict = "met" if max(worst) < RSS_TARGET_MIB else "MISSED"
            lines.append(
                f"gateway: largest growth {max(worst):.1f} MiB, target < {RSS_TARGET_MIB} MiB "
                f"{verdict}"
            )
    return lines


def backend_lines(suite: SuiteResult) -> list[str]:
    """The table of bytes each gateway PUT added to its backend (empty without any)."""
    rows = backend_rows(suite)
    if not rows:
        return []
    lines = ["Gateway backend: bytes added under <data>/blobs by each PUT:", ""]
    header = ["data", "client", "object MiB", "added MiB", "stored/logical"]
    body = []
    for row in rows:
        added, stored = row["backend_added_mib"], row["stored_per_logical"]
        cells = [row["dataset"], row["client"], f"{row['logical_mib']:.1f}"]
        cells.append("-" if added is None else f"{added:.1f}")
        cells.append("-" if stored is None else f"{stored:.3f}")
        body.append(cells)
    return lines + table(header, body, left=2)


def failure_lines(suite: SuiteResult, prefix: str = "") -> list[str]:
    """One line per server that failed to start or aborted, and per failed transfer."""
    lines = []
    for service, error in suite.service_errors.items():
        lines.append(f"  {prefix}{LABELS[service]}: " + error.replace("\n", "\n    "))
    lines += [f"  {prefix}{_failure(m)}" for m in suite.measurements if not m.ok]
    return lines


def _failure(measurement: Measurement) -> str:
    return (
        f"{LABELS[measurement.service]} {measurement.dataset} {measurement.client} "
        f"{measurement.operation}: {measurement.error}"
    )
