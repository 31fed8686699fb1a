"""Bucket CORS over real sockets: Put/Get/DeleteBucketCors with boto3 and the aws CLI,
preflight OPTIONS without credentials, and CORS headers on actual (and error) responses."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest

from tests.integration.test_s3_helpers import (
    assert_s3_error,
    expect_error,
    raw_request,
)
from tests.support.gateway_server import GatewayProcess

RULES: dict[str, Any] = {
    "CORSRules": [
        {
            "ID": "app",
            "AllowedOrigins": ["https://*.example.com"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["x-amz-*", "content-type"],
            "ExposeHeaders": ["ETag", "x-amz-request-id"],
            "MaxAgeSeconds": 600,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
    ]
}


def preflight(
    gateway: GatewayProcess, path: str, origin: str | None, method: str | None, headers: str = ""
) -> httpx.Response:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        sent["Access-Control-Request-Headers"] = headers
    return httpx.options(
        f"{gateway.s3_url}{path}",
        headers={k: v for k, v in sent.items() if v is not None},
        verify=gateway.ssl_context,
    )


def test_put_get_delete_roundtrip(s3: Any, bkt: str) -> None:
    expect_error("NoSuchCORSConfiguration", 404, s3.get_bucket_cors, Bucket=bkt)
    s3.put_bucket_cors(Bucket=bkt, CORSConfiguration=RULES)
    assert s3.get_bucket_cors(Bucket=bkt)["CORSRules"] == RULES["CORSRules"]
    s3.delete_bucket_cors(Bucket=bkt)
    expect_error("NoSuchCORSConfiguration", 404, s3.get_bucket_cors, Bucket=bkt)
    s3.delete_bucket_cors(Bucket=bkt)


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}, "InvalidRequest"),
        ({"AllowedOrigins": ["https://*.*.example"], "AllowedMethods": ["GET"]}, "InvalidRequest"),
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*a*"]},
         "InvalidRequest"),
    ],
)  # fmt: skip
def test_invalid_rules_are_refused(s3: Any, bkt: str, rule: dict[str, Any], code: str) -> None:
    expect_error(code, 400, s3.put_bucket_cors, Bucket=bkt, CORSConfiguration={"CORSRules": [rule]})


def test_malformed_documents(gateway_sqlite_local: GatewayProcess, bkt: str) -> None:
    for body in (
        b"<CORSConfiguration/>",
        b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"
        b"</CORSConfiguration>",
        b"not xml",
        b"<CORSConfiguration>"
        + b"<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
        b"</CORSRule>" * 101 + b"</CORSConfiguration>",
    ):
        response = raw_request(gateway_sqlite_local, "PUT", f"/{bkt}", query="cors", body=body)
        assert_s3_error(response, 400, "MalformedXML")


def test_preflight_answers_from_the_first_matching_rule(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_bucket_cors(Bucket=bkt, CORSConfiguration=RULES)
    response = preflight(
        gateway_sqlite_local,
        f"/{bkt}/some/key",
        "https://app.example.com",
        "PUT",
        "Content-Type, X-Amz-Meta-Color",
    )
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert response.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-color"
    assert response.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]
    wildcard = preflight(gateway_sqlite_local, f"/{bkt}/k", "http://anything", "HEAD")
    assert wildcard.status_code == 200
    assert wildcard.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in wildcard.headers


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://example.com", "GET", ""),  # the wildcard needs a subdomain
        ("https://app.example.com", "DELETE", ""),
        ("https://app.example.com", "GET", "authorization"),
        ("http://app.example.com", "GET", ""),
    ],
)
def test_preflight_without_matching_rule_is_forbidden(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str, origin: str, method: str, headers: str
) -> None:
    s3.put_bucket_cors(Bucket=bkt, CORSConfiguration=RULES)
    response = preflight(gateway_sqlite_local, f"/{bkt}/k", origin, method, headers)
    fields = assert_s3_error(response, 403, "AccessForbidden")
    assert fields["Message"].startswith("CORSResponse: This CORS request is not allowed")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_errors(gateway_sqlite_local: GatewayProcess, bkt: str) -> None:
    not_enabled = preflight(gateway_sqlite_local, f"/{bkt}", "https://a.example.com", "GET")
    fields = assert_s3_error(not_enabled, 403, "AccessForbidden")
    assert "not enabled" in fields["Message"]
    assert_s3_error(preflight(gateway_sqlite_local, f"/{bkt}", None, "GET"), 400, "BadRequest")
    no_method = preflight(gateway_sqlite_local, f"/{bkt}", "https://a.example.com", None)
    assert_s3_error(no_method, 400, "BadRequest")
    missing = preflight(gateway_sqlite_local, "/no-such-bucket-cors", "https://a", "GET")
    assert_s3_error(missing, 404, "NoSuchBucket")


def test_actual_requests_get_cors_headers(
    gateway_sqlite_local: GatewayProcess, s3: Any, bkt: str
) -> None:
    s3.put_bucket_cors(Bucket=bkt, CORSConfiguration=RULES)
    s3.put_object(Bucket=bkt, Key="k", Body=b"data")
    origin = {"Origin": "https://app.example.com"}
    got = raw_request(gateway_sqlite_local, "GET", f"/{bkt}/k", headers=origin)
    assert got.status_code == 200
    assert got.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert got.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    missing = raw_request(gateway_sqlite_local, "GET", f"/{bkt}/absent", headers=origin)
    assert_s3_error(missing, 404, "NoSuchKey")
    assert missing.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    other = raw_request(
        gateway_sqlite_local, "DELETE", f"/{bkt}/k", headers={"Origin": "https://evil.test"}
    )
    assert other.status_code == 204
    assert "Access-Control-Allow-Origin" not in other.headers
    plain = raw_request(gateway_sqlite_local, "GET", f"/{bkt}")
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_aws_cli_roundtrip(gateway_sqlite_local: GatewayProcess, bkt: str) -> None:
    env = {
        **gateway_sqlite_local.env,
        "AWS_ACCESS_KEY_ID": gateway_sqlite_local.access_key,
        "AWS_SECRET_ACCESS_KEY": gateway_sqlite_local.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if gateway_sqlite_local.ca_file is not None:
        env["AWS_CA_BUNDLE"] = str(gateway_sqlite_local.ca_file)
    base = ["aws", "--endpoint-url", gateway_sqlite_local.s3_url, "s3api"]
    subprocess.run(
        [*base, "put-bucket-cors", "--bucket", bkt, "--cors-configuration", json.dumps(RULES)],
        env=env,
        check=True,
        capture_output=True,
    )
    shown = subprocess.run(
        [*base, "get-bucket-cors", "--bucket", bkt],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(shown.stdout)["CORSRules"] == RULES["CORSRules"]
