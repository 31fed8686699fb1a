"""Pytest plugin: a moto S3 server in a subprocess, shared by the whole session.

Fixtures:

``moto_endpoint`` (session)
    ``http://127.0.0.1:PORT`` of a running ``moto.server``. While it is in
    use, fake AWS credentials and region are set in ``os.environ`` unless the
    environment already has them.
``s3_backend_url`` (function)
    An ``s3://`` blob store URL (see ``adapters.blob.open_blob_store``) for a
    freshly created, uniquely named bucket on that server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import boto3
import pytest

from tests.support.net import free_port, wait_for_http

_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``moto.server`` on a free loopback port; yield its base URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # A file rather than a pipe: nobody drains a pipe during the session, and
    # a full one would block the server.
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    added = {name: value for name, value in _FAKE_ENV.items() if name not in os.environ}
    os.environ.update(added)
    try:
        try:
            wait_for_http(f"{endpoint}/moto-api/", timeout=30.0)
        except TimeoutError as exc:
            log_text = log_path.read_text(errors="replace")
            raise RuntimeError(f"moto server did not start; its log:\n{log_text}") from exc
        yield endpoint
    finally:
        for name in added:
            os.environ.pop(name, None)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_backend_url(moto_endpoint: str) -> str:
    """Create an empty bucket with a unique name; return its blob store URL (prefix ``blobs``)."""
    bucket = f"test-{uuid.uuid4().hex}"
    client = boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1"
    )
    try:
        client.create_bucket(Bucket=bucket)
    finally:
        client.close()
    return f"s3://{bucket}/blobs?endpoint_url={moto_endpoint}&region=us-east-1"
