"""Browser form uploads (POST Object) over real sockets: boto3's generate_presigned_post,
then the form posted with httpx as a browser would, including a 50 MiB streamed upload."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.test_s3_helpers import assert_s3_error, parse_xml
from tests.support.gateway_server import GatewayProcess
from tests.support.memory import peak_rss

BOUNDARY = "----gatewayFormBoundary7MA4YWxkTrZu0gW"
BIG = 50 * 1024 * 1024


@pytest.fixture
def s3(gateway_sqlite_local: GatewayProcess) -> Any:
    """A client whose presigned POSTs are SigV4 (boto3 makes SigV2 ones by default)."""
    return gateway_sqlite_local.client(signature_version="s3v4")


def post_form(
    gateway: GatewayProcess,
    post: dict[str, Any],
    content: bytes,
    *,
    filename: str = "photo.jpg",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    fields = {**post["fields"], **(extra or {})}
    return httpx.post(
        post["url"],
        data=fields,
        files={"file": (filename, content, "application/octet-stream")},
        verify=gateway.ssl_context,
        timeout=120,
    )


def test_presigned_post_roundtrip(gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str) -> None:
    post = s3.generate_presigned_post(
        bkt,
        "uploads/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-color": "blue"},
        Conditions=[
            ["starts-with", "$key", "uploads/"],
            {"Content-Type": "text/plain"},
            {"x-amz-meta-color": "blue"},
        ],
    )
    response = post_form(gateway_sqlite_local, post, b"hello form", filename="note.txt")
    assert response.status_code == 204, response.text
    assert (
        response.headers["ETag"]
        == f'"{hashlib.md5(b"hello form", usedforsecurity=False).hexdigest()}"'
    )
    stored = s3.get_object(Bucket=bkt, Key="uploads/note.txt")
    assert stored["Body"].read() == b"hello form"
    assert stored["ContentType"] == "text/plain"
    assert stored["Metadata"] == {"color": "blue"}


def test_success_action_status_and_redirect(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    created = s3.generate_presigned_post(
        bkt, "k201", Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}],
    )  # fmt: skip
    response = post_form(gateway_sqlite_local, created, b"x")
    assert response.status_code == 201, response.text
    root = parse_xml(response.content)
    assert root.tag.endswith("PostResponse")
    assert {child.tag.split("}")[-1]: child.text for child in root}["Key"] == "k201"
    redirect = "https://app.example.com/done?from=form"
    redirected = s3.generate_presigned_post(
        bkt, "k303", Fields={"success_action_redirect": redirect},
        Conditions=[{"success_action_redirect": redirect}],
    )  # fmt: skip
    response = post_form(gateway_sqlite_local, redirected, b"y")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(redirect + "&bucket=" + bkt)
    assert "key=k303" in location


def test_public_read_acl_field(gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str) -> None:
    post = s3.generate_presigned_post(
        bkt, "pub", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}]
    )
    assert post_form(gateway_sqlite_local, post, b"open").status_code == 204
    anonymous = httpx.get(
        f"{gateway_sqlite_local.s3_url}/{bkt}/pub", verify=gateway_sqlite_local.ssl_context
    )
    assert anonymous.content == b"open"


def test_tampered_policy_is_refused(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    post = s3.generate_presigned_post(bkt, "k", Conditions=[["content-length-range", 0, 10]])
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "content-length-range" not in c]
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    response = post_form(gateway_sqlite_local, post, b"x" * 100, extra={"policy": forged})
    assert_s3_error(response, 403, "SignatureDoesNotMatch")
    bad_signature = post_form(gateway_sqlite_local, post, b"x", extra={"x-amz-signature": "0" * 64})
    assert_s3_error(bad_signature, 403, "SignatureDoesNotMatch")
    assert "Contents" not in s3.list_objects_v2(Bucket=bkt)


def test_expired_policy(gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str) -> None:
    post = s3.generate_presigned_post(bkt, "k", ExpiresIn=-10)
    fields = assert_s3_error(post_form(gateway_sqlite_local, post, b"x"), 403, "AccessDenied")
    assert fields["Message"] == "Invalid according to Policy: Policy expired."


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"key": "elsewhere/k"}, "Policy Condition failed"),
        ({"Content-Type": "image/png"}, "Policy Condition failed"),
        ({"x-amz-meta-extra": "1"}, "Extra input fields: x-amz-meta-extra"),
    ],
)
def test_condition_violations(
    gateway_sqlite_local: GatewayProcess,
    s3: Any,
    bkt: str,
    extra: dict[str, str],
    message: str,
) -> None:
    post = s3.generate_presigned_post(
        bkt,
        "in/k",
        Fields={"Content-Type": "text/plain"},
        Conditions=[["starts-with", "$key", "in/"], {"Content-Type": "text/plain"}],
    )
    response = post_form(gateway_sqlite_local, post, b"x", extra=extra)
    fields = assert_s3_error(response, 403, "AccessDenied")
    assert fields["Message"].startswith("Invalid according to Policy: ")
    assert message in fields["Message"]
    ignored = post_form(gateway_sqlite_local, post, b"x", extra={"x-ignore-me": "1"})
    assert ignored.status_code == 204


def test_content_length_range(gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str) -> None:
    post = s3.generate_presigned_post(
        bkt, "sized", Conditions=[["content-length-range", 5, 1024 * 1024]]
    )
    small = post_form(gateway_sqlite_local, post, b"1234")
    assert_s3_error(small, 400, "EntityTooSmall")
    large = post_form(gateway_sqlite_local, post, b"z" * (1024 * 1024 + 1))
    assert_s3_error(large, 400, "EntityTooLarge")
    assert "Contents" not in s3.list_objects_v2(Bucket=bkt)
    assert post_form(gateway_sqlite_local, post, b"12345").status_code == 204


def test_malformed_forms(gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str) -> None:
    url = f"{gateway_sqlite_local.s3_url}/{bkt}"
    context = gateway_sqlite_local.ssl_context
    sigv2 = gateway_sqlite_local.client().generate_presigned_post(bkt, "k")
    assert_s3_error(post_form(gateway_sqlite_local, sigv2, b"x"), 400, "InvalidRequest")
    no_policy = httpx.post(url, data={"key": "k"}, files={"file": ("f", b"x")}, verify=context)
    assert_s3_error(no_policy, 403, "AccessDenied")
    post = s3.generate_presigned_post(bkt, "k")
    no_key = {k: v for k, v in post["fields"].items() if k != "key"}
    missing_key = httpx.post(url, data=no_key, files={"file": ("f", b"x")}, verify=context)
    assert_s3_error(missing_key, 400, "InvalidArgument")
    no_file = httpx.post(
        url,
        content=f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n'
        f"--{BOUNDARY}--\r\n".encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        verify=context,
    )
    assert_s3_error(no_file, 400, "MalformedPOSTRequest")
    garbage = httpx.post(
        url,
        content=b"this is not multipart",
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        verify=context,
    )
    assert_s3_error(garbage, 400, "MalformedPOSTRequest")


def _streamed_form(fields: dict[str, str], size: int) -> tuple[Iterator[bytes], int]:
    head = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    block = hashlib.sha256(b"seed").digest() * 2048

    def body() -> Iterator[bytes]:
        yield head
        for offset in range(0, size, len(block)):
            yield block[: min(len(block), size - offset)]
        yield tail

    return body(), len(head) + size + len(tail)


def test_large_upload_streams_with_bounded_memory(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    post = s3.generate_presigned_post(bkt, "big", Conditions=[["content-length-range", 0, BIG]])
    assert post_form(gateway_sqlite_local, post, b"warm-up").status_code == 204
    body, length = _streamed_form(post["fields"], BIG)
    with peak_rss(gateway_sqlite_local.process.pid) as memory:
        response = httpx.post(
            post["url"],
            content=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(length),
            },
            verify=gateway_sqlite_local.ssl_context,
            timeout=300,
        )
    assert response.status_code == 204, response.text
    head = s3.head_object(Bucket=bkt, Key="big")
    assert head["ContentLength"] == BIG
    # The writer's chunk buffers and pools account for a few tens of MiB; a buffered
    # upload would add at least the whole 50 MiB.
    assert memory.growth < 40 * 1024 * 1024, memory.growth / 2**20
