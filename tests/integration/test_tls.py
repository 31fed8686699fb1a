"""TLS: both listeners over HTTPS with a self-signed pair for localhost.

Real clients (boto3, the aws CLI, httpx for WebDAV) trust the pair's certificate and
nothing else; plain HTTP and old protocol versions are turned away on the TLS ports; a
pair that cannot be served stops ``gateway serve`` before it touches anything; and
``gateway tls self-signed`` writes a pair the gateway then serves.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import SSLError
from cryptography import x509

from gateway.tls import CertificatePair, write_self_signed
from tests.integration.test_s3_helpers import unique
from tests.support.clients import (
    AWS,
    MIB,
    SMALL_TIMEOUT,
    aws_env,
    file_digest,
    run,
    write_random_file,
)
from tests.support.gateway_server import GatewayProcess, empty_bucket, make_client
from tests.support.net import free_port


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@pytest.fixture
def tls_bucket(gateway_tls: GatewayProcess) -> Iterator[str]:
    """A fresh bucket on the TLS gateway, emptied and deleted afterwards."""
    client = gateway_tls.client()
    name = unique("tls")
    client.create_bucket(Bucket=name)
    yield name
    empty_bucket(client, name)


# --- clients over HTTPS ----------------------------------------------------------------------


def test_boto3_put_get_and_multipart_over_https(
    gateway_tls: GatewayProcess, tls_bucket: str, tmp_path: Path
) -> None:
    client = gateway_tls.client()
    payload_hashes: list[bytes] = []
    client.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: payload_hashes.append(request.headers.get("x-amz-content-sha256")),
    )
    body = os.urandom(3 * MIB + 17)
    client.put_object(Bucket=tls_bucket, Key="one", Body=body)
    assert client.get_object(Bucket=tls_bucket, Key="one")["Body"].read() == body
    # Over HTTPS boto3 streams aws-chunked bodies with a trailing CRC32 checksum.
    assert payload_hashes == [b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"]

    source, copy = tmp_path / "source.bin", tmp_path / "copy.bin"
    write_random_file(source, 11 * MIB)
    parts = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    client.upload_file(str(source), tls_bucket, "multi", Config=parts)
    assert client.head_object(Bucket=tls_bucket, Key="multi")["ETag"].endswith('-3"')
    client.download_file(tls_bucket, "multi", str(copy), Config=parts)
    assert file_digest(copy) == file_digest(source)


def test_clients_refuse_the_certificate_unless_told_to_trust_it(
    gateway_tls: GatewayProcess,
) -> None:
    untrusting = make_client(gateway_tls.s3_url, gateway_tls.access_key, gateway_tls.secret_key)
    with pytest.raises(SSLError):
        untrusting.list_buckets()
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{gateway_tls.http_url}/healthz")


@pytest.mark.clients
def test_aws_cli_cp_with_ca_bundle(
    gateway_tls: GatewayProcess, tls_bucket: str, tmp_path: Path
) -> None:
    env = aws_env(gateway_tls, tmp_path)
    source, copy = tmp_path / "up.bin", tmp_path / "down.bin"
    write_random_file(source, 9 * MIB)  # above the CLI's 8 MiB multipart threshold
    target = f"s3://{tls_bucket}/via cli.bin"
    aws = [AWS, "--endpoint-url", gateway_tls.s3_url, "--ca-bundle", str(gateway_tls.ca_file)]
    options = {"env": env, "timeout": SMALL_TIMEOUT, "gateway": gateway_tls}
    run([*aws, "s3", "cp", "--no-progress", source, target], **options)
    run([*aws, "s3", "cp", "--no-progress", target, copy], **options)
    assert file_digest(copy) == file_digest(source)

    untrusting = [AWS, "--endpoint-url", gateway_tls.s3_url, "s3", "ls", f"s3://{tls_bucket}"]
    refused = run(untrusting, **options, check=False)
    assert refused.returncode != 0
    assert "SSL validation failed" in refused.stderr, refused.stderr


def test_webdav_and_health_over_https(gateway_tls: GatewayProcess) -> None:
    bucket = unique("davtls")
    with httpx.Client(
        base_url=gateway_tls.http_url,
        auth=("admin", gateway_tls.env["GATEWAY_ADMIN_PASSWORD"]),
        verify=gateway_tls.ssl_context,
        timeout=SMALL_TIMEOUT,
    ) as dav:
        assert dav.get("/healthz").status_code == 200
        assert dav.request("MKCOL", f"/dav/{bucket}").status_code == 201
        assert dav.put(f"/dav/{bucket}/plain.txt", content=b"over tls").status_code == 201
        chunks = (os.urandom(64 * 1024) for _ in range(40))
        assert dav.put(f"/dav/{bucket}/chunked.bin", content=chunks).status_code == 201
        assert dav.get(f"/dav/{bucket}/plain.txt").content == b"over tls"
        listing = dav.request("PROPFIND", f"/dav/{bucket}", headers={"Depth": "1"})
        assert listing.status_code == 207
        assert b"plain.txt" in listing.content and b"chunked.bin" in listing.content
    client = gateway_tls.client()
    assert client.head_object(Bucket=bucket, Key="chunked.bin")["ContentLength"] == 40 * 65536
    empty_bucket(client, bucket)


# --- what the TLS ports turn away ------------------------------------------------------------


def test_plain_http_on_the_tls_ports_is_refused(gateway_tls: GatewayProcess) -> None:
    for url in (gateway_tls.s3_url, gateway_tls.http_url):
        plain = url.replace("https://", "http://", 1)
        # cheroot writes its "speaks HTTPS on this port" answer to a socket the ssl module
        # has already taken over, so the client only sees the connection end.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{plain}/healthz", timeout=30)
    assert "attempted to speak plain HTTP" in gateway_tls.log()
    assert httpx.get(f"{gateway_tls.http_url}/healthz", verify=gateway_tls.ssl_context).is_success


def test_only_tls_1_2_and_later_are_spoken(
    gateway_tls: GatewayProcess, tls_pair: CertificatePair
) -> None:
    def handshake(context: ssl.SSLContext) -> str | None:
        raw = socket.create_connection(_address(gateway_tls.s3_url), timeout=30)
        with raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version()

    modern = ssl.create_default_context(cafile=tls_pair.cert)
    assert handshake(modern) == "TLSv1.3"
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(modern) == "TLSv1.2"
    old = ssl.create_default_context(cafile=tls_pair.cert)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError):
        handshake(old)


@pytest.mark.schemes("http", "https")
def test_an_unread_chunked_body_leaves_the_connection_usable(s3_gateway: GatewayProcess) -> None:
    """An early error answer to a chunked upload (boto3 sends them chunked over HTTPS).

    The rest of the body must not be read as the next request on the kept-alive connection.
    http.client (unlike httpx and urllib3) sends the next request on the same connection
    without first checking whether the server wrote anything unasked.
    """
    host, port = _address(s3_gateway.s3_url)
    connection = (
        http.client.HTTPSConnection(host, port, timeout=60, context=s3_gateway.ssl_context)
        if s3_gateway.s3_url.startswith("https://")
        else http.client.HTTPConnection(host, port, timeout=60)
    )
    with closing(connection):
        body = (bytes([65 + n]) * 1000 for n in range(20))
        connection.request("PUT", f"/{unique('none')}/key", body=body, encode_chunked=True)
        rejected = connection.getresponse()
        assert rejected.status == 403
        rejected.read()
        assert not rejected.will_close
        connection.request("GET", "/")
        following = connection.getresponse()
        answer = following.read()
        assert following.status == 403, answer
        assert b"<Code>AccessDenied</Code>" in answer


# --- start-up and the CLI --------------------------------------------------------------------


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``gateway serve`` on free ports with its data under ``tmp_path``; waits for its exit."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environ.update(
        GATEWAY_DATA_DIR=str(tmp_path / "data"),
        GATEWAY_S3_LISTEN=f"127.0.0.1:{free_port()}",
        GATEWAY_HTTP_LISTEN=f"127.0.0.1:{free_port()}",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "gateway", "serve", *args],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _not_pem(tmp_path: Path, pair: CertificatePair) -> dict[str, str]:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    return {"GATEWAY_TLS_CERT": str(garbage), "GATEWAY_TLS_KEY": str(pair.key)}


def _other_key(tmp_path: Path, pair: CertificatePair) -> dict[str, str]:
    other = write_self_signed(tmp_path / "other")
    return {"GATEWAY_TLS_CERT": str(pair.cert), "GATEWAY_TLS_KEY": str(other.key)}


BAD_PAIRS: dict[str, tuple[Callable[[Path, CertificatePair], dict[str, str]], str]] = {
    "certificate only": (
        lambda _tmp, pair: {"GATEWAY_TLS_CERT": str(pair.cert)},
        "TLS needs both a certificate and its key",
    ),
    "key only": (
        lambda _tmp, pair: {"GATEWAY_TLS_KEY": str(pair.key)},
        "TLS needs both a certificate and its key",
    ),
    "missing key file": (
        lambda tmp, pair: {"GATEWAY_TLS_CERT": str(pair.cert), "GATEWAY_TLS_KEY": str(tmp / "no")},
        "cannot read TLS key",
    ),
    "key of another certificate": (_other_key, "does not match the certificate"),
    "certificate not PEM": (_not_pem, "is not a PEM certificate"),
}


@pytest.mark.parametrize("case", BAD_PAIRS)
def test_an_unusable_pair_stops_the_start(
    tmp_path: Path, tls_pair: CertificatePair, case: str
) -> None:
    make_env, message = BAD_PAIRS[case]
    result = _serve(tmp_path, **make_env(tmp_path, tls_pair))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("gateway: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "Storage gateway is running" not in result.stdout
    assert not (tmp_path / "data").exists(), "nothing may be created before the pair is checked"


def test_flags_name_the_pair_too(tmp_path: Path, tls_pair: CertificatePair) -> None:
    other = write_self_signed(tmp_path / "other")
    result = _serve(tmp_path, "--tls-cert", str(tls_pair.cert), "--tls-key", str(other.key))
    assert result.returncode == 2
    assert f"TLS key {other.key} does not match the certificate {tls_pair.cert}" in result.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_self_signed_command_writes_a_pair_the_gateway_serves(
    tmp_path: Path, start_gateway: Callable[..., GatewayProcess]
) -> None:
    directory = tmp_path / "tls"
    made = _cli("tls", "self-signed", "--dir", str(directory), "--days", "30")
    assert made.returncode == 0, made.stderr
    pair = CertificatePair(directory / "cert.pem", directory / "key.pem")
    assert str(pair.cert) in made.stdout and str(pair.key) in made.stdout
    assert pair.key.stat().st_mode & 0o777 == 0o600
    certificate = _certificate(pair.cert)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=30) <= lifetime <= timedelta(days=30, hours=1)

    key_before = pair.key.read_bytes()
    again = _cli("tls", "self-signed", "--dir", str(directory))
    assert again.returncode == 2 and "--force" in again.stderr, again.stderr
    assert pair.key.read_bytes() == key_before
    forced = _cli("tls", "self-signed", "--dir", str(directory), "--force")
    assert forced.returncode == 0, forced.stderr
    assert pair.key.read_bytes() != key_before
    assert pair.key.stat().st_mode & 0o777 == 0o600

    served = start_gateway(tls=pair)
    assert served.s3_url.startswith("https://") and served.http_url.startswith("https://")
    banner = served.log()
    assert f"S3 API        {served.s3_url}" in banner
    assert f"WebDAV        {served.http_url}/dav/" in banner
    assert f"native API    {served.http_url}/v1/" in banner
    assert f"TLS           certificate {pair.cert}" in banner
    assert f"--ca-bundle {pair.cert}" in banner
    client = served.client()
    client.create_bucket(Bucket="served")
    client.put_object(Bucket="served", Key="k", Body=b"with the CLI's pair")
    assert client.get_object(Bucket="served", Key="k")["Body"].read() == b"with the CLI's pair"
