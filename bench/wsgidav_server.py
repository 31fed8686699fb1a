"""The wsgidav reference server: wsgidav's own FilesystemProvider over one directory.

Run as a script (``python bench/wsgidav_server.py ROOT HOST PORT USER``, the password in
the environment variable ``BENCH_DAV_PASSWORD``), it serves ``ROOT`` under ``/dav`` with
HTTP Basic authentication (wsgidav's SimpleDomainController, Digest off) and wsgidav's
default in-memory lock storage, on cheroot with the same server settings as the gateway's
HTTP listener: 32 worker threads, a 300 s socket timeout and 1 MiB read/write blocks.
cheroot's PathInfoDispatcher moves ``/dav`` into ``SCRIPT_NAME``, and wsgidav's
``mount_path`` puts it back into the hrefs. Logging is off, as on the gateway. It serves
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from cheroot.wsgi import PathInfoDispatcher
from cheroot.wsgi import Server as WSGIServer
from wsgidav.fs_dav_provider import FilesystemProvider
from wsgidav.wsgidav_app import WsgiDAVApp

PASSWORD_VARIABLE = "BENCH_DAV_PASSWORD"
MOUNT = "/dav"
# The gateway's settings: GATEWAY_SERVER_THREADS' default, gateway/server.py's socket
# timeout, and gateway/dav/app.py's block size.
THREADS = 32
SOCKET_TIMEOUT = 300
BLOCK_SIZE = 1 << 20


def make_app(root: str, user: str, password: str) -> Any:
    """The WsgiDAVApp serving ``root`` at ``/dav`` for one Basic user."""
    config = {
        "provider_mapping": {"/": FilesystemProvider(root)},
        "mount_path": MOUNT,
        "http_authenticator": {
            "domain_controller": None,  # SimpleDomainController over simple_dc
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "simple_dc": {"user_mapping": {"*": {user: {"password": password, "roles": []}}}},
        "lock_storage": True,  # the default: LockManager over an in-memory dict
        "block_size": BLOCK_SIZE,
        "dir_browser": {"enable": False},
        "suppress_version_info": True,
        "logging": {"enable": False},
        "verbose": 1,
    }
    return WsgiDAVApp(config)


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("user")
    args = parser.parse_args(argv)
    password = os.environ.get(PASSWORD_VARIABLE)
    if not password:
        print(f"{PASSWORD_VARIABLE} is not set", file=sys.stderr)
        return 2
    app = PathInfoDispatcher({MOUNT: make_app(args.root, args.user, password)})  # type: ignore[no-untyped-call]
    server = WSGIServer((args.host, args.port), app, numthreads=THREADS, server_name="wsgidav")
    server.timeout = SOCKET_TIMEOUT
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
