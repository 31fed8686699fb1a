"""Peak resident memory of a process and its descendants, sampled in a thread."""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

import psutil  # type: ignore[import-untyped]

INTERVAL = 0.05


def tree_rss(pid: int) -> int:
    """Sum of the RSS in bytes of ``pid`` and all its descendants (0 when it is gone).

    Processes that vanish while being read are skipped.
    """
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += int(process.memory_info().rss)
    return total


class PeakRss:
    """Context manager measuring the RSS of ``pid``'s process tree while its block runs.

    ``before`` is sampled on entry, then a daemon thread samples every ``interval``
    seconds and once more on exit; ``peak`` is the largest sample (at least ``before``).
    """

    def __init__(self, pid: int, interval: float = INTERVAL) -> None:
        self.pid = pid
        self.interval = interval
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    @property
    def growth(self) -> int:
        """Peak minus the RSS before, in bytes (never negative)."""
        return max(0, self.peak - self.before)

    def _sample(self) -> None:
        self.peak = max(self.peak, tree_rss(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakRss:
        self.before = tree_rss(self.pid)
        self.peak = self.before
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
