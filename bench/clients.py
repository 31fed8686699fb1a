"""The transfer clients: for S3, curl (one request) and boto3 (multipart); for WebDAV, curl.

A client's ``put`` uploads a file as an object and ``get`` downloads an object to a file;
both block until the transfer is complete and return its wall time in seconds, measured
around the whole transfer (for curl, including its process start). They raise
TransferError when the transfer fails. They do not check content: the caller compares
the downloaded file with the original, outside the timed section.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from bench.endpoint import DavEndpoint, Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TRANSFER_TIMEOUT = 1800.0


class TransferError(RuntimeError):
    """A transfer failed: the client exited non-zero or raised, or the server refused."""


E_contra = TypeVar("E_contra", contravariant=True)


class Client(Protocol[E_contra]):
    """A transfer driver for servers reached through an ``E_contra`` (an S3 Endpoint or a
    WebDAV DavEndpoint); ``name`` labels it in the results."""

    name: str

    def put(self, endpoint: E_contra, bucket: str, key: str, source: Path) -> float:
        """Upload ``source`` as ``bucket/key``; the wall time in seconds."""
        ...

    def get(self, endpoint: E_contra, bucket: str, key: str, dest: Path) -> float:
        """Download ``bucket/key`` into ``dest``; the wall time in seconds."""
        ...


def run_curl(
    program: str, arguments: list[str], timeout: float, error_body: Path | None = None
) -> float:
    """Run ``program -q --silent --show-error --fail-with-body *arguments``; its wall time in
    seconds, process start included.

    Raises TransferError when curl exits non-zero (with its stderr and the start of the
    error body: stdout, or ``error_body`` when the body went to that file) or does not
    finish within ``timeout`` seconds (it is then killed).
    """
    argv = [program, "-q", "--silent", "--show-error", "--fail-with-body", *arguments]
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TransferError(f"curl did not finish in {timeout:.0f} s") from exc
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        body = stdout
        if error_body is not None and error_body.exists() and error_body.stat().st_size < 65536:
            body = error_body.read_bytes()
        detail = (stderr + b" " + body).decode(errors="replace").strip()
        raise TransferError(f"curl exited {process.returncode}: {detail[:2000]}")
    return elapsed


class CurlClient:
    """curl with ``--aws-sigv4``: one single PUT of the whole file, one plain GET.

    curl 7.88 sends no ``x-amz-content-sha256`` of its own, so we send
    ``UNSIGNED-PAYLOAD`` (which curl then signs): the server can authenticate the
    request from its headers and stream the body instead of hashing it first.
    """

    name = "curl"

    def __init__(self, program: str = "curl", timeout: float = TRANSFER_TIMEOUT) -> None:
        self.program = program
        self.timeout = timeout

    def _run(self, endpoint: Endpoint, arguments: list[str], error_body: Path | None) -> float:
        signing = [
            "--aws-sigv4",
            f"aws:amz:{endpoint.region}:s3",
            "--user",
            f"{endpoint.access_key}:{endpoint.secret_key}",
            "--header",
            "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        ]
        return run_curl(self.program, [*signing, *arguments], self.timeout, error_body)

    def put(self, endpoint: Endpoint, bucket: str, key: str, source: Path) -> float:
        """``curl -T source URL``: one PUT with Content-Length, no multipart."""
        url = endpoint.object_url(bucket, key)
        return self._run(endpoint, ["--upload-file", str(source), url], None)

    def get(self, endpoint: Endpoint, bucket: str, key: str, dest: Path) -> float:
        """``curl -o dest URL``."""
        url = endpoint.object_url(bucket, key)
        return self._run(endpoint, ["--output", str(dest), url], dest)


class DavCurlClient:
    """curl against a WebDAV share: ``curl -u user:pass -T FILE URL`` (one PUT of the whole
    file) and ``curl -u user:pass -o FILE URL``. ``bucket/key`` is the path under the share.
    """

    name = "curl"

    def __init__(self, program: str = "curl", timeout: float = TRANSFER_TIMEOUT) -> None:
        self.program = program
        self.timeout = timeout

    def _run(self, endpoint: DavEndpoint, arguments: list[str], error_body: Path | None) -> float:
        credentials = ["--user", f"{endpoint.user}:{endpoint.password}"]
        return run_curl(self.program, [*credentials, *arguments], self.timeout, error_body)

    def put(self, endpoint: DavEndpoint, bucket: str, key: str, source: Path) -> float:
        """``curl -u user:pass -T source URL``."""
        url = endpoint.resource_url(f"{bucket}/{key}")
        return self._run(endpoint, ["--upload-file", str(source), url], None)

    def get(self, endpoint: DavEndpoint, bucket: str, key: str, dest: Path) -> float:
        """``curl -u user:pass -o dest URL``."""
        url = endpoint.resource_url(f"{bucket}/{key}")
        return self._run(endpoint, ["--output", str(dest), url], dest)


class Boto3Client:
    """boto3's ``upload_file`` / ``download_file`` with the default TransferConfig
    (multipart above 8 MiB in 8 MiB parts, 10 threads) and path-style addressing.

    One S3 client per endpoint is made before the first transfer, outside the timing.
    """

    name = "boto3"

    def __init__(self) -> None:
        self._clients: dict[Endpoint, S3Client] = {}
        self.config = TransferConfig()

    def _client(self, endpoint: Endpoint) -> S3Client:
        if endpoint not in self._clients:
            self._clients[endpoint] = endpoint.s3_client()
        return self._clients[endpoint]

    def put(self, endpoint: Endpoint, bucket: str, key: str, source: Path) -> float:
        """``upload_file``; multipart for anything above 8 MiB."""
        client = self._client(endpoint)
        started = time.perf_counter()
        try:
            client.upload_file(str(source), bucket, key, Config=self.config)
        except (Boto3Error, BotoCoreError, ClientError, OSError) as exc:
            raise TransferError(f"boto3 upload_file: {type(exc).__name__}: {exc}") from exc
        return time.perf_counter() - started

    def get(self, endpoint: Endpoint, bucket: str, key: str, dest: Path) -> float:
        """``download_file``: a HEAD, then parallel ranged GETs of 8 MiB."""
        client = self._client(endpoint)
        started = time.perf_counter()
        try:
            client.download_file(bucket, key, str(dest), Config=self.config)
        except (Boto3Error, BotoCoreError, ClientError, OSError) as exc:
            raise TransferError(f"boto3 download_file: {type(exc).__name__}: {exc}") from exc
        return time.perf_counter() - started


CLIENT_NAMES = ("curl", "boto3")


def make_clients() -> list[Client[Endpoint]]:
    """The S3 clients in the order the benchmark runs them."""
    return [CurlClient(), Boto3Client()]


def make_dav_clients() -> list[Client[DavEndpoint]]:
    """The WebDAV clients in the order the benchmark runs them."""
    return [DavCurlClient()]
