"""The scan stage end to end: from an acknowledged PUT to the clean verdict, against clamd
INSTREAM alone, measured in the same run.

A clamd of our own (``bench.clamd_service``) serves both. clamd alone is sent each file
from the page cache (``bench.scan``); the gateway, started with that clamd as its scanner
and its built-in job workers polling every 50 ms, receives other files of the same kinds
and sizes (clamd answers bytes it already found clean from a cache) by one PutObject each,
and the clock runs from the PUT's answer until HEAD reports ``x-gateway-scan-status:
clean``: the worker's claim, reading the object back out of its chunks, decompressing it
and streaming it to clamd. Pipeline throughput is the file's size over that time; the
ratio against clamd alone is what the pipeline costs on top of the scan itself. Run with
``python -m bench.scan_pipeline [--size MIB]`` (``make bench`` does, at 100 MiB).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.clamd_service import ClamdService
from bench.data import TEXT_SEED, Dataset, make_datasets, make_random, make_text
from bench.model import MIB
from bench.scan import ScanMeasurement, measure_scan
from bench.services import BUCKET, start_gateway

DEFAULT_SIZE = 100 * MIB
PIPELINE_TEXT_SEED = TEXT_SEED + 1
SCAN_STATUS = "x-gateway-scan-status"
VERDICT_TIMEOUT = 600.0
POLL_INTERVAL = 0.02


@dataclass(frozen=True)
class PipelineMeasurement:
    """One file through the gateway: the PUT's time, and from its answer to the verdict."""

    dataset: str
    size_bytes: int
    put_seconds: float
    verdict_seconds: float

    @property
    def mib_per_s(self) -> float:
        """MiB judged per second once stored (the pipeline's throughput)."""
        return self.size_bytes / MIB / self.verdict_seconds


def measure_pipeline(root: Path, clamd: ClamdService, dataset: Dataset) -> PipelineMeasurement:
    """PUT ``dataset`` into a fresh gateway scanning with ``clamd`` and time its verdict;
    RuntimeError when the verdict is not clean within VERDICT_TIMEOUT."""
    service = start_gateway(
        root,
        {"GATEWAY_SCANNER_URL": clamd.unix_url, "GATEWAY_JOB_POLL_SECONDS": "0.05"},
    )
    try:
        client = service.endpoint.s3_client()
        key = f"scan-{dataset.name}"
        started = time.perf_counter()
        with dataset.path.open("rb") as body:
            client.put_object(Bucket=BUCKET, Key=key, Body=body)
        stored = time.perf_counter()
        while True:
            headers = client.head_object(Bucket=BUCKET, Key=key)["ResponseMetadata"]
            status = headers["HTTPHeaders"].get(SCAN_STATUS)
            if status == "clean":
                break
            if status != "pending" or time.perf_counter() - stored > VERDICT_TIMEOUT:
                raise RuntimeError(f"{dataset.name}: scan status {status!r}, not clean")
            time.sleep(POLL_INTERVAL)
        judged = time.perf_counter()
        client.close()
    finally:
        service.stop()
    return PipelineMeasurement(dataset.name, dataset.size, stored - started, judged - stored)


def report(alone: Sequence[ScanMeasurement], piped: Sequence[PipelineMeasurement]) -> str:
    """The table of both measurements per file, with the pipeline/clamd ratio."""
    lines = [
        "Malware scanning: clamd INSTREAM alone vs the gateway's scan stage (PUT answered to",
        "clean verdict), same clamd, same run; ratio above 1 means the pipeline is faster.",
        "",
        f"{'data':<7} {'MiB':>6} {'clamd MiB/s':>12} {'pipeline MiB/s':>15} "
        f"{'PUT->clean s':>13} {'PUT s':>7} {'ratio':>6}",
    ]
    for scan, pipe in zip(alone, piped, strict=True):
        lines.append(
            f"{pipe.dataset:<7} {pipe.size_bytes / MIB:>6.0f} {scan.mib_per_s:>12.1f} "
            f"{pipe.mib_per_s:>15.1f} {pipe.verdict_seconds:>13.2f} "
            f"{pipe.put_seconds:>7.2f} {pipe.mib_per_s / scan.mib_per_s:>6.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure clamd alone and the pipeline on the random and the text file; print both."""
    parser = argparse.ArgumentParser(prog="python -m bench.scan_pipeline", description=__doc__)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE // MIB, help="MiB per file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-scan-pipeline-") as directory:
        root = Path(directory)
        (root / "data").mkdir()
        size = args.size * MIB
        # Other bytes for the pipeline: clamd remembers the digests of files it found
        # clean and answers a second scan of the same bytes from that cache.
        datasets = make_datasets(root / "data", size)
        other = [
            make_random(root / "data" / "pipeline-random", size),
            make_text(root / "data" / "pipeline-text", size, seed=PIPELINE_TEXT_SEED),
        ]
        with ClamdService(root / "clamd") as clamd:
            scanner = clamd.scanner("unix")
            alone = [measure_scan(scanner, dataset, "unix") for dataset in datasets]
            piped = [
                measure_pipeline(root / f"gateway-{dataset.name}", clamd, dataset)
                for dataset in other
            ]
    print(report(alone, piped), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
