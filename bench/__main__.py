"""``python -m bench``: run the throughput benchmark and print / save its report.

Exit status: 0 when every server started and every transfer succeeded and verified,
1 when anything failed (the report says what), 2 for bad arguments, 130 when
interrupted (Ctrl-C or SIGTERM); in every case the servers it started are stopped.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench.clients import make_clients
from bench.data import make_datasets
from bench.model import MIB, RunResult
from bench.report import render, write_json
from bench.runner import measure_service
from bench.services import LABELS, SERVICE_NAMES, STARTERS, ServiceError, gateway_stats

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


def _services(text: str) -> list[str]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVICE_NAMES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(SERVICE_NAMES)}, got {text!r}"
        )
    return [name for name in SERVICE_NAMES if name in names]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="PUT/GET throughput of the gateway vs SeaweedFS and moto, "
        "each started here on loopback (see docs/benchmarks.md).",
    )
    parser.add_argument(
        "--size-mib",
        type=_positive,
        default=1024,
        help="size of each test file in MiB (default 1024)",
    )
    parser.add_argument(
        "--only",
        type=_services,
        default=list(SERVICE_NAMES),
        metavar="NAMES",
        help=f"comma-separated servers to run (default {','.join(SERVICE_NAMES)})",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help="where to write the JSON results (default bench/results/latest.json)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="parent of the temporary directory (default: the system's temp dir)",
    )
    return parser


def _first_line(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment_info() -> dict[str, str]:
    """What the numbers depend on: machine, interpreter, client and server versions."""
    weed = Path(sys.executable).parent / "weed"
    repo = Path(__file__).resolve().parent.parent
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "curl": _first_line(["curl", "--version"]),
        "weed": _first_line([str(weed) if weed.exists() else "weed", "version"]),
        "boto3": _version("boto3"),
        "botocore": _version("botocore"),
        "moto": _version("moto"),
        "gateway_commit": _first_line(
            ["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=12"]
        ),
    }


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(result: RunResult, work_dir: Path | None) -> None:
    """Generate the data, then start, measure and stop each selected server in turn,
    filling ``result``. Servers are stopped even when this raises."""
    with tempfile.TemporaryDirectory(prefix="gateway-bench-", dir=work_dir) as temp:
        root = Path(temp)
        free = shutil.disk_usage(root).free
        if free < 8 * result.size_bytes:
            log(
                f"warning: {free / MIB:.0f} MiB free under {root}; the run may need "
                f"{8 * result.size_bytes / MIB:.0f} MiB"
            )
        log(f"generating 2 x {result.size_bytes / MIB:g} MiB of test data in {root}")
        started = time.monotonic()
        (root / "data").mkdir()
        datasets = make_datasets(root / "data", result.size_bytes)
        log(f"test data ready in {time.monotonic() - started:.1f} s")
        clients = make_clients()
        scratch = root / "downloads"
        scratch.mkdir()
        for name in result.services:
            label = LABELS[name]
            log(f"starting {label}")
            try:
                service = STARTERS[name](root / name)
            except (ServiceError, OSError, RuntimeError) as exc:
                log(f"{label} did not start: {exc}")
                result.service_errors[name] = str(exc)
                continue
            try:
                log(f"{label} ready: pid {service.pid}, {service.endpoint.url}")
                try:
                    for measurement in measure_service(service, datasets, clients, scratch, log):
                        result.measurements.append(measurement)
                except Exception as exc:  # report it and go on with the next server
                    log(traceback.format_exc())
                    result.service_errors[name] = f"measurement aborted: {exc!r}"
                if name == "gateway":
                    try:
                        result.gateway_stats = gateway_stats(service)
                    except (ServiceError, OSError, subprocess.SubprocessError) as exc:
                        log(f"gateway stats failed: {exc}")
            finally:
                log(f"stopping {label} (pid {service.pid})")
                service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report to stdout and write the JSON file."""
    args = build_parser().parse_args(argv)
    if shutil.which("curl") is None:
        log("curl is required (Debian package curl; `make debs` installs it)")
        return EXIT_USAGE
    result = RunResult(
        size_bytes=args.size_mib * MIB,
        services=args.only,
        datasets=["random", "text"],
        clients=[client.name for client in make_clients()],
        environment=environment_info(),
        started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        run(result, args.work_dir)
    except KeyboardInterrupt:
        log("interrupted: servers stopped, no report written")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    result.duration_seconds = time.monotonic() - started
    print(render(result), flush=True)
    write_json(result, args.json)
    log(f"results written to {args.json} (run took {result.duration_seconds:.0f} s)")
    return EXIT_OK if result.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
