"""The peak resident memory of a process while a block of test code runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

SAMPLE_INTERVAL = 0.05


@dataclass
class RssGrowth:
    """RSS of a process just before the block and the highest RSS sampled during it."""

    baseline: int
    peak: int

    @property
    def growth(self) -> int:
        """How far the peak rose above the baseline, in bytes (0 if it never did)."""
        return max(self.peak - self.baseline, 0)


@contextmanager
def peak_rss(pid: int) -> Iterator[RssGrowth]:
    """Sample the RSS of process ``pid`` every 50 ms while the block runs.

    The yielded record's ``peak`` is final once the block has exited.
    """
    process = psutil.Process(pid)
    record = RssGrowth(baseline=process.memory_info().rss, peak=process.memory_info().rss)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_INTERVAL):
            record.peak = max(record.peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield record
    finally:
        done.set()
        sampler.join()
        record.peak = max(record.peak, process.memory_info().rss)
