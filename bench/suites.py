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
from bench.model import DavSuiteResult, RunResult, S3SuiteResult, SuiteResult
from bench.runner import measure_service
from bench.s3_runner import S3Plan, measure_parallel
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
    phase: str = "",
) -> None:
    """For each server of ``suite`` in turn: start it in ``root/<name>``, run ``measure``
    on it (False or an exception: something failed, and the end of the server's log goes
    to ``log``), and stop it. Start failures and aborted measurements are recorded in
    ``suite.service_errors``, prefixed with ``phase`` (added to an earlier error of the
    same server); KeyboardInterrupt propagates once the server is stopped."""

    def record(name: str, error: str) -> None:
        error = f"{phase}: {error}" if phase else error
        earlier = suite.service_errors.get(name)
        suite.service_errors[name] = f"{earlier}\n{error}" if earlier else error

    for name in suite.services:
        label = f"{tag} {LABELS[name]}"
        log(f"starting {label}")
        try:
            service = starters[name](root / name)
        except (ServiceError, OSError, RuntimeError) as exc:
            log(f"{label} did not start: {exc}")
            record(name, str(exc))
            continue
        try:
            log(f"{label} ready: pid {service.pid}, {service.endpoint.url}")
            try:
                ok = measure(service)
            except Exception as exc:  # report it and go on with the next server
                log(traceback.format_exc())
                record(name, f"measurement aborted: {exc!r}")
                ok = False
            if not ok:
                log(f"--- end of {service.log_path} ---\n{service.log_tail(LOG_TAIL_LINES)}")
        finally:
            log(f"stopping {label} (pid {service.pid})")
            service.stop()


def run_s3_suite(
    result: RunResult,
    suite: S3SuiteResult,
    root: Path,
    datasets: Sequence[Dataset],
    plan: S3Plan,
    log: Log,
) -> None:
    """The S3 suite, in two passes over the S3 servers: curl and boto3 PUT/GET of every
    data set on each, with ``gateway stats`` after the gateway's uploads; then, on each
    server started afresh, the multipart uploads and small PUTs of ``bench.s3_runner``
    (a fresh gateway, so that they do not deduplicate against the first pass's objects).
    """
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

    def measure_again(service: Service[Endpoint]) -> bool:
        return measure_parallel(service, suite, datasets, plan, log)

    run_servers(
        suite, STARTERS, root / "s3-parallel", measure_again, log, "S3 parallel", "parallel"
    )


def run_dav_suite(
    suite: DavSuiteResult, root: Path, datasets: Sequence[Dataset], plan: DavPlan, log: Log
) -> None:
    """The WebDAV suite: ``bench.dav_runner``'s measurements on each WebDAV server."""
    scratch = root / "downloads"
    scratch.mkdir(exist_ok=True)

    def measure(service: Service[DavEndpoint]) -> bool:
        return measure_dav_service(service, suite, datasets, scratch, plan, log)

    run_servers(suite, DAV_STARTERS, root / "webdav", measure, log, "WebDAV")
