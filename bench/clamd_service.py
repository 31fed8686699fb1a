"""A private clamd on loopback, for the test suite and the benchmarks alike.

ClamAV's official signatures cannot be downloaded here, so clamd loads a database this
module writes into its directory: an MD5 signature (``.hdb``) of the EICAR test file and
a body signature (``.ndb``) of the EICAR string, which finds it inside larger objects.
The EICAR string is put together at run time, so no file of the repository holds it and
no scanner quarantines the source tree.

clamd runs in the foreground of its own session, started from ``/usr/sbin/clamd`` (Debian
package ``clamav-daemon``) with a configuration written here: a unix socket in its
directory, a TCP socket on a free loopback port, and the limits docs/scanning.md tells
operators to set. It knows nothing of the system's clamav services and their files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adapters.scan.clamd import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    ClamdScanner,
    TcpSocket,
    UnixSocket,
)
from bench.net import LOOPBACK, NotReadyError, free_port, wait_until
from bench.services import ServiceError, base_environment, spawn, stop_process

CLAMD = Path("/usr/sbin/clamd")
# clamd stops within a second of SIGTERM; a stuck one is killed after this.
STOP_GRACE = 10.0

# The names of the two signatures, as clamd reports them: it marks every signature that
# comes from a database other than ClamAV's signed ones as UNOFFICIAL.
EICAR_HASH_SIGNATURE = "Gateway.Test.EICAR-HDB"
EICAR_BODY_SIGNATURE = "Gateway.Test.EICAR-NDB"
EICAR_REPORTED_NAMES = frozenset(
    f"{name}.UNOFFICIAL" for name in (EICAR_HASH_SIGNATURE, EICAR_BODY_SIGNATURE)
)

# The 68 bytes of the EICAR anti-virus test file, kept apart in the source.
_EICAR_PIECES = (
    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
    "EICAR-STANDARD-",
    "ANTIVIRUS-TEST-",
    "FILE!$H+H*",
)


def eicar() -> bytes:
    """The EICAR test file: harmless, but every anti-virus reports it."""
    return "".join(_EICAR_PIECES).encode("ascii")


@dataclass(frozen=True)
class ClamdLimits:
    """clamd's size and time limits, in clamd.conf syntax.

    They go up together: a stream over StreamMaxLength is refused, but of a file over
    MaxFileSize or MaxScanSize (or one that takes longer than MaxScanTime) clamd scans
    only the head and calls it clean, unless AlertExceedsMax is on. MaxFileSize cannot
    exceed 2 GiB - 1 whatever is written here; MaxScanSize counts an archive plus what
    it unpacks, so it is set higher.
    """

    stream_max_length: str = "2000M"
    max_file_size: str = "2000M"
    max_scan_size: str = "4000M"
    max_scan_time_ms: int = 300_000


RECOMMENDED_LIMITS = ClamdLimits()


def write_signatures(directory: Path) -> None:
    """Write the EICAR signature database (``gateway-test.hdb`` and ``.ndb``) to ``directory``."""
    sample = eicar()
    md5 = hashlib.md5(sample, usedforsecurity=False).hexdigest()
    (directory / "gateway-test.hdb").write_text(f"{md5}:{len(sample)}:{EICAR_HASH_SIGNATURE}\n")
    # Target 0 (any file), offset * (anywhere).
    (directory / "gateway-test.ndb").write_text(f"{EICAR_BODY_SIGNATURE}:0:*:{sample.hex()}\n")


def clamd_config(
    directory: Path, socket_path: Path, tcp_port: int, limits: ClamdLimits = RECOMMENDED_LIMITS
) -> str:
    """The clamd.conf of a private clamd keeping everything in ``directory``."""
    lines = [
        "Foreground yes",
        f"LocalSocket {socket_path}",
        f"TCPSocket {tcp_port}",
        f"TCPAddr {LOOPBACK}",
        f"DatabaseDirectory {directory}",
        f"TemporaryDirectory {directory / 'tmp'}",
        f"LogFile {directory / 'clamd.log'}",
        "LogTime yes",
        # No PidFile and no User: clamd keeps running as whoever started it (root
        # included), and is stopped by the PID of the process we started.
        f"StreamMaxLength {limits.stream_max_length}",
        f"MaxFileSize {limits.max_file_size}",
        f"MaxScanSize {limits.max_scan_size}",
        f"MaxScanTime {limits.max_scan_time_ms}",
        # A limit reached is reported (Heuristics.Limits.Exceeded.*), never passed over.
        "AlertExceedsMax yes",
        # Mail parsing slows clamd down more than linearly on large text files.
        "ScanMail no",
        # The database never changes while clamd runs.
        "SelfCheck 0",
    ]
    return "\n".join(lines) + "\n"


class ClamdService:
    """A clamd of our own in ``root``, listening on a unix socket and on loopback TCP.

    ``start`` returns once clamd answers PING on both; ``stop`` ends it by PID. It can be
    stopped and started again any number of times, on the same socket and port.
    """

    def __init__(
        self,
        root: Path,
        *,
        limits: ClamdLimits = RECOMMENDED_LIMITS,
        binary: Path = CLAMD,
    ) -> None:
        self.root = root
        self.limits = limits
        self.binary = binary
        self.socket_path = root / "clamd.sock"
        self.tcp_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._prepared = False

    @property
    def unix_url(self) -> str:
        """The scanner URL of the unix socket (``clamd:///.../clamd.sock``)."""
        return f"clamd://{self.socket_path}"

    @property
    def tcp_url(self) -> str:
        """The scanner URL of the TCP socket (``clamd://127.0.0.1:PORT``)."""
        return f"clamd://{LOOPBACK}:{self.tcp_port}"

    @property
    def pid(self) -> int | None:
        """The PID of the running clamd, None when it is not running."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the clamd we started is still alive."""
        return self._process is not None and self._process.poll() is None

    def scanner(
        self,
        transport: Literal["unix", "tcp"] = "unix",
        *,
        max_bytes: int | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ClamdScanner:
        """A scanner of this clamd over ``transport`` (the adapter's own defaults)."""
        address = (
            UnixSocket(str(self.socket_path))
            if transport == "unix"
            else TcpSocket(LOOPBACK, self.tcp_port)
        )
        return ClamdScanner(
            address, max_bytes=max_bytes, connect_timeout=connect_timeout, timeout=timeout
        )

    def log_tail(self, lines: int = 25) -> str:
        """The end of clamd's own log and of its output."""
        parts = []
        for name in ("clamd.log", "server.log"):
            try:
                text = (self.root / name).read_text(errors="replace")
            except OSError:
                continue
            parts.append(f"--- {name} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)

    def _prepare(self) -> None:
        if self._prepared:
            return
        if not os.access(self.binary, os.X_OK):
            raise ServiceError(
                f"{self.binary} not found: install the Debian package clamav-daemon (`make debs`)"
            )
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        write_signatures(self.root)
        (self.root / "clamd.conf").write_text(
            clamd_config(self.root, self.socket_path, self.tcp_port, self.limits)
        )
        self._prepared = True

    def start(self, timeout: float = 60.0) -> None:
        """Start clamd and return once it answers PING on both sockets.

        Raises ServiceError (with the end of clamd's logs) when it does not.
        """
        if self.running:
            return
        self._prepare()
        process = spawn(
            [str(self.binary), f"--config-file={self.root / 'clamd.conf'}"],
            self.root,
            base_environment(),
        )
        self._process = process
        probes = [
            self.scanner("unix", connect_timeout=1.0),
            self.scanner("tcp", connect_timeout=1.0),
        ]

        def answers() -> bool:
            for probe in probes:
                probe.ping()
            return True

        try:
            wait_until(answers, what="clamd start", process=process, timeout=timeout, interval=0.05)
        except NotReadyError as exc:
            self.stop()
            raise ServiceError(f"{exc}\n{self.log_tail()}") from exc

    def stop(self) -> None:
        """Stop clamd (SIGTERM by PID, SIGKILL if it lingers); idempotent."""
        if self._process is not None:
            stop_process(self._process, STOP_GRACE)

    def __enter__(self) -> ClamdService:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
