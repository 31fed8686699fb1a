"""Start the three WebDAV servers: the gateway, wsgidav's FilesystemProvider and
``rclone serve webdav``.

Each one serves its share at ``http://127.0.0.1:PORT/dav`` with HTTP Basic credentials,
in its own fresh directory under the benchmark's temporary root, with its output in
``server.log`` there, started in a new session like the S3 servers (see
``bench.services``). A ``start_*`` function returns only once the server answers and
``MKCOL /dav/bench`` has made the benchmark's bucket (a plain folder for the two
references); when that fails it stops what it started and raises ServiceError.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from bench.dav_http import make_collection
from bench.endpoint import DavEndpoint
from bench.net import LOOPBACK, free_port
from bench.services import (
    BUCKET,
    GATEWAY_STOP_GRACE,
    Service,
    ServiceError,
    base_environment,
    finish_start,
    http_status,
    launch_gateway,
    spawn,
)
from bench.wsgidav_server import PASSWORD_VARIABLE

DAV_SERVICE_NAMES = ("gateway", "wsgidav", "rclone")
MOUNT = "/dav"
REFERENCE_USER = "admin"
START_TIMEOUT = 90.0


def _dav_bucket(endpoint: DavEndpoint) -> bool:
    return make_collection(endpoint, BUCKET)


def _answers(url: str) -> Callable[[], bool]:
    """A probe that is True once ``GET url`` gets any HTTP answer (401 included)."""
    return lambda: http_status(url) > 0


def start_gateway_dav(root: Path) -> Service[DavEndpoint]:
    """``gateway serve`` on a fresh data directory ``root/gw``; its WebDAV share under
    ``/dav`` on the HTTP listener, as the admin user with its password.

    Ready when ``GET /healthz`` answers 200; the bucket is made with MKCOL.
    """
    launch = launch_gateway(root)
    endpoint = DavEndpoint(f"{launch.http_url}{MOUNT}", launch.user, launch.password)
    service = Service(
        "gateway",
        endpoint,
        launch.process,
        root,
        launch.env,
        stop_grace=GATEWAY_STOP_GRACE,
        blob_dir=root / "gw" / "blobs",
    )
    return finish_start(service, launch.healthz, _dav_bucket, timeout=START_TIMEOUT)


def start_wsgidav(root: Path) -> Service[DavEndpoint]:
    """``bench/wsgidav_server.py``: wsgidav's FilesystemProvider over ``root/data`` on
    cheroot, Basic authentication, in-memory locks (see that module)."""
    port = free_port()
    password = secrets.token_urlsafe(18)
    data = root / "data"
    data.mkdir(parents=True)
    script = Path(__file__).resolve().with_name("wsgidav_server.py")
    argv = [sys.executable, str(script), str(data), LOOPBACK, str(port), REFERENCE_USER]
    env = base_environment()
    env[PASSWORD_VARIABLE] = password
    endpoint = DavEndpoint(f"http://{LOOPBACK}:{port}{MOUNT}", REFERENCE_USER, password)
    service = Service("wsgidav", endpoint, spawn(argv, root, env), root, env, stop_grace=10)
    probe = _answers(endpoint.url + "/")
    return finish_start(service, probe, _dav_bucket, timeout=START_TIMEOUT)


def start_rclone(root: Path) -> Service[DavEndpoint]:
    """``rclone serve webdav root/data`` with ``--user``/``--pass`` and ``--baseurl /dav``,
    otherwise on rclone's defaults (no VFS cache), with an empty config file of its own."""
    program = shutil.which("rclone")
    if program is None:
        raise ServiceError("rclone not found on PATH (Debian package rclone; `make debs`)")
    port = free_port()
    password = secrets.token_urlsafe(18)
    data = root / "data"
    data.mkdir(parents=True)
    config = root / "rclone.conf"
    config.touch()
    argv = [
        program,
        "serve",
        "webdav",
        str(data),
        "--addr",
        f"{LOOPBACK}:{port}",
        "--user",
        REFERENCE_USER,
        "--pass",
        password,
        "--baseurl",
        MOUNT,
        "--config",
        str(config),
        "--cache-dir",
        str(root / "cache"),
    ]
    env = base_environment()
    endpoint = DavEndpoint(f"http://{LOOPBACK}:{port}{MOUNT}", REFERENCE_USER, password)
    service = Service("rclone", endpoint, spawn(argv, root, env), root, env, stop_grace=10)
    probe = _answers(endpoint.url + "/")
    return finish_start(service, probe, _dav_bucket, timeout=START_TIMEOUT)


DAV_STARTERS: dict[str, Callable[[Path], Service[DavEndpoint]]] = {
    "gateway": start_gateway_dav,
    "wsgidav": start_wsgidav,
    "rclone": start_rclone,
}
