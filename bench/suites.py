"""The two suites of a run, S3 and WebDAV: each starts, measures and stops its servers
one after the other, so that only one server runs at a time.

Every server started here is stopped by its PID before the next one starts, also when
its measurement raised, and also on Ctrl-C or SIGTERM (raised as KeyboardInterrupt).
"""

from __future__ import annotations

import subprocess
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from bench.clients import make_clients
from bench.data import Dataset
from bench.dav_runner import DavPlan, measure_dav_service
from bench.dav_services import DAV_STARTERS
from bench.endpoint import DavEndpoint, Endpoint
from bench.model import DavSuiteResult, RunResult, SuiteResult
from bench.runner import measure_service
from bench.services import LABELS, STARTERS, Service, ServiceError, gateway_stats

Log = Callable[[str], None]


class _Located(Protocol):
    @property
    def url(self) -> str: ...


E = TypeVar("E", bound=_Located)
LOG_TAIL_LINES = 40


def run_servers(
    suite: SuiteResult,
    starters: Mapping[str, Callable[[Path], Service[E]]],
    root: Path,
    measure: Callable[[Service[E]], bool],
    log: Log,
    tag: str,
) -> None:
    """For each server of ``suite`` in turn: start it in ``root/<name>``, run ``measure``
    on it (False or an exception: something failed, and the end of the server's log goes
    to ``log``), and stop it. Start failures and aborted measurements are recorded in
    ``suite.service_errors``; KeyboardInterrupt propagates once the server is stopped."""
    for name in suite.services:
        label = f"{tag} {LABELS[name]}"
        log(f"starting {label}")
        try:
            service = starters[name](root / name)
        except (ServiceError, OSError, RuntimeError) as exc:
            log(f"{label} did not start: {exc}")
            suite.service_errors[name] = str(exc)
            continue
        try:
            log(f"{label} ready: pid {service.pid}, {service.endpoint.url}")
            try:
                ok = measure(service)
            except Exception as exc:  # report it and go on with the next server
                log(traceback.format_exc())
                suite.service_errors[name] = f"measurement aborted: {exc!r}"
                ok = False
            if not ok:
                log(f"--- end of {service.log_path} ---\n{service.log_tail(LOG_TAIL_LINES)}")
        finally:
            log(f"stopping {label} (pid {service.pid})")
            service.stop()


def run_s3_suite(
    result: RunResult, suite: SuiteResult, root: Path, datasets: Sequence[Dataset], log: Log
) -> None:
    """The S3 suite: curl and boto3 PUT/GET of every data set on each S3 server, and
    ``gateway stats`` after the gateway's uploads."""
    clients = make_clients()
    scratch = root / "downloads"
    scratch.mkdir(exist_ok=True)

    def measure(service: Service[Endpoint]) -> bool:
        ok = True
        for measurement in measure_service(service, datasets, clients, scratch, log):
            suite.measurements.append(measurement)
            ok = ok and measurement.ok
        if service.name == "gateway":
            try:
                result.gateway_stats = gateway_stats(service)
            except (ServiceError, OSError, subprocess.SubprocessError) as exc:
                log(f"gateway stats failed: {exc}")
        return ok

    run_servers(suite, STARTERS, root / "s3", measure, log, "S3")


def run_dav_suite(
    suite: DavSuiteResult, root: Path, datasets: Sequence[Dataset], plan: DavPlan, log: Log
) -> None:
    """The WebDAV suite: ``bench.dav_runner``'s measurements on each WebDAV server."""
    scratch = root / "downloads"
    scratch.mkdir(exist_ok=True)

    def measure(service: Service[DavEndpoint]) -> bool:
        return measure_dav_service(service, suite, datasets, scratch, plan, log)

    run_servers(suite, DAV_STARTERS, root / "webdav", measure, log, "WebDAV")
