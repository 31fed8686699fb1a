"""Start and stop the servers: the three S3 servers (the gateway, SeaweedFS and moto),
and the process plumbing shared with the WebDAV servers of ``bench.dav_services``.

Each server runs on loopback with free ports, in its own fresh directory under the
benchmark's temporary root, with its output in ``server.log`` there. It is started in
a new session, so a Ctrl-C in the terminal reaches only the benchmark, which then stops
every server itself, by PID. A ``start_*`` function returns only once the server answers
and the benchmark bucket exists; when that fails it stops what it started and raises
ServiceError with the end of the server's log.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import psutil  # type: ignore[import-untyped]

from bench.endpoint import Endpoint, create_bucket
from bench.net import LOOPBACK, free_port, wait_until

BUCKET = "bench"
SERVICE_NAMES = ("gateway", "seaweedfs", "moto")
LABELS = {
    "gateway": "gateway",
    "seaweedfs": "SeaweedFS",
    "moto": "moto",
    "wsgidav": "wsgidav-fs",
    "rclone": "rclone-serve",
}
GRPC_OFFSET = 10000  # SeaweedFS's default gRPC port = HTTP port + 10000
GATEWAY_USER = "admin"
GATEWAY_STOP_GRACE = 30


class ServiceError(RuntimeError):
    """A server could not be started (missing program, exited, or never became ready)."""


E = TypeVar("E")


@dataclass
class Service(Generic[E]):
    """A running server and how to reach it: ``endpoint`` is an S3 Endpoint or a WebDAV
    DavEndpoint.

    ``blob_dir`` is set for the gateway only: the directory its file backend writes
    chunks to, whose size is the backend's bytes on disk. ``env`` is the environment the
    server runs with (the gateway's CLI commands need the same).
    """

    name: str
    endpoint: E
    process: subprocess.Popen[bytes]
    root: Path
    env: dict[str, str] = field(repr=False)
    stop_grace: float
    blob_dir: Path | None = None

    @property
    def label(self) -> str:
        """The display name."""
        return LABELS[self.name]

    @property
    def pid(self) -> int:
        """The PID of the server process the benchmark started."""
        return self.process.pid

    @property
    def log_path(self) -> Path:
        """The file the server's stdout and stderr go to."""
        return self.root / "server.log"

    def log_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of the server's log ("" when there is none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and its descendants; idempotent."""
        stop_process(self.process, self.stop_grace)


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM ``process`` by its PID, SIGKILL it after ``grace`` seconds, then kill
    any of its descendants (looked up before the SIGTERM) that are still alive.

    Idempotent; never raises for a process that is already gone.
    """
    descendants: list[psutil.Process] = []
    if process.poll() is None:
        try:
            descendants = psutil.Process(process.pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for child in descendants:
        try:
            if child.is_running():  # psutil checks the PID was not reused
                child.kill()
        except psutil.Error:
            pass


def spawn(argv: list[str], root: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` in ``root`` (created) in a new session, output to ``root/server.log``."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "server.log", "ab") as log:
        return subprocess.Popen(
            argv,
            cwd=root,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def base_environment() -> dict[str, str]:
    """Our environment without anything that would configure the servers behind our back."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GATEWAY_", "AWS_", "MOTO_", "WEED_", "RCLONE_", "BENCH_"))
    }


def _random_access_key() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def _random_secret() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


def venv_program(name: str) -> Path:
    """``name`` beside the running interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"program {name!r} not found beside {sys.executable} nor on PATH")
    return Path(found)


def http_status(url: str) -> int:
    """The HTTP status of GET ``url`` (error statuses included); raises when unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def finish_start(
    service: Service[E],
    probe: Callable[[], bool],
    make_bucket: Callable[[E], bool],
    timeout: float,
) -> Service[E]:
    """Wait for ``probe``, then until ``make_bucket(endpoint)`` has made the benchmark's
    bucket; stop the service and raise ServiceError on failure."""
    try:
        wait_until(probe, what=f"{service.label} start", process=service.process, timeout=timeout)
        wait_until(
            lambda: make_bucket(service.endpoint),
            what=f"{service.label} bucket creation",
            process=service.process,
            timeout=timeout,
        )
    except BaseException as exc:
        service.stop()
        if isinstance(exc, Exception):
            raise ServiceError(
                f"{exc}\n--- end of {service.log_path} ---\n{service.log_tail()}"
            ) from exc
        raise
    return service


def _s3_bucket(endpoint: Endpoint) -> bool:
    return create_bucket(endpoint, BUCKET)


@dataclass(frozen=True)
class GatewayLaunch:
    """A ``gateway serve`` just spawned: its process, environment and listeners."""

    process: subprocess.Popen[bytes]
    env: dict[str, str]
    s3: Endpoint
    http_url: str
    user: str
    password: str = field(repr=False)

    @property
    def healthz(self) -> Callable[[], bool]:
        """The readiness probe: ``GET /healthz`` on the HTTP listener answers 200."""
        url = f"{self.http_url}/healthz"
        return lambda: http_status(url) == 200


def launch_gateway(root: Path, settings: Mapping[str, str] | None = None) -> GatewayLaunch:
    """Spawn ``gateway serve`` on a fresh data directory ``root/gw`` with a random admin
    user password and S3 key pair, on free loopback ports, with the ``GATEWAY_*``
    environment ``settings`` on top; does not wait for it."""
    program = venv_program("gateway")
    s3_port, http_port = free_port(), free_port()
    endpoint = Endpoint(f"http://{LOOPBACK}:{s3_port}", _random_access_key(), _random_secret())
    password = secrets.token_urlsafe(18)
    env = base_environment()
    env.update(
        {
            "GATEWAY_DATA_DIR": str(root / "gw"),
            "GATEWAY_S3_LISTEN": f"{LOOPBACK}:{s3_port}",
            "GATEWAY_HTTP_LISTEN": f"{LOOPBACK}:{http_port}",
            "GATEWAY_ADMIN_USER": GATEWAY_USER,
            "GATEWAY_ADMIN_PASSWORD": password,
            "GATEWAY_ADMIN_ACCESS_KEY": endpoint.access_key,
            "GATEWAY_ADMIN_SECRET_KEY": endpoint.secret_key,
            **(settings or {}),
        }
    )
    process = spawn([str(program), "serve"], root, env)
    return GatewayLaunch(
        process, env, endpoint, f"http://{LOOPBACK}:{http_port}", GATEWAY_USER, password
    )


def start_gateway(root: Path, settings: Mapping[str, str] | None = None) -> Service[Endpoint]:
    """``gateway serve`` on a fresh data directory ``root/gw``, with a random admin key pair
    and the ``GATEWAY_*`` environment ``settings``.

    Ready when ``GET /healthz`` on its HTTP listener answers 200.
    """
    launch = launch_gateway(root, settings)
    service = Service(
        "gateway",
        launch.s3,
        launch.process,
        root,
        launch.env,
        stop_grace=GATEWAY_STOP_GRACE,
        blob_dir=root / "gw" / "blobs",
    )
    return finish_start(service, launch.healthz, _s3_bucket, timeout=90)


def start_seaweedfs(root: Path) -> Service[Endpoint]:
    """``weed server`` (master, volume, filer, S3) with one S3 identity, telemetry off.

    Volumes are limited to 1 GiB each with their count derived from free disk space, so
    several GiB fit. Ready when the S3 port lets us create the bucket. SeaweedFS takes
    long to stop on SIGTERM; its data is thrown away, so it gets 5 s before SIGKILL.
    """
    program = venv_program("weed")
    master, volume, filer, s3 = (free_port(also_free_at=(GRPC_OFFSET,)) for _ in range(4))
    endpoint = Endpoint(f"http://{LOOPBACK}:{s3}", _random_access_key(), _random_secret())
    root.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "bench",
                "credentials": [
                    {"accessKey": endpoint.access_key, "secretKey": endpoint.secret_key}
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = root / "s3.json"
    config.write_text(json.dumps(identities))
    config.chmod(0o600)
    (root / "data").mkdir()
    argv = [
        str(program),
        "server",
        f"-dir={root / 'data'}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-master.port={master}",
        f"-master.port.grpc={master + GRPC_OFFSET}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume + GRPC_OFFSET}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer + GRPC_OFFSET}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3 + GRPC_OFFSET}",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={root / 's3.sock'}",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=1024",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
    ]
    env = base_environment()
    service = Service("seaweedfs", endpoint, spawn(argv, root, env), root, env, stop_grace=5)
    s3_url = endpoint.url + "/"
    return finish_start(service, lambda: http_status(s3_url) > 0, _s3_bucket, timeout=120)


def start_moto(root: Path) -> Service[Endpoint]:
    """``python -m moto.server`` (in-memory S3 that does not check signatures)."""
    port = free_port()
    endpoint = Endpoint(f"http://{LOOPBACK}:{port}", _random_access_key(), _random_secret())
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    env = base_environment()
    service = Service("moto", endpoint, spawn(argv, root, env), root, env, stop_grace=10)
    probe_url = endpoint.url + "/"
    return finish_start(service, lambda: http_status(probe_url) > 0, _s3_bucket, timeout=60)


STARTERS: dict[str, Callable[[Path], Service[Endpoint]]] = {
    "gateway": start_gateway,
    "seaweedfs": start_seaweedfs,
    "moto": start_moto,
}


def gateway_stats(service: Service[Endpoint]) -> dict[str, str]:
    """The gateway's ``gateway stats`` output as {label: value}, run with its environment.

    Raises ServiceError when the command fails.
    """
    program = venv_program("gateway")
    result = subprocess.run(
        [str(program), "stats"],
        cwd=service.root,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"gateway stats exited {result.returncode}: {result.stderr.strip()}")
    stats: dict[str, str] = {}
    for line in result.stdout.splitlines():
        label, _, value = line.strip().rpartition(" ")
        if label.strip():
            stats[label.strip()] = value
    return stats
