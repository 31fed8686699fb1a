"""clamd INSTREAM throughput alone: how fast clamd judges the benchmark's files.

A clamd of our own (``bench.clamd_service``, with the limits docs/scanning.md recommends)
is sent each test file from the page cache in 1 MiB pieces through the gateway's
``ClamdScanner``, as the scan stage would send an object; the clock runs from the first
byte sent to the verdict. Not part of ``python -m bench``; run it alone with
``python -m bench.scan [--size MIB] [--transport unix|tcp]``, or call
``measure_clamd_throughput`` from a suite.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adapters.scan.clamd import ClamdScanner
from bench.clamd_service import ClamdService
from bench.data import Dataset, make_datasets
from bench.model import MIB

DEFAULT_SIZE = 256 * MIB
PIECE = MIB
Transport = Literal["unix", "tcp"]


@dataclass(frozen=True)
class ScanMeasurement:
    """One file scanned once: its size, the time to the verdict, and the verdict."""

    dataset: str
    size_bytes: int
    seconds: float
    verdict: str
    transport: Transport

    @property
    def mib_per_s(self) -> float:
        """MiB of the file scanned per second."""
        return self.size_bytes / MIB / self.seconds

    def describe(self) -> str:
        """One line for a report."""
        return (
            f"clamd INSTREAM ({self.transport}) {self.dataset:<7} "
            f"{self.size_bytes / MIB:8.0f} MiB  {self.seconds:7.2f} s  "
            f"{self.mib_per_s:8.1f} MiB/s  {self.verdict}"
        )


def file_pieces(path: Path, piece: int = PIECE) -> Iterator[memoryview]:
    """The file's bytes as views of one reused buffer (memory does not grow with size)."""
    buffer = bytearray(piece)
    view = memoryview(buffer)
    with path.open("rb") as handle:
        while count := handle.readinto(buffer):
            yield view[:count]


def _warm(path: Path) -> None:
    """Read the file once so that the measurement starts from the page cache."""
    for _ in file_pieces(path):
        pass


def measure_scan(scanner: ClamdScanner, dataset: Dataset, transport: Transport) -> ScanMeasurement:
    """Scan ``dataset`` once with ``scanner``; RuntimeError unless the verdict is clean."""
    _warm(dataset.path)
    started = time.perf_counter()
    verdict = scanner.scan(file_pieces(dataset.path))
    seconds = time.perf_counter() - started
    if not verdict.is_clean:
        raise RuntimeError(f"clamd did not judge {dataset.name} clean: {verdict}")
    return ScanMeasurement(dataset.name, dataset.size, seconds, str(verdict.kind), transport)


def measure_clamd_throughput(
    root: Path,
    size: int = DEFAULT_SIZE,
    *,
    transport: Transport = "unix",
    datasets: Sequence[Dataset] | None = None,
) -> list[ScanMeasurement]:
    """Start a clamd in ``root``, scan each dataset once, stop it; one measurement each.

    ``datasets`` default to the benchmark's random and text files of ``size`` bytes,
    written under ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    if datasets is None:
        data_dir = root / "data"
        data_dir.mkdir(exist_ok=True)
        datasets = make_datasets(data_dir, size)
    with ClamdService(root / "clamd") as clamd:
        scanner = clamd.scanner(transport)
        return [measure_scan(scanner, dataset, transport) for dataset in datasets]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the throughput of clamd over the random and the text file."""
    parser = argparse.ArgumentParser(prog="python -m bench.scan", description=__doc__)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE // MIB, help="MiB per file")
    parser.add_argument("--transport", choices=("unix", "tcp"), default="unix")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as root:
        for measurement in measure_clamd_throughput(
            Path(root), args.size * MIB, transport=args.transport
        ):
            print(measurement.describe(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
