"""``python -m bench``: run the benchmark suites and print / save their report.

Two suites, both run by default: ``s3`` (PUT/GET throughput, multipart uploads by
parallel threads and small PUTs by parallel clients, through the S3 API, against
SeaweedFS and moto) and ``webdav`` (PUT/GET throughput, small PUTs, PROPFIND of a large
folder, against wsgidav's FilesystemProvider and rclone serve webdav).

Exit status: 0 when every server started and every measurement succeeded and verified,
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
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from bench.clients import make_clients, make_dav_clients
from bench.data import make_datasets
from bench.dav_runner import DavPlan
from bench.dav_services import DAV_SERVICE_NAMES
from bench.model import MIB, DavSuiteResult, RunResult, S3SuiteResult
from bench.report import render, write_json
from bench.s3_runner import S3Plan
from bench.services import SERVICE_NAMES
from bench.suites import run_dav_suite, run_s3_suite

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SUITE_NAMES = ("s3", "webdav")
ALL_SERVICES = tuple(dict.fromkeys([*SERVICE_NAMES, *DAV_SERVICE_NAMES]))
DATASETS = ["random", "text"]
# Peak disk use in test-file sizes: the two files, plus what each suite's servers keep
# (they are stopped one after the other, but their directories stay until the end; the
# S3 suite starts each server twice).
DISK_FACTORS = {"data": 2, "s3": 9, "webdav": 6}


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


def _subset(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of ``allowed``, in ``allowed``'s order."""

    def parse(text: str) -> list[str]:
        names = [name.strip().lower() for name in text.split(",") if name.strip()]
        unknown = sorted(set(names) - set(allowed))
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated subset of {','.join(allowed)}, got {text!r}"
            )
        return [name for name in allowed if name in names]

    return parse


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="The gateway vs reference servers, each started here on loopback: "
        "S3 PUT/GET throughput, parallel multipart uploads and small PUTs vs SeaweedFS and "
        "moto; WebDAV throughput, small PUTs and "
        "PROPFIND vs wsgidav's FilesystemProvider and rclone serve (see docs/benchmarks.md).",
    )
    parser.add_argument(
        "--suite",
        type=_subset(SUITE_NAMES),
        default=list(SUITE_NAMES),
        metavar="NAMES",
        help=f"comma-separated suites to run (default {','.join(SUITE_NAMES)})",
    )
    parser.add_argument(
        "--size-mib",
        type=_positive,
        default=1024,
        help="size of each test file in MiB (default 1024)",
    )
    parser.add_argument(
        "--only",
        type=_subset(ALL_SERVICES),
        default=list(ALL_SERVICES),
        metavar="NAMES",
        help=f"comma-separated servers to run, in the suites that have them "
        f"(default {','.join(ALL_SERVICES)})",
    )
    s3_plan = S3Plan()
    parser.add_argument(
        "--s3-small-puts",
        type=_positive,
        default=s3_plan.small_puts,
        help=f"S3: number of 4 KiB objects PUT by {s3_plan.small_threads} parallel clients "
        f"(default {s3_plan.small_puts})",
    )
    plan = DavPlan()
    parser.add_argument(
        "--small-files",
        type=_positive,
        default=plan.small_files,
        help=f"WebDAV: number of 4 KiB files PUT in parallel (default {plan.small_files})",
    )
    parser.add_argument(
        "--listing-entries",
        type=_positive,
        default=plan.listing_entries,
        help=f"WebDAV: files in the folder that PROPFIND lists (default {plan.listing_entries})",
    )
    parser.add_argument(
        "--propfinds",
        type=_positive,
        default=plan.propfinds,
        help=f"WebDAV: number of PROPFINDs of that folder (default {plan.propfinds})",
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
        "load_average_at_start": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "python": platform.python_version(),
        "curl": _first_line(["curl", "--version"]),
        "weed": _first_line([str(weed) if weed.exists() else "weed", "version"]),
        "boto3": _version("boto3"),
        "botocore": _version("botocore"),
        "moto": _version("moto"),
        "wsgidav": _version("wsgidav"),
        "cheroot": _version("cheroot"),
        "rclone": _first_line(["rclone", "version"]),
        "gateway_commit": _first_line(
            ["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=12"]
        ),
    }


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(result: RunResult, work_dir: Path | None, s3_plan: S3Plan, plan: DavPlan) -> None:
    """Generate the data, then run each selected suite, filling ``result``. Servers are
    stopped even when this raises."""
    with tempfile.TemporaryDirectory(prefix="gateway-bench-", dir=work_dir) as temp:
        root = Path(temp)
        factor = DISK_FACTORS["data"] + sum(DISK_FACTORS[name] for name in result.suites)
        free = shutil.disk_usage(root).free
        if free < factor * result.size_bytes:
            log(
                f"warning: {free / MIB:.0f} MiB free under {root}; the run may need "
                f"{factor * result.size_bytes / MIB:.0f} MiB"
            )
        log(f"generating 2 x {result.size_bytes / MIB:g} MiB of test data in {root}")
        started = time.monotonic()
        (root / "data").mkdir()
        datasets = make_datasets(root / "data", result.size_bytes)
        log(f"test data ready in {time.monotonic() - started:.1f} s")
        if result.s3 is not None:
            run_s3_suite(result, result.s3, root, datasets, s3_plan, log)
        if result.webdav is not None:
            run_dav_suite(result.webdav, root, datasets, plan, log)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report to stdout and write the JSON file."""
    args = build_parser().parse_args(argv)
    if shutil.which("curl") is None:
        log("curl is required (Debian package curl; `make debs` installs it)")
        return EXIT_USAGE
    s3 = S3SuiteResult(
        services=[name for name in SERVICE_NAMES if name in args.only],
        datasets=list(DATASETS),
        clients=[client.name for client in make_clients()],
    )
    webdav = DavSuiteResult(
        services=[name for name in DAV_SERVICE_NAMES if name in args.only],
        datasets=list(DATASETS),
        clients=[client.name for client in make_dav_clients()],
    )
    result = RunResult(
        size_bytes=args.size_mib * MIB,
        s3=s3 if "s3" in args.suite and s3.services else None,
        webdav=webdav if "webdav" in args.suite and webdav.services else None,
        environment=environment_info(),
        started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    if not result.suites:
        log(f"no server of --only {','.join(args.only)} is in --suite {','.join(args.suite)}")
        return EXIT_USAGE
    s3_plan = S3Plan(small_puts=args.s3_small_puts)
    plan = DavPlan(
        small_files=args.small_files,
        listing_entries=args.listing_entries,
        propfinds=args.propfinds,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        run(result, args.work_dir, s3_plan, plan)
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
