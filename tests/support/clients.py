"""Real S3 clients (boto3, the Debian aws CLI v2, s3cmd, rclone) driven against a gateway.

Every client is configured from scratch for each test: environment variables and
files under the test's ``tmp_path`` only (``HOME`` too), never ``~/.aws``,
``~/.s3cfg`` or ``~/.config/rclone``. Subprocesses always run with a timeout, and a
failure raises ``AssertionError`` showing the command, its exit code, stdout,
stderr and what the gateway logged meanwhile.

Each client is wrapped in a small adapter with the same operations (upload, list,
download, ranged read, delete) so that one round-trip test covers all of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError

from tests.support.gateway_server import REGION, GatewayProcess

AWS = "/usr/bin/aws"
S3CMD = "/usr/bin/s3cmd"
RCLONE = "/usr/bin/rclone"

MIB = 1024 * 1024
SMALL_TIMEOUT = 120
LARGE_TIMEOUT = 300  # one 100 MiB transfer on a busy 2-core machine

# Variables of the pytest process that must not leak into a client: its own
# configuration (the moto fixture sets fake AWS_* credentials) and Python settings
# that would make the Debian aws CLI or s3cmd import the virtualenv's packages.
_STRIPPED_PREFIXES = ("AWS_", "RCLONE_", "BOTO_", "S3CMD")
_STRIPPED = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"})


# --- files ---------------------------------------------------------------------------


def require_binary(binary: str) -> None:
    """Skip the calling test when the client program ``binary`` is not installed
    (``make test`` installs every one of them)."""
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed")


def write_random_file(path: Path, size: int, block: int = MIB) -> None:
    """Fill ``path`` with ``size`` random bytes, written ``block`` bytes at a time."""
    with path.open("wb") as out:
        remaining = size
        while remaining:
            step = min(block, remaining)
            out.write(os.urandom(step))
            remaining -= step


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's content, read 1 MiB at a time."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as source:
        while chunk := source.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def read_slice(path: Path, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of a file."""
    with path.open("rb") as source:
        source.seek(start)
        return source.read(end - start)


@dataclass(frozen=True)
class ByteRange:
    """An HTTP byte range as a client asks for it.

    ``first``-``last`` (both given, inclusive), ``first``- (open-ended, ``last`` None)
    or -``suffix`` (the last ``suffix`` bytes, ``first`` None).
    """

    first: int | None
    last: int | None = None
    suffix: int | None = None

    @property
    def kind(self) -> str:
        """``closed``, ``open`` or ``suffix``."""
        if self.first is None:
            return "suffix"
        return "open" if self.last is None else "closed"

    @property
    def header(self) -> str:
        """The ``Range`` header value."""
        if self.first is None:
            return f"bytes=-{self.suffix}"
        return f"bytes={self.first}-{'' if self.last is None else self.last}"

    def bounds(self, size: int) -> tuple[int, int]:
        """``[start, end)`` this range selects from ``size`` bytes."""
        if self.first is None:
            assert self.suffix is not None
            return max(size - self.suffix, 0), size
        end = size if self.last is None else min(self.last + 1, size)
        return self.first, end


def ranges_for(size: int) -> list[ByteRange]:
    """Ranges worth reading from an object of ``size`` bytes: edges, boundaries, suffixes."""
    picks = [
        ByteRange(0, 0),  # the first byte alone
        ByteRange(0, 99),
        ByteRange(size // 3 + 7, size // 3 + 7 + min(size // 4, 3 * MIB + 13)),  # many chunks
        ByteRange(size - 1, size - 1),  # the last byte alone
        ByteRange(size - 1000),  # open-ended
        ByteRange(None, suffix=777),  # suffix
        ByteRange(None, suffix=size + 10),  # suffix longer than the object: all of it
        ByteRange(size - 10, size + 1000),  # last past the end: clipped
    ]
    if size > 8 * MIB + 100:
        # Across the first 8 MiB part boundary of boto3's and aws' multipart uploads.
        picks.append(ByteRange(8 * MIB - 50, 8 * MIB + 49))
    return picks


# --- running ---------------------------------------------------------------------------


@dataclass
class Result:
    """A finished client command."""

    args: list[str]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        """stdout decoded as UTF-8."""
        return self.stdout.decode("utf-8", errors="replace")


def _tail(text: str, lines: int = 60) -> str:
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) if kept else "(empty)"


def describe(
    result: Result | None,
    args: Sequence[str],
    gateway: GatewayProcess | None,
    log_offset: int,
    headline: str,
) -> str:
    """A failure message: command, exit code, stdout, stderr, the gateway's log meanwhile."""
    parts = [headline, f"command: {shlex.join(args)}"]
    if result is not None:
        parts += [
            f"exit code: {result.returncode}",
            f"--- stdout ---\n{_tail(result.text)}",
            f"--- stderr ---\n{_tail(result.stderr)}",
        ]
    if gateway is not None:
        parts.append(
            f"--- gateway log meanwhile ---\n{_tail(gateway_log_since(gateway, log_offset))}"
        )
    return "\n".join(parts)


def gateway_log_offset(gateway: GatewayProcess | None) -> int:
    """Current size of the gateway's log, to show only what a command makes it log."""
    if gateway is None or not gateway.log_path.exists():
        return 0
    return gateway.log_path.stat().st_size


def gateway_log_since(gateway: GatewayProcess, offset: int) -> str:
    """What the gateway logged after ``offset``."""
    with gateway.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", errors="replace")


def run(
    args: Sequence[str],
    *,
    env: dict[str, str],
    timeout: float,
    gateway: GatewayProcess | None = None,
    check: bool = True,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> Result:
    """Run a client command, feeding it ``stdin`` (nothing when None); with ``check``, a
    non-zero exit fails with the whole story."""
    args = [str(arg) for arg in args]
    offset = gateway_log_offset(gateway)
    try:
        completed = subprocess.run(
            args,
            env=env,
            cwd=cwd,
            capture_output=True,
            input=None if stdin is None else stdin.encode(),
            stdin=subprocess.DEVNULL if stdin is None else None,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        partial = Result(
            args,
            -1,
            exc.stdout or b"",
            (exc.stderr or b"").decode("utf-8", errors="replace"),
        )
        raise AssertionError(
            describe(partial, args, gateway, offset, f"timed out after {timeout} s")
        ) from None
    result = Result(
        args,
        completed.returncode,
        completed.stdout,
        completed.stderr.decode("utf-8", errors="replace"),
    )
    if check and result.returncode != 0:
        shown = args if stdin is None else [*args, "<", shlex.quote(stdin)]
        raise AssertionError(describe(result, shown, gateway, offset, "client command failed"))
    return result


def base_env(home: Path) -> dict[str, str]:
    """The environment for a client: ours without client settings, ``HOME`` in ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _STRIPPED and not name.startswith(_STRIPPED_PREFIXES)
    }
    env.update({"HOME": str(home), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    return env


def empty_file(path: Path) -> Path:
    """Create ``path`` empty (and its directory); return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


# --- configuration per client ------------------------------------------------------------


def aws_env(
    gateway: GatewayProcess,
    workdir: Path,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> dict[str, str]:
    """Environment for ``/usr/bin/aws``: credentials and region only, empty config files."""
    env = base_env(workdir / "home")
    env.update(
        {
            "AWS_ACCESS_KEY_ID": access_key or gateway.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or gateway.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(empty_file(workdir / "aws" / "config")),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty_file(workdir / "aws" / "credentials")),
            "AWS_PAGER": "",
            "AWS_EC2_METADATA_DISABLED": "true",
            # A retried request would hide a failing gateway.
            "AWS_MAX_ATTEMPTS": "1",
        }
    )
    return env


def s3cmd_config(gateway: GatewayProcess, workdir: Path) -> Path:
    """A fresh s3cmd configuration file for ``gateway`` (path-style, SigV4, plain HTTP)."""
    host = gateway.s3_url.removeprefix("http://")
    path = workdir / "s3cmd.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[default]\n"
        f"access_key = {gateway.access_key}\n"
        f"secret_key = {gateway.secret_key}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "check_ssl_certificate = False\n"
        "progress_meter = False\n"
    )
    return path


RCLONE_REMOTE = "gw"


def rclone_env(gateway: GatewayProcess, workdir: Path) -> dict[str, str]:
    """Environment for ``/usr/bin/rclone``: an ``s3`` remote named ``gw``, empty config file."""
    env = base_env(workdir / "home")
    prefix = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_"
    env.update(
        {
            "RCLONE_CONFIG": str(empty_file(workdir / "rclone.conf")),
            f"{prefix}TYPE": "s3",
            f"{prefix}PROVIDER": "Other",
            f"{prefix}ACCESS_KEY_ID": gateway.access_key,
            f"{prefix}SECRET_ACCESS_KEY": gateway.secret_key,
            f"{prefix}ENDPOINT": gateway.s3_url,
            f"{prefix}REGION": REGION,
            f"{prefix}FORCE_PATH_STYLE": "true",
        }
    )
    return env


# --- adapters ------------------------------------------------------------------------------


class S3Tool:
    """One client's way of doing the round trip's steps against one gateway."""

    name: ClassVar[str]
    #: Which ``ByteRange.kind`` values ``read_range`` supports.
    range_kinds: ClassVar[frozenset[str]]

    def __init__(self, gateway: GatewayProcess, workdir: Path) -> None:
        self.gateway = gateway
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)

    def upload(self, local: Path, bucket: str, key: str, timeout: float) -> None:
        raise NotImplementedError

    def listing(self, bucket: str) -> dict[str, int]:
        """Every key in ``bucket`` with its size, as the client lists them."""
        raise NotImplementedError

    def download(self, bucket: str, key: str, local: Path, timeout: float) -> None:
        raise NotImplementedError

    def read_range(self, bucket: str, key: str, wanted: ByteRange, source: Path) -> bytes:
        """The bytes ``wanted`` selects, read by the client (``source``: the original)."""
        raise NotImplementedError

    def delete(self, bucket: str, key: str) -> None:
        raise NotImplementedError


class Boto3Tool(S3Tool):
    """boto3's managed transfers (default ``TransferConfig``) and ``get_object(Range=)``."""

    name = "boto3"
    range_kinds = frozenset({"closed", "open", "suffix"})

    def __init__(self, gateway: GatewayProcess, workdir: Path) -> None:
        super().__init__(gateway, workdir)
        self.client = gateway.client(retries={"max_attempts": 1})

    def upload(self, local: Path, bucket: str, key: str, timeout: float) -> None:
        self.client.upload_file(str(local), bucket, key)

    def listing(self, bucket: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
        return found

    def download(self, bucket: str, key: str, local: Path, timeout: float) -> None:
        self.client.download_file(bucket, key, str(local))

    def read_range(self, bucket: str, key: str, wanted: ByteRange, source: Path) -> bytes:
        size = source.stat().st_size
        answer = self.client.get_object(Bucket=bucket, Key=key, Range=wanted.header)
        body: bytes = answer["Body"].read()
        start, end = wanted.bounds(size)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 206, answer["ResponseMetadata"]
        assert answer["ContentRange"] == f"bytes {start}-{end - 1}/{size}", wanted
        assert answer["ContentLength"] == end - start, wanted
        return body

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)


class AwsCliTool(S3Tool):
    """``/usr/bin/aws`` v2: ``s3 cp/ls/rm`` and ``s3api get-object --range``."""

    name = "awscli"
    range_kinds = frozenset({"closed", "open", "suffix"})

    def __init__(self, gateway: GatewayProcess, workdir: Path) -> None:
        super().__init__(gateway, workdir)
        self.env = aws_env(gateway, workdir)

    def aws(self, *args: str | Path, timeout: float = SMALL_TIMEOUT) -> Result:
        command = [AWS, "--endpoint-url", self.gateway.s3_url, *map(str, args)]
        return run(command, env=self.env, timeout=timeout, gateway=self.gateway)

    def upload(self, local: Path, bucket: str, key: str, timeout: float) -> None:
        result = self.aws(
            "s3", "cp", "--no-progress", local, f"s3://{bucket}/{key}", timeout=timeout
        )
        # "upload: ../relative/path to s3://bucket/key"
        assert result.text.startswith("upload: "), result.text
        assert f" to s3://{bucket}/{key}" in result.text, result.text

    def listing(self, bucket: str) -> dict[str, int]:
        # "2024-01-02 03:04:05  123 dir one/key with spaces" (full keys with --recursive)
        found: dict[str, int] = {}
        for line in self.aws("s3", "ls", "--recursive", f"s3://{bucket}").text.splitlines():
            _date, _time, size, key = line.split(maxsplit=3)
            found[key] = int(size)
        return found

    def download(self, bucket: str, key: str, local: Path, timeout: float) -> None:
        result = self.aws(
            "s3", "cp", "--no-progress", f"s3://{bucket}/{key}", local, timeout=timeout
        )
        assert f"download: s3://{bucket}/{key} to " in result.text, result.text

    def read_range(self, bucket: str, key: str, wanted: ByteRange, source: Path) -> bytes:
        size = source.stat().st_size
        out = self.workdir / "range.out"
        result = self.aws(
            "s3api", "get-object", "--bucket", bucket, "--key", key, "--range", wanted.header, out
        )
        answer = json.loads(result.text)
        start, end = wanted.bounds(size)
        assert answer["ContentRange"] == f"bytes {start}-{end - 1}/{size}", (wanted, answer)
        assert answer["ContentLength"] == end - start, (wanted, answer)
        return out.read_bytes()

    def delete(self, bucket: str, key: str) -> None:
        result = self.aws("s3", "rm", f"s3://{bucket}/{key}")
        assert f"delete: s3://{bucket}/{key}" in result.text, result.text


class S3cmdTool(S3Tool):
    """``/usr/bin/s3cmd``: ``put/ls/get/del``; ``get --continue`` sends ``Range: bytes=N-``."""

    name = "s3cmd"
    range_kinds = frozenset({"open"})

    def __init__(self, gateway: GatewayProcess, workdir: Path) -> None:
        super().__init__(gateway, workdir)
        self.env = base_env(workdir / "home")
        self.config = s3cmd_config(gateway, workdir)

    def s3cmd(self, *args: str | Path, timeout: float = SMALL_TIMEOUT) -> Result:
        command = [S3CMD, "-c", self.config, "--no-progress", *map(str, args)]
        result = run(command, env=self.env, timeout=timeout, gateway=self.gateway)
        # s3cmd retries quietly except for warnings; a retry means the gateway failed once.
        for symptom in ("Retrying", "MD5 Sums don't match", "Too many failures"):
            assert symptom not in result.stderr, describe(
                result, command, self.gateway, 0, f"s3cmd reported {symptom!r}"
            )
        return result

    def upload(self, local: Path, bucket: str, key: str, timeout: float) -> None:
        self.s3cmd("put", local, f"s3://{bucket}/{key}", timeout=timeout)

    def listing(self, bucket: str) -> dict[str, int]:
        return {key: size for key, (size, _md5) in self.listing_md5(bucket).items()}

    def listing_md5(self, bucket: str) -> dict[str, tuple[int, str]]:
        """Keys with size and MD5 (``--list-md5``: from s3cmd's metadata for multipart)."""
        # "2024-01-02 03:04   123  0123...abcdef  s3://bucket/dir one/key"
        found: dict[str, tuple[int, str]] = {}
        prefix = f"s3://{bucket}/"
        lines = self.s3cmd("ls", "--recursive", "--list-md5", prefix).text.splitlines()
        for line in lines:
            _date, _time, size, md5, uri = line.split(maxsplit=4)
            assert uri.startswith(prefix), line
            found[uri.removeprefix(prefix)] = (int(size), md5)
        return found

    def download(self, bucket: str, key: str, local: Path, timeout: float) -> None:
        self.s3cmd("get", "--force", f"s3://{bucket}/{key}", local, timeout=timeout)

    def read_range(self, bucket: str, key: str, wanted: ByteRange, source: Path) -> bytes:
        # Resume a download cut at ``first``: s3cmd asks for "bytes=first-" and appends.
        assert wanted.kind == "open" and wanted.first is not None
        partial = self.workdir / "partial.out"
        partial.write_bytes(read_slice(source, 0, wanted.first))
        self.s3cmd("get", "--continue", f"s3://{bucket}/{key}", partial, timeout=LARGE_TIMEOUT)
        with partial.open("rb") as resumed:
            head = resumed.read(wanted.first)
            assert head == read_slice(source, 0, wanted.first), "s3cmd rewrote the partial file"
            return resumed.read()

    def delete(self, bucket: str, key: str) -> None:
        result = self.s3cmd("del", f"s3://{bucket}/{key}")
        assert f"delete: 's3://{bucket}/{key}'" in result.text, result.text


class RcloneTool(S3Tool):
    """``/usr/bin/rclone``: ``copyto``, ``lsjson``, ``cat --offset --count``, ``deletefile``."""

    name = "rclone"
    range_kinds = frozenset({"closed", "open", "suffix"})

    def __init__(self, gateway: GatewayProcess, workdir: Path) -> None:
        super().__init__(gateway, workdir)
        self.env = rclone_env(gateway, workdir)

    def rclone(
        self, *args: str | Path, timeout: float = SMALL_TIMEOUT, check: bool = True
    ) -> Result:
        # One attempt per command and per request: a retry would hide a failing gateway.
        command = [RCLONE, "--retries", "1", "--low-level-retries", "1", *map(str, args)]
        return run(command, env=self.env, timeout=timeout, gateway=self.gateway, check=check)

    @staticmethod
    def remote(bucket: str, key: str = "") -> str:
        return f"{RCLONE_REMOTE}:{bucket}/{key}" if key else f"{RCLONE_REMOTE}:{bucket}"

    def upload(self, local: Path, bucket: str, key: str, timeout: float) -> None:
        self.rclone("copyto", local, self.remote(bucket, key), timeout=timeout)

    def listing(self, bucket: str) -> dict[str, int]:
        entries: list[dict[str, Any]] = json.loads(
            self.rclone("lsjson", "--recursive", "--files-only", self.remote(bucket)).text
        )
        return {entry["Path"]: entry["Size"] for entry in entries}

    def download(self, bucket: str, key: str, local: Path, timeout: float) -> None:
        self.rclone("copyto", self.remote(bucket, key), local, timeout=timeout)

    def read_range(self, bucket: str, key: str, wanted: ByteRange, source: Path) -> bytes:
        if wanted.first is None:  # a negative offset counts from the end
            options = ["--offset", f"-{wanted.suffix}"]
        else:
            options = ["--offset", str(wanted.first)]
            if wanted.last is not None:
                options += ["--count", str(wanted.last - wanted.first + 1)]
        return self.rclone("cat", *options, self.remote(bucket, key)).stdout

    def delete(self, bucket: str, key: str) -> None:
        self.rclone("deletefile", self.remote(bucket, key))


TOOLS: dict[str, type[S3Tool]] = {
    tool.name: tool for tool in (Boto3Tool, AwsCliTool, S3cmdTool, RcloneTool)
}


def object_exists(client: Any, bucket: str, key: str) -> bool:
    """Whether HeadObject (as the admin, with boto3) finds ``key``."""
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True
