"""Authentication and hostile input against the real gateway."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
import httpx
import pytest

from tests.integration.test_s3_helpers import (
    add_user,
    assert_s3_error,
    expect_error,
    parse_fields,
    raw_request,
    s3_error,
    sign,
    unique,
    user_client,
)
from tests.support.gateway_server import GatewayProcess, empty_bucket, random_key_id

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@pytest.fixture
def bkt(s3: Any) -> Iterator[str]:
    name = unique("auth")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="existing", Body=b"existing body")
    yield name
    empty_bucket(s3, name)


def _object_body(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


# --- credentials ---------------------------------------------------------------------------


def test_wrong_secret_is_signature_does_not_match(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    wrong = user_client(gateway_sqlite_local, gateway_sqlite_local.access_key, "not-the-secret")
    expect_error("SignatureDoesNotMatch", 403, wrong.list_buckets)
    expect_error("SignatureDoesNotMatch", 403, wrong.get_object, Bucket=bkt, Key="existing")
    expect_error("SignatureDoesNotMatch", 403, wrong.put_object, Bucket=bkt, Key="new", Body=b"x")
    expect_error(
        "SignatureDoesNotMatch", 403, wrong.put_object, Bucket=bkt, Key="existing", Body=b"x"
    )
    assert _object_body(s3, bkt, "new") is None
    assert _object_body(s3, bkt, "existing") == b"existing body"


def test_unknown_access_key_is_invalid_access_key_id(
    gateway_sqlite_local: GatewayProcess, bkt: str
) -> None:
    unknown = user_client(gateway_sqlite_local, random_key_id(), "whatever-secret")
    error = expect_error("InvalidAccessKeyId", 403, unknown.list_buckets)
    assert "Access Key Id" in error.response["Error"]["Message"]
    expect_error("InvalidAccessKeyId", 403, unknown.get_object, Bucket=bkt, Key="existing")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/{bucket}"), ("GET", "/{bucket}/existing"), ("HEAD", "/{bucket}")],
)
def test_anonymous_request_is_access_denied(
    gateway_sqlite_local: GatewayProcess, bkt: str, method: str, path: str
) -> None:
    response = raw_request(gateway_sqlite_local, method, path.format(bucket=bkt), signed=False)
    assert response.status_code == 403
    if method != "HEAD":
        assert_s3_error(response, 403, "AccessDenied")
        assert b"existing body" not in response.content


def test_anonymous_writes_are_denied(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    put = raw_request(gateway_sqlite_local, "PUT", f"/{bkt}/anon", body=b"x", signed=False)
    assert_s3_error(put, 403, "AccessDenied")
    delete = raw_request(gateway_sqlite_local, "DELETE", f"/{bkt}/existing", signed=False)
    assert_s3_error(delete, 403, "AccessDenied")
    bucket = raw_request(gateway_sqlite_local, "PUT", f"/{unique('anon')}", signed=False)
    assert_s3_error(bucket, 403, "AccessDenied")
    assert _object_body(s3, bkt, "anon") is None
    assert _object_body(s3, bkt, "existing") == b"existing body"


def test_revoked_key_stops_working(gateway_sqlite_local: GatewayProcess) -> None:
    name, access_key, secret_key = add_user(gateway_sqlite_local, "revokee")
    client = user_client(gateway_sqlite_local, access_key, secret_key)
    assert client.list_buckets()["Buckets"] == []
    bucket = unique("revokee")
    client.create_bucket(Bucket=bucket)
    try:
        revoked = gateway_sqlite_local.cli("key", "revoke", access_key)
        assert access_key in revoked.stdout
        expect_error("InvalidAccessKeyId", 403, client.list_buckets)
        expect_error("InvalidAccessKeyId", 403, client.list_objects_v2, Bucket=bucket)
        listing = gateway_sqlite_local.cli("key", "list", name).stdout
        assert access_key in listing
        assert "revoked" in listing
    finally:
        # The user's bucket, through a fresh key of the same user.
        fields = parse_fields(gateway_sqlite_local.cli("key", "create", name).stdout)
        fresh = user_client(gateway_sqlite_local, fields["access key"], fields["secret key"])
        fresh.delete_bucket(Bucket=bucket)


# --- signature details -----------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the signer's clock off by a given delta."""
    real = botocore.auth.get_current_datetime

    def shift(delta: timedelta) -> None:
        monkeypatch.setattr(
            botocore.auth, "get_current_datetime", lambda *a, **k: real(*a, **k) + delta
        )

    return shift


@pytest.mark.parametrize("minutes", [-20, 20])
def test_request_time_too_skewed(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str, clock: Any, minutes: int
) -> None:
    clock(timedelta(minutes=minutes))
    response = raw_request(gateway_sqlite_local, "GET", f"/{bkt}/existing")
    fields = assert_s3_error(response, 403, "RequestTimeTooSkewed")
    assert fields.get("MaxAllowedSkewMilliseconds") == "900000"
    put = raw_request(gateway_sqlite_local, "PUT", f"/{bkt}/skewed", body=b"x")
    assert_s3_error(put, 403, "RequestTimeTooSkewed")
    assert _object_body(s3, bkt, "skewed") is None


@pytest.mark.parametrize("minutes", [-10, 10])
def test_moderate_clock_skew_is_tolerated(
    gateway_sqlite_local: GatewayProcess, bkt: str, clock: Any, minutes: int
) -> None:
    clock(timedelta(minutes=minutes))
    response = raw_request(gateway_sqlite_local, "GET", f"/{bkt}/existing")
    assert response.status_code == 200
    assert response.content == b"existing body"


@pytest.mark.parametrize("size", [100, 3 * 1024 * 1024])
def test_payload_hash_mismatch_creates_nothing(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str, size: int
) -> None:
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    claimed = hashlib.sha256(body + b"!").hexdigest()
    for key in ("fresh", "existing"):
        response = raw_request(
            gateway_sqlite_local, "PUT", f"/{bkt}/{key}", body=body, payload_hash=claimed
        )
        assert_s3_error(response, 400, "XAmzContentSHA256Mismatch")
    assert _object_body(s3, bkt, "fresh") is None
    assert _object_body(s3, bkt, "existing") == b"existing body"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bkt)["Contents"]] == ["existing"]


def test_payload_hash_mismatch_on_upload_part(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="mp")["UploadId"]
    response = raw_request(
        gateway_sqlite_local,
        "PUT",
        f"/{bkt}/mp",
        query=f"partNumber=1&uploadId={upload_id}",
        body=b"part body",
        payload_hash=EMPTY_SHA256,
    )
    assert_s3_error(response, 400, "XAmzContentSHA256Mismatch")
    assert s3.list_parts(Bucket=bkt, Key="mp", UploadId=upload_id).get("Parts", []) == []


def test_unsigned_payload_is_accepted(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    response = raw_request(
        gateway_sqlite_local,
        "PUT",
        f"/{bkt}/unsigned",
        body=b"body",
        payload_hash="UNSIGNED-PAYLOAD",
    )
    assert response.status_code == 200, response.text
    assert _object_body(s3, bkt, "unsigned") == b"body"


def test_body_changed_after_signing_is_rejected(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    url = f"{gateway_sqlite_local.s3_url}/{bkt}/swapped"
    headers = sign(
        "PUT",
        url,
        access_key=gateway_sqlite_local.access_key,
        secret_key=gateway_sqlite_local.secret_key,
        body=b"signed body",
    )
    response = httpx.put(url, headers=headers, content=b"other body!")
    assert_s3_error(response, 400, "XAmzContentSHA256Mismatch")
    assert _object_body(s3, bkt, "swapped") is None


def test_signed_header_changed_after_signing(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    url = f"{gateway_sqlite_local.s3_url}/{bkt}/typed"
    headers = sign(
        "PUT",
        url,
        access_key=gateway_sqlite_local.access_key,
        secret_key=gateway_sqlite_local.secret_key,
        headers={"Content-Type": "text/plain", "x-amz-meta-owner": "alice"},
        body=b"b",
    )
    for name, value in (("Content-Type", "text/html"), ("x-amz-meta-owner", "mallory")):
        response = httpx.put(url, headers={**headers, name: value}, content=b"b")
        assert_s3_error(response, 403, "SignatureDoesNotMatch")
    assert _object_body(s3, bkt, "typed") is None


def test_unsigned_amz_header_is_denied(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    url = f"{gateway_sqlite_local.s3_url}/{bkt}/meta"
    headers = sign(
        "PUT",
        url,
        access_key=gateway_sqlite_local.access_key,
        secret_key=gateway_sqlite_local.secret_key,
        body=b"b",
    )
    response = httpx.put(url, headers={**headers, "x-amz-meta-sneaky": "1"}, content=b"b")
    assert_s3_error(response, 403, "AccessDenied")
    assert _object_body(s3, bkt, "meta") is None


def test_request_signed_for_another_path_is_rejected(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    base = gateway_sqlite_local.s3_url
    headers = sign(
        "GET",
        f"{base}/{bkt}/existing",
        access_key=gateway_sqlite_local.access_key,
        secret_key=gateway_sqlite_local.secret_key,
    )
    s3.put_object(Bucket=bkt, Key="other", Body=b"other")
    response = httpx.get(f"{base}/{bkt}/other", headers=headers)
    assert_s3_error(response, 403, "SignatureDoesNotMatch")
    response = httpx.delete(f"{base}/{bkt}/existing", headers=headers)
    assert_s3_error(response, 403, "SignatureDoesNotMatch")
    assert _object_body(s3, bkt, "existing") == b"existing body"


def _now_amz() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


MALFORMED_AUTHORIZATION = {
    "no-fields": ("AWS4-HMAC-SHA256", "AuthorizationHeaderMalformed"),
    "garbage": ("AWS4-HMAC-SHA256 garbage", "AuthorizationHeaderMalformed"),
    "credential-only": (
        "AWS4-HMAC-SHA256 Credential={key}/{date}/us-east-1/s3/aws4_request",
        "AuthorizationHeaderMalformed",
    ),
    "short-credential": (
        "AWS4-HMAC-SHA256 Credential={key}, SignedHeaders=host, Signature={sig}",
        "AuthorizationHeaderMalformed",
    ),
    "bad-date": (
        "AWS4-HMAC-SHA256 Credential={key}/2024/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature={sig}",
        "AuthorizationHeaderMalformed",
    ),
    "other-date": (
        "AWS4-HMAC-SHA256 Credential={key}/20000101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}",
        "AuthorizationHeaderMalformed",
    ),
    "wrong-service": (
        "AWS4-HMAC-SHA256 Credential={key}/{date}/us-east-1/ec2/aws4_request, "
        "SignedHeaders=host, Signature={sig}",
        "AuthorizationHeaderMalformed",
    ),
    "host-not-signed": (
        "AWS4-HMAC-SHA256 Credential={key}/{date}/us-east-1/s3/aws4_request, "
        "SignedHeaders=x-amz-date, Signature={sig}",
        "AuthorizationHeaderMalformed",
    ),
    "short-signature": (
        "AWS4-HMAC-SHA256 Credential={key}/{date}/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=abc",
        "AuthorizationHeaderMalformed",
    ),
    "repeated-field": (
        "AWS4-HMAC-SHA256 Credential={key}/{date}/us-east-1/s3/aws4_request, "
        "Credential={key}/{date}/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={sig}",
        "AuthorizationHeaderMalformed",
    ),
    "empty": ("", "InvalidRequest"),
    "bearer": ("Bearer abc.def.ghi", "InvalidRequest"),
    "sigv2": ("AWS {key}:c2lnbmF0dXJl", "InvalidRequest"),
    "huge": ("AWS4-HMAC-SHA256 Credential=" + "A" * 6000, "AuthorizationHeaderMalformed"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_AUTHORIZATION))
def test_malformed_authorization_header(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str, case: str
) -> None:
    template, code = MALFORMED_AUTHORIZATION[case]
    amz_date = _now_amz()
    value = template.format(key=gateway_sqlite_local.access_key, date=amz_date[:8], sig="0" * 64)
    headers = {
        "Authorization": value,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": EMPTY_SHA256,
    }
    response = httpx.put(f"{gateway_sqlite_local.s3_url}/{bkt}/forged", headers=headers)
    assert_s3_error(response, 400, code)
    assert _object_body(s3, bkt, "forged") is None


def test_non_ascii_authorization_header_is_a_client_error(
    gateway_sqlite_local: GatewayProcess, bkt: str
) -> None:
    headers = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=\u00e9\u00e8/x".encode("latin-1"),
        "x-amz-date": _now_amz(),
        "x-amz-content-sha256": EMPTY_SHA256,
    }
    response = httpx.get(f"{gateway_sqlite_local.s3_url}/{bkt}/existing", headers=headers)
    assert 400 <= response.status_code < 500
    assert s3_error(response)["Code"]


def test_missing_content_sha256_header(gateway_sqlite_local: GatewayProcess, bkt: str) -> None:
    url = f"{gateway_sqlite_local.s3_url}/{bkt}/existing"
    headers = sign(
        "GET",
        url,
        access_key=gateway_sqlite_local.access_key,
        secret_key=gateway_sqlite_local.secret_key,
    )
    headers = {k: v for k, v in headers.items() if k.lower() != "x-amz-content-sha256"}
    response = httpx.get(url, headers=headers)
    assert 400 <= response.status_code < 500
    assert s3_error(response)["Code"] in ("InvalidRequest", "SignatureDoesNotMatch")


def test_header_and_query_authentication_together(
    gateway_sqlite_local: GatewayProcess, bkt: str
) -> None:
    presigner = gateway_sqlite_local.client(signature_version="s3v4")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bkt, "Key": "existing"}, ExpiresIn=60
    )
    headers = sign(
        "GET",
        url,
        access_key=gateway_sqlite_local.access_key,
        secret_key=gateway_sqlite_local.secret_key,
    )
    response = httpx.get(url, headers=headers)
    assert_s3_error(response, 400, "InvalidArgument")


def test_presigned_url_validity_limit(gateway_sqlite_local: GatewayProcess, bkt: str) -> None:
    presigner = gateway_sqlite_local.client(signature_version="s3v4")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bkt, "Key": "existing"}, ExpiresIn=604801
    )
    assert_s3_error(httpx.get(url), 400, "AuthorizationQueryParametersError")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bkt, "Key": "existing"}, ExpiresIn=604800
    )
    assert httpx.get(url).content == b"existing body"


def test_incomplete_presigned_query_is_rejected(
    gateway_sqlite_local: GatewayProcess, bkt: str
) -> None:
    url = f"{gateway_sqlite_local.s3_url}/{bkt}/existing?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    assert_s3_error(httpx.get(url), 400, "AuthorizationQueryParametersError")


def test_secrets_never_reach_the_log(gateway_sqlite_local: GatewayProcess, bkt: str) -> None:
    presigner = gateway_sqlite_local.client(signature_version="s3v4")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bkt, "Key": "existing"}, ExpiresIn=60
    )
    assert httpx.get(url).status_code == 200
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    deadline = time.monotonic() + 5
    while bkt not in gateway_sqlite_local.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = gateway_sqlite_local.log()
    assert f"/{bkt}/existing" in log  # the access log did record the request
    assert signature not in log
    assert gateway_sqlite_local.secret_key not in log


# --- hostile XML -----------------------------------------------------------------------------

GARBAGE_BODIES = {
    "not-xml": b"this is not xml at all",
    "truncated": b"<Delete><Object><Key>a</Key></Obj",
    "binary": bytes(range(256)),
    "empty": b"",
}

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<{root}><Object><Key>&lol9;</Key></Object><Part><PartNumber>1</PartNumber><ETag>&lol9;</ETag></Part></{root}>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<{root}><Object><Key>&xxe;</Key></Object><Part><PartNumber>1</PartNumber><ETag>&xxe;</ETag></Part></{root}>
"""


@pytest.fixture
def xml_targets(s3: Any, bkt: str) -> dict[str, tuple[str, str, str]]:
    """Where XML bodies go: name -> (path, query, root element)."""
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="mp")["UploadId"]
    return {
        "DeleteObjects": (f"/{bkt}", "delete", "Delete"),
        "CompleteMultipartUpload": (
            f"/{bkt}/mp",
            f"uploadId={upload_id}",
            "CompleteMultipartUpload",
        ),
    }


@pytest.mark.parametrize("target", ["DeleteObjects", "CompleteMultipartUpload"])
@pytest.mark.parametrize("garbage", sorted(GARBAGE_BODIES))
def test_garbage_xml_is_malformed_xml(
    gateway_sqlite_local: GatewayProcess,
    s3: Any,
    bkt: str,
    xml_targets: dict[str, tuple[str, str, str]],
    target: str,
    garbage: str,
) -> None:
    path, query, _ = xml_targets[target]
    response = raw_request(
        gateway_sqlite_local, "POST", path, query=query, body=GARBAGE_BODIES[garbage]
    )
    assert_s3_error(response, 400, "MalformedXML")
    assert _object_body(s3, bkt, "existing") == b"existing body"
    assert _object_body(s3, bkt, "mp") is None


@pytest.mark.parametrize("target", ["DeleteObjects", "CompleteMultipartUpload"])
def test_wrong_root_element_is_malformed_xml(
    gateway_sqlite_local: GatewayProcess,
    bkt: str,
    xml_targets: dict[str, tuple[str, str, str]],
    target: str,
) -> None:
    path, query, _ = xml_targets[target]
    body = b"<Something><Object><Key>existing</Key></Object></Something>"
    response = raw_request(gateway_sqlite_local, "POST", path, query=query, body=body)
    assert_s3_error(response, 400, "MalformedXML")


def test_complete_part_without_number_is_malformed_xml(
    gateway_sqlite_local: GatewayProcess, xml_targets: dict[str, tuple[str, str, str]]
) -> None:
    path, query, _ = xml_targets["CompleteMultipartUpload"]
    for part in (b"<ETag>x</ETag>", b"<PartNumber>one</PartNumber><ETag>x</ETag>"):
        body = b"<CompleteMultipartUpload><Part>" + part + b"</Part></CompleteMultipartUpload>"
        response = raw_request(gateway_sqlite_local, "POST", path, query=query, body=body)
        assert_s3_error(response, 400, "MalformedXML")


@pytest.mark.parametrize("target", ["DeleteObjects", "CompleteMultipartUpload", "CreateBucket"])
@pytest.mark.parametrize("attack", ["billion-laughs", "external-entity"])
def test_xml_attacks_are_refused_and_gateway_stays_responsive(
    gateway_sqlite_local: GatewayProcess,
    s3: Any,
    bkt: str,
    xml_targets: dict[str, tuple[str, str, str]],
    target: str,
    attack: str,
) -> None:
    if target == "CreateBucket":
        path, query, root = f"/{unique('bomb')}", "", "CreateBucketConfiguration"
    else:
        path, query, root = xml_targets[target]
    template = BILLION_LAUGHS if attack == "billion-laughs" else EXTERNAL_ENTITY
    started = time.monotonic()
    method = "PUT" if target == "CreateBucket" else "POST"
    response = raw_request(
        gateway_sqlite_local,
        method,
        path,
        query=query,
        body=template.replace(b"{root}", root.encode()),
    )
    assert response.status_code == 400, response.text
    assert s3_error(response)["Code"] == "MalformedXML"
    assert b"root:" not in response.content
    assert time.monotonic() - started < 10
    started = time.monotonic()
    assert _object_body(s3, bkt, "existing") == b"existing body"
    assert httpx.get(f"{gateway_sqlite_local.http_url}/healthz").json()["status"] == "ok"
    assert time.monotonic() - started < 5
    if target == "CreateBucket":
        expect_error("404", 404, s3.head_bucket, Bucket=path.strip("/"))


# --- unsupported sub-resources ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target", "query"),
    [
        ("GET", "bucket", "tagging"),
        ("PUT", "bucket", "tagging"),
        ("DELETE", "bucket", "tagging"),
        ("GET", "object", "legal-hold"),
        ("PUT", "object", "retention"),
        ("GET", "bucket", "policy"),
        ("PUT", "bucket", "lifecycle"),
        ("POST", "object", "restore"),
        ("GET", "bucket", "website"),
    ],
)
def test_unsupported_subresource_is_not_implemented(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str, method: str, target: str, query: str
) -> None:
    path = f"/{bkt}" if target == "bucket" else f"/{bkt}/existing"
    body = b"<Tagging><TagSet/></Tagging>" if method in ("PUT", "POST") else b""
    response = raw_request(gateway_sqlite_local, method, path, query=query, body=body)
    fields = assert_s3_error(response, 501, "NotImplemented")
    assert query in fields["Message"]
    # Neither the object nor the bucket was touched.
    assert _object_body(s3, bkt, "existing") == b"existing body"
    s3.head_bucket(Bucket=bkt)


def test_unsupported_operations_through_boto3(s3: Any, bkt: str) -> None:
    expect_error("NotImplemented", 501, s3.get_bucket_tagging, Bucket=bkt)
    expect_error(
        "NotImplemented",
        501,
        s3.put_bucket_tagging,
        Bucket=bkt,
        Tagging={"TagSet": [{"Key": "a", "Value": "b"}]},
    )
    assert _object_body(s3, bkt, "existing") == b"existing body"


def test_upload_part_copy_copies_the_source(s3: Any, bkt: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bkt, Key="mp")["UploadId"]
    s3.upload_part_copy(
        Bucket=bkt,
        Key="mp",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bkt, "Key": "existing"},
    )
    parts = s3.list_parts(Bucket=bkt, Key="mp", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(b"existing body"))]
