"""Helpers shared by the S3, storage-efficiency and CLI integration tests.

This module holds no tests (its name only keeps it among the files these tests own).
It offers raw SigV4-signed requests over httpx (for what boto3 cannot send), S3 error
document parsing, users made through ``gateway user add``, and measurements of what
the backend really stores.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import defusedxml.ElementTree as SafeTree
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.gateway_server import REGION, GatewayProcess, make_client

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class FixedPayloadAuth(S3SigV4Auth):
    """SigV4 for S3 that signs (and sends) a given ``x-amz-content-sha256`` value."""

    def __init__(self, credentials: Credentials, payload_hash: str) -> None:
        super().__init__(credentials, "s3", REGION)
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


def sign(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    payload_hash: str | None = None,
) -> dict[str, str]:
    """The headers of ``method url`` signed with SigV4 by botocore (Host not included)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    credentials = Credentials(access_key, secret_key)
    auth = (
        S3SigV4Auth(credentials, "s3", REGION)
        if payload_hash is None
        else FixedPayloadAuth(credentials, payload_hash)
    )
    auth.add_auth(request)
    return dict(request.headers.items())


def raw_request(
    gateway: GatewayProcess,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str | None = None,
    credentials: tuple[str, str] | None = None,
    payload_hash: str | None = None,
    signed: bool = True,
) -> httpx.Response:
    """Send a request to the gateway's S3 port, SigV4-signed unless ``signed`` is False.

    ``host`` replaces the Host header (signed as such) while the connection still goes
    to the gateway's loopback address: that is how virtual-hosted-style requests for
    ``bucket.localhost`` are sent without DNS.
    """
    base = urlsplit(gateway.s3_url)
    netloc = host or base.netloc
    suffix = path + (f"?{query}" if query else "")
    all_headers = dict(headers or {})
    if signed:
        access_key, secret_key = credentials or (gateway.access_key, gateway.secret_key)
        all_headers = sign(
            method,
            f"{base.scheme}://{netloc}{suffix}",
            access_key=access_key,
            secret_key=secret_key,
            headers=all_headers,
            body=body,
            payload_hash=payload_hash,
        )
    if host is not None:
        all_headers["Host"] = host
    return httpx.request(
        method,
        f"{gateway.s3_url}{suffix}",
        headers=all_headers,
        content=body,
        timeout=60,
        verify=gateway.ssl_context,
    )


def parse_xml(content: bytes) -> Any:
    """The root element of an XML document (parsed safely: the gateway is under test)."""
    return SafeTree.fromstring(content)


def s3_error(response: httpx.Response) -> dict[str, str]:
    """The fields of an S3 XML error document; checks the request id header matches."""
    assert response.headers.get("content-type", "").startswith("application/xml"), response.text
    root = parse_xml(response.content)
    assert root.tag == "Error", response.text
    fields = {child.tag: child.text or "" for child in root}
    for required in ("Code", "Message", "RequestId"):
        assert fields.get(required), f"{required} missing in {response.text}"
    assert response.headers["x-amz-request-id"] == fields["RequestId"]
    return fields


def assert_s3_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    """Assert ``response`` is the S3 error ``code`` with HTTP ``status``; return its fields."""
    assert response.status_code == status, (response.status_code, response.text)
    fields = s3_error(response)
    assert fields["Code"] == code, response.text
    return fields


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    """The S3 error code of a boto3 ClientError."""
    return str(excinfo.value.response["Error"]["Code"])


def http_status(excinfo: pytest.ExceptionInfo[ClientError]) -> int:
    """The HTTP status of a boto3 ClientError."""
    return int(excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"])


def expect_error(code: str, status: int, call: Any, *args: Any, **kwargs: Any) -> ClientError:
    """Call a boto3 operation expecting the S3 error ``code`` with HTTP ``status``."""
    with pytest.raises(ClientError) as excinfo:
        call(*args, **kwargs)
    assert (error_code(excinfo), http_status(excinfo)) == (code, status), excinfo.value.response
    return excinfo.value


def unique(prefix: str) -> str:
    """A name no other test uses (bucket names, user names)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def parse_fields(output: str) -> dict[str, str]:
    """``name   value`` lines (two or more spaces apart) of CLI output, as a dict."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        name, sep, value = line.strip().partition("  ")
        if sep and value.strip():
            fields[name.strip()] = value.strip()
    return fields


def add_user(gateway: GatewayProcess, prefix: str = "user") -> tuple[str, str, str]:
    """Create a user with ``gateway user add``; return (name, access key, secret key)."""
    name = unique(prefix)
    fields = parse_fields(gateway.cli("user", "add", name).stdout)
    return name, fields["access key"], fields["secret key"]


def user_client(gateway: GatewayProcess, access_key: str, secret_key: str, **config: Any) -> Any:
    """A boto3 client for the gateway with the given key pair."""
    return make_client(gateway.s3_url, access_key, secret_key, verify=gateway.verify, **config)


def stats(gateway: GatewayProcess) -> dict[str, float]:
    """The figures ``gateway stats`` prints, by label."""
    output = gateway.cli("stats").stdout
    return {name: float(value) for name, value in parse_fields(output).items()}


def local_blob_bytes(data_dir: Path) -> int:
    """The total size of the files of the local backend under ``<data_dir>/blobs``."""
    root = data_dir / "blobs"
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def backend_bytes(gateway: GatewayProcess) -> int:
    """What the gateway's backend holds, in bytes, measured in the backend itself."""
    url = gateway.env.get("GATEWAY_BACKEND_URL", "")
    if not url.startswith("s3://"):
        return local_blob_bytes(gateway.data_dir)
    parts = urlsplit(url)
    options = {name: values[0] for name, values in parse_qs(parts.query).items()}
    backend = boto3.client(
        "s3", endpoint_url=options["endpoint_url"], region_name=options.get("region", REGION)
    )
    prefix = parts.path.strip("/")
    total = 0
    for page in backend.get_paginator("list_objects_v2").paginate(
        Bucket=parts.netloc, Prefix=f"{prefix}/" if prefix else ""
    ):
        total += sum(obj["Size"] for obj in page.get("Contents", []))
    return total
