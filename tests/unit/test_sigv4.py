"""SigV4 verification, checked against botocore's reference signer, and the verified body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from gateway.s3 import checksums
from gateway.s3.aws_chunked import MIN_SIGNED_CHUNK_SIZE
from gateway.s3.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    IncompleteBody,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidChunkSizeError,
    InvalidDigest,
    InvalidRequest,
    MissingContentLength,
    MissingSecurityHeader,
    NotImplemented_,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)
from gateway.s3.sigv4 import (
    MAX_PRESIGNED_EXPIRES,
    AuthContext,
    PayloadKind,
    PayloadMode,
    SignedRequest,
    VerifiedBody,
    authenticate,
    verified_body,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ENDPOINT = "http://localhost:9000"
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SECRETS = {CREDS.access_key: CREDS.secret_key}


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs with the current time; pin it so that NOW is the request time."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))


class StreamingAuth(S3SigV4Auth):
    """botocore's S3 signer, declaring a chosen x-amz-content-sha256 (e.g. STREAMING-*)."""

    def __init__(self, credentials: Credentials, region: str, payload: str) -> None:
        super().__init__(credentials, "s3", region)
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


def to_signed_request(request: AWSRequest) -> SignedRequest:
    parts = urlsplit(str(request.url))
    headers = {name.lower(): str(value) for name, value in request.headers.items()}
    return SignedRequest(str(request.method), parts.path, parts.query, headers)


def new_request(
    method: str, target: str, headers: Mapping[str, str] | None, body: bytes
) -> AWSRequest:
    request = AWSRequest(method=method, url=ENDPOINT + target, data=body)
    request.headers["Host"] = urlsplit(ENDPOINT).netloc
    for name, value in (headers or {}).items():
        request.headers[name] = value
    return request


def sign(
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    creds: Credentials = CREDS,
    region: str = "us-east-1",
    payload: str | None = None,
) -> SignedRequest:
    """Sign ``target`` (path and query, already percent-encoded) with botocore."""
    request = new_request(method, target, headers, body)
    signer = (
        S3SigV4Auth(creds, "s3", region)
        if payload is None
        else StreamingAuth(creds, region, payload)
    )
    signer.add_auth(request)
    return to_signed_request(request)


def presign(
    method: str,
    target: str,
    *,
    expires: int = 3600,
    headers: Mapping[str, str] | None = None,
    creds: Credentials = CREDS,
    region: str = "us-east-1",
) -> SignedRequest:
    request = new_request(method, target, headers, b"")
    S3SigV4QueryAuth(creds, "s3", region, expires=expires).add_auth(request)
    return to_signed_request(request)


def auth(
    request: SignedRequest,
    secrets: Mapping[str, str] = SECRETS,
    *,
    now: datetime = NOW,
    region: str | None = None,
) -> AuthContext:
    return authenticate(request, secrets.get, now=now, region=region)


def with_headers(request: SignedRequest, **changes: str) -> SignedRequest:
    headers = dict(request.headers)
    headers.update({name.replace("_", "-"): value for name, value in changes.items()})
    return SignedRequest(request.method, request.raw_path, request.query_string, headers)


def key_path(bucket: str, key: str) -> str:
    """The path botocore's serializer builds for an object key."""
    return f"/{bucket}/" + quote(key, safe="/~")


# -- header authentication against botocore -----------------------------------------


def test_a_botocore_signed_request_authenticates() -> None:
    ctx = auth(sign("GET", "/bucket/key"))
    assert ctx.access_key == CREDS.access_key
    assert ctx.payload == PayloadMode(PayloadKind.SHA256, hashlib.sha256(b"").digest())
    assert ctx.signing.amz_date == "20240501T120000Z"
    assert ctx.signing.scope == "20240501/us-east-1/s3/aws4_request"


@pytest.mark.parametrize(
    "key",
    [
        "plain.txt",
        "with space.txt",
        "plus+sign",
        "tilde~name",
        "equals=sign",
        "percent%25literal%",
        "unicode/é/日本語/🙂",
        "sub-delims!$&'()*,;:@",
        "double//slash/",
        "dots/./../x",
        'brackets[]{}<>^`|\\"#?',
    ],
)
def test_object_keys_with_special_characters(key: str) -> None:
    assert auth(sign("PUT", key_path("bucket", key), body=b"x")).access_key == CREDS.access_key


@pytest.mark.parametrize(
    ("access_key", "secret"),
    [
        ("AK with spaces", "secret with spaces"),
        ("AKé日本", "sécret日本🙂"),
        ("AK+~=%", "se+cr~et=%2F%"),
        ("AK,comma,", "s,e,c"),
        ("AK/with/slashes", "s/e/c"),
    ],
)
def test_credentials_with_special_characters(access_key: str, secret: str) -> None:
    creds = Credentials(access_key, secret)
    request = sign("GET", "/bucket/key", creds=creds)
    assert auth(request, {access_key: secret}).access_key == access_key
    presigned = presign("GET", "/bucket/key", creds=creds)
    assert auth(presigned, {access_key: secret}).access_key == access_key


@pytest.mark.parametrize(
    "query",
    [
        "acl",
        "uploads",
        "x=1&x=&x=0",
        "b=2&a=1&a=",
        "list-type=2&prefix=a%20b%2Bc&delimiter=%2F",
        "prefix=%E6%97%A5%F0%9F%99%82&marker=~tilde",
        "empty=&=novalue&flag",
        "plus=a+b",
        "raw=(x)*!",
        "lower=%c3%a9",
        "tagging&versionId=3%2F4",
    ],
)
def test_query_strings_as_sent_by_clients(query: str) -> None:
    assert auth(sign("GET", "/bucket/key?" + query)).access_key == CREDS.access_key


def test_query_parameters_encoded_by_botocore() -> None:
    request = new_request("GET", "/bucket", None, b"")
    request.params = {"prefix": "a b/é+~", "delimiter": "/", "max-keys": "5", "empty": ""}
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    signed = SignedRequest(
        "GET", parts.path, parts.query, {k.lower(): v for k, v in prepared.headers.items()}
    )
    assert auth(signed).access_key == CREDS.access_key


def test_signed_headers_with_folded_whitespace() -> None:
    request = sign("PUT", "/bucket/key", headers={"x-amz-meta-note": "  a   b\tc  "}, body=b"x")
    assert auth(request).access_key == CREDS.access_key


def test_date_header_instead_of_x_amz_date() -> None:
    request = new_request("GET", "/bucket/key", {"Date": "placeholder"}, b"")
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(request)
    signed = to_signed_request(request)
    assert "x-amz-date" not in signed.headers
    assert auth(signed).signing.amz_date == "20240501T120000Z"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: SignedRequest("DELETE", r.raw_path, r.query_string, r.headers),
        lambda r: SignedRequest(r.method, r.raw_path + "x", r.query_string, r.headers),
        lambda r: SignedRequest(r.method, "/bucket/other", r.query_string, r.headers),
        lambda r: SignedRequest(r.method, r.raw_path, "acl", r.headers),
        lambda r: SignedRequest(r.method, r.raw_path, r.query_string + "&x=2", r.headers),
        lambda r: with_headers(r, x_amz_meta_a="2"),
        lambda r: with_headers(r, host="evil.example"),
        lambda r: with_headers(r, x_amz_date="20240501T120001Z"),
    ],
)
def test_any_change_breaks_the_signature(tamper: object) -> None:
    request = sign("PUT", "/bucket/key?x=1", headers={"x-amz-meta-a": "1"}, body=b"data")
    assert callable(tamper)
    with pytest.raises(SignatureDoesNotMatch):
        auth(tamper(request))


def test_encoded_slash_is_not_a_slash() -> None:
    request = sign("GET", "/bucket/a%2Fb")
    with pytest.raises(SignatureDoesNotMatch):
        auth(SignedRequest("GET", "/bucket/a/b", "", request.headers))


def test_wrong_secret_is_a_signature_mismatch() -> None:
    request = sign("GET", "/bucket/key", creds=Credentials(CREDS.access_key, "not-the-secret"))
    with pytest.raises(SignatureDoesNotMatch):
        auth(request)


def test_unknown_access_key() -> None:
    request = sign("GET", "/bucket/key", creds=Credentials("AKUNKNOWN", "x"))
    with pytest.raises(InvalidAccessKeyId):
        auth(request)


def test_errors_and_logs_never_reveal_the_secret_or_the_signature(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = sign("GET", "/bucket/key")
    expected_signature = good.headers["authorization"].rsplit("Signature=", 1)[1]
    forged = sign("GET", "/bucket/key", creds=Credentials(CREDS.access_key, "guess"))
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SignatureDoesNotMatch) as raised:
        auth(forged)
    error = raised.value
    shown = " ".join([str(error), error.message, *error.details.values(), caplog.text])
    assert CREDS.secret_key not in shown
    assert expected_signature not in shown


def test_unsigned_amz_headers_are_refused() -> None:
    request = with_headers(sign("PUT", "/bucket/key", body=b"x"), x_amz_acl="public-read")
    with pytest.raises(AccessDenied) as raised:
        auth(request)
    assert raised.value.details["HeadersNotSigned"] == "x-amz-acl"


def test_unsigned_ordinary_headers_are_ignored() -> None:
    request = with_headers(sign("GET", "/bucket/key"), user_agent="curl", expect="100-continue")
    assert auth(request).access_key == CREDS.access_key


@pytest.mark.parametrize(("offset", "ok"), [(14, True), (-14, True), (16, False), (-16, False)])
def test_clock_skew(offset: int, ok: bool) -> None:
    request = sign("GET", "/bucket/key")
    now = NOW + timedelta(minutes=offset)
    if ok:
        auth(request, now=now)
    else:
        with pytest.raises(RequestTimeTooSkewed):
            auth(request, now=now)


def test_any_region_is_accepted_unless_one_is_required() -> None:
    request = sign("GET", "/bucket/key", region="eu-west-3")
    assert auth(request).signing.scope == "20240501/eu-west-3/s3/aws4_request"
    assert auth(request, region="eu-west-3").access_key == CREDS.access_key
    with pytest.raises(AuthorizationHeaderMalformed) as raised:
        auth(request, region="us-east-1")
    assert "us-east-1" in raised.value.message


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone"):
        auth(sign("GET", "/bucket/key"), now=NOW.replace(tzinfo=None))


# -- header authentication: malformed or missing --------------------------------------

SIG = "0" * 64
SIGNED = "host;x-amz-content-sha256;x-amz-date"


def header_request(authorization: str, **headers: str) -> SignedRequest:
    base = {
        "host": "localhost:9000",
        "x-amz-date": "20240501T120000Z",
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
        "authorization": authorization,
    }
    base.update({name.replace("_", "-"): value for name, value in headers.items()})
    return SignedRequest("GET", "/bucket/key", "", base)


def credential(scope: str = "20240501/us-east-1/s3/aws4_request") -> str:
    return f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}"


def scoped(scope: str) -> str:
    return credential(scope) + f", SignedHeaders={SIGNED}, Signature={SIG}"


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256",
        f"AWS4-HMAC-SHA256 SignedHeaders=host, Signature={SIG}",
        credential() + ", SignedHeaders=host",
        credential() + f", Signature={SIG}",
        credential() + f", SignedHeaders=host, Signature={SIG}, Signature={SIG}",
        credential() + f", SignedHeaders=host, Signature={'A' * 64}",
        credential() + ", SignedHeaders=host, Signature=abc",
        f"AWS4-HMAC-SHA256 Bogus=1, {credential()[17:]}, SignedHeaders=host, Signature={SIG}",
        scoped("20240501/us-east-1/ec2/aws4_request"),
        scoped("20240501/us-east-1/s3/aws5_request"),
        scoped("2024-05-01/us-east-1/s3/aws4_request"),
        scoped("20240501/s3/aws4_request"),
        scoped("20240502/us-east-1/s3/aws4_request"),
        credential() + f", SignedHeaders=x-amz-date, Signature={SIG}",
    ],
)
def test_malformed_authorization_header(authorization: str) -> None:
    with pytest.raises(AuthorizationHeaderMalformed):
        auth(header_request(authorization))


VALID_AUTHORIZATION = credential() + f", SignedHeaders={SIGNED}, Signature={SIG}"


def test_missing_date() -> None:
    request = header_request(VALID_AUTHORIZATION)
    headers = {k: v for k, v in request.headers.items() if k != "x-amz-date"}
    with pytest.raises(AccessDenied):
        auth(SignedRequest("GET", "/bucket/key", "", headers))


@pytest.mark.parametrize("date", ["2024-05-01T12:00:00Z", "20240501T120000", "20241301T120000Z"])
def test_malformed_x_amz_date(date: str) -> None:
    with pytest.raises(AccessDenied):
        auth(header_request(VALID_AUTHORIZATION, x_amz_date=date))


def test_missing_content_sha256_with_a_body_is_refused() -> None:
    request = header_request(VALID_AUTHORIZATION)
    headers = {k: v for k, v in request.headers.items() if k != "x-amz-content-sha256"}
    headers["content-length"] = "5"
    with pytest.raises(InvalidRequest, match="x-amz-content-sha256"):
        auth(SignedRequest("PUT", "/bucket/key", "", headers))


def test_generic_signer_without_content_sha256_authenticates_a_bodiless_get() -> None:
    """curl --aws-sigv4 signs a GET with the empty body's hash and sends no header."""
    request = new_request("GET", "/bucket/key", None, b"")
    botocore.auth.SigV4Auth(CREDS, "s3", "us-east-1").add_auth(request)
    signed = to_signed_request(request)
    assert "x-amz-content-sha256" not in signed.headers
    assert auth(signed).access_key == CREDS.access_key


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("not-a-hash", InvalidArgument),
        ("abc", InvalidArgument),
        ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", NotImplemented_),
    ],
)
def test_unsupported_content_sha256(value: str, error: type[S3Error]) -> None:
    with pytest.raises(error):
        auth(header_request(VALID_AUTHORIZATION, x_amz_content_sha256=value))


def test_anonymous_requests_are_denied() -> None:
    with pytest.raises(AccessDenied):
        auth(SignedRequest("GET", "/bucket/key", "", {"host": "localhost"}))


def test_signature_v2_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="AWS4-HMAC-SHA256"):
        auth(header_request("AWS AKIDEXAMPLE:c2lnbmF0dXJl"))
    v2_query = "AWSAccessKeyId=AKIDEXAMPLE&Expires=1714568400&Signature=c2ln"
    with pytest.raises(InvalidRequest, match="AWS4-HMAC-SHA256"):
        auth(SignedRequest("GET", "/bucket/key", v2_query, {"host": "localhost"}))


def test_header_and_query_signatures_together_are_refused() -> None:
    presigned = presign("GET", "/bucket/key")
    both = with_headers(presigned, authorization=VALID_AUTHORIZATION)
    with pytest.raises(InvalidArgument):
        auth(both)


# -- presigned URLs ---------------------------------------------------------------------


def test_a_botocore_presigned_url_authenticates() -> None:
    ctx = auth(presign("GET", key_path("bucket", "a b+c~d=e%f/é")))
    assert ctx.access_key == CREDS.access_key
    assert ctx.payload == PayloadMode(PayloadKind.UNSIGNED)


def test_presigned_url_with_operation_parameters() -> None:
    request = presign("PUT", "/bucket/key?partNumber=1&uploadId=a%2Bb&acl=")
    assert auth(request).payload.kind is PayloadKind.UNSIGNED


def test_presigned_url_with_signed_content_sha256() -> None:
    digest = hashlib.sha256(b"body").hexdigest()
    request = presign("PUT", "/bucket/key", headers={"x-amz-content-sha256": digest})
    assert auth(request).payload == PayloadMode(PayloadKind.SHA256, bytes.fromhex(digest))


def test_presigned_url_validity_window() -> None:
    request = presign("GET", "/bucket/key", expires=60)
    auth(request, now=NOW + timedelta(seconds=60))
    with pytest.raises(AccessDenied, match="Request has expired"):
        auth(request, now=NOW + timedelta(seconds=61))
    auth(request, now=NOW - timedelta(minutes=14))
    with pytest.raises(AccessDenied, match="Request is not valid yet"):
        auth(request, now=NOW - timedelta(minutes=16))


def test_presigned_url_for_longer_than_a_week_is_refused() -> None:
    auth(presign("GET", "/bucket/key", expires=MAX_PRESIGNED_EXPIRES))
    with pytest.raises(AuthorizationQueryParametersError):
        auth(presign("GET", "/bucket/key", expires=MAX_PRESIGNED_EXPIRES + 1))


def replace_param(request: SignedRequest, name: str, value: str | None) -> SignedRequest:
    pieces = []
    for piece in request.query_string.split("&"):
        if piece.partition("=")[0] != name:
            pieces.append(piece)
        elif value is not None:
            pieces.append(f"{name}={value}")
    return SignedRequest(request.method, request.raw_path, "&".join(pieces), request.headers)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Amz-Expires", "soon"),
        ("X-Amz-Expires", "-1"),
        ("X-Amz-Expires", None),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
        ("X-Amz-Algorithm", None),
        ("X-Amz-Date", "2024-05-01"),
        ("X-Amz-Date", "20240502T120000Z"),
        ("X-Amz-Credential", "AKIDEXAMPLE%2F20240501%2Fus-east-1%2Fs3"),
        ("X-Amz-Credential", "AKIDEXAMPLE%2F20240501%2Fus-east-1%2Fsqs%2Faws4_request"),
        ("X-Amz-SignedHeaders", "x-amz-date"),
        ("X-Amz-Signature", "xyz"),
        ("X-Amz-Signature", None),
    ],
)
def test_malformed_presigned_parameters(name: str, value: str | None) -> None:
    with pytest.raises(AuthorizationQueryParametersError):
        auth(replace_param(presign("GET", "/bucket/key"), name, value))


def test_repeated_presigned_parameter_is_refused() -> None:
    request = presign("GET", "/bucket/key")
    doubled = SignedRequest(
        "GET", request.raw_path, request.query_string + "&X-Amz-Expires=10", request.headers
    )
    with pytest.raises(AuthorizationQueryParametersError):
        auth(doubled)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: replace_param(r, "X-Amz-Expires", "3599"),
        lambda r: SignedRequest(r.method, r.raw_path, r.query_string + "&acl", r.headers),
        lambda r: SignedRequest("PUT", r.raw_path, r.query_string, r.headers),
        lambda r: SignedRequest(r.method, "/bucket/other", r.query_string, r.headers),
        lambda r: with_headers(r, host="evil.example"),
    ],
)
def test_tampered_presigned_url(tamper: object) -> None:
    assert callable(tamper)
    with pytest.raises(SignatureDoesNotMatch):
        auth(tamper(presign("GET", "/bucket/key")))


def test_presigned_url_with_unsigned_amz_header() -> None:
    request = with_headers(presign("PUT", "/bucket/key"), x_amz_acl="public-read")
    with pytest.raises(AccessDenied):
        auth(request)


def test_presigned_url_region_check() -> None:
    request = presign("GET", "/bucket/key", region="eu-west-3")
    assert auth(request, region="eu-west-3").access_key == CREDS.access_key
    with pytest.raises(AuthorizationQueryParametersError, match="us-east-1"):
        auth(request, region="us-east-1")


def test_presigned_unknown_access_key() -> None:
    with pytest.raises(InvalidAccessKeyId):
        auth(presign("GET", "/bucket/key", creds=Credentials("AKNOBODY", "x")))


# -- WSGI environ -----------------------------------------------------------------------


def environ_for(request: AWSRequest, body: bytes = b"") -> dict[str, object]:
    """The environ cheroot builds: raw request-target, latin-1 decoded headers."""
    parts = urlsplit(str(request.url))
    environ: dict[str, object] = {
        "REQUEST_METHOD": request.method,
        "REQUEST_URI": parts.path + ("?" + parts.query if parts.query else ""),
        "PATH_INFO": "ignored",
        "QUERY_STRING": parts.query,
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in request.headers.items():
        raw = str(value).encode("utf-8").decode("latin-1")
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = raw
        else:
            environ["HTTP_" + key] = raw
    return environ


def test_from_environ_round_trip() -> None:
    request = new_request(
        "PUT",
        key_path("bucket", "dir/ünï code+x") + "?tagging=&x=%2F",
        {"x-amz-meta-name": "café", "Content-Type": "text/plain", "Content-Length": "4"},
        b"data",
    )
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(request)
    signed = SignedRequest.from_environ(environ_for(request))
    assert signed.method == "PUT"
    assert signed.raw_path == "/bucket/dir/%C3%BCn%C3%AF%20code%2Bx"
    assert signed.query_string == "tagging=&x=%2F"
    assert signed.headers["x-amz-meta-name"] == "café"
    assert signed.headers["content-type"] == "text/plain"
    assert signed.headers["content-length"] == "4"
    assert auth(signed).access_key == CREDS.access_key


def test_from_environ_with_absolute_request_uri() -> None:
    environ: dict[str, object] = {
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": "http://localhost:9000/bucket/a%20b?acl",
        "HTTP_HOST": "localhost:9000",
        "CONTENT_LENGTH": "",
    }
    signed = SignedRequest.from_environ(environ)
    assert (signed.raw_path, signed.query_string) == ("/bucket/a%20b", "acl")
    assert signed.headers == {"host": "localhost:9000"}


def test_from_environ_without_request_uri() -> None:
    environ: dict[str, object] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/bucket/a b/\xc3\xa9",
        "QUERY_STRING": "prefix=x",
    }
    signed = SignedRequest.from_environ(environ)
    assert (signed.raw_path, signed.query_string) == ("/bucket/a%20b/%C3%A9", "prefix=x")


def test_from_environ_with_raw_utf8_in_the_request_target() -> None:
    request = new_request("GET", "/bucket/é?prefix=日", None, b"")
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(request)
    environ = environ_for(request)
    environ["REQUEST_URI"] = "/bucket/é?prefix=日".encode().decode("latin-1")
    signed = SignedRequest.from_environ(environ)
    assert (signed.raw_path, signed.query_string) == ("/bucket/é", "prefix=日")
    assert auth(signed).access_key == CREDS.access_key


# -- verified bodies ------------------------------------------------------------------


def read_in_pieces(body: VerifiedBody, size: int = 1000) -> bytes:
    out = bytearray()
    while data := body.read(size):
        out += data
    return bytes(out)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def plain_body(
    data: bytes, sent: bytes | None = None, **headers: str
) -> tuple[VerifiedBody, SignedRequest]:
    extra = {name.replace("_", "-"): value for name, value in headers.items()}
    request = sign("PUT", "/bucket/key", headers=extra, body=data)
    ctx = auth(request)
    all_headers = {**request.headers, "content-length": str(len(data))}
    payload = data if sent is None else sent
    return verified_body(io.BytesIO(payload), ctx, all_headers), request


def test_sha256_body_is_verified_at_the_end() -> None:
    body, _ = plain_body(b"hello world" * 1000)
    assert read_in_pieces(body) == b"hello world" * 1000
    assert body.read(10) == b""


def test_sha256_mismatch_is_raised_by_the_read_that_reaches_the_end() -> None:
    data = b"hello world" * 1000
    body, _ = plain_body(data, sent=data.replace(b"w", b"W", 1))
    pieces = [body.read(1000) for _ in range(11)]
    assert sum(map(len, pieces)) == len(data)
    with pytest.raises(XAmzContentSHA256Mismatch):
        body.read(1000)
    with pytest.raises(XAmzContentSHA256Mismatch):
        body.read(1000)


def read_into_pieces(body: VerifiedBody, size: int = 1000) -> bytes:
    out, buffer = bytearray(), memoryview(bytearray(size))
    while count := body.readinto(buffer):
        out += buffer[:count]
    return bytes(out)


@pytest.mark.parametrize("size", [1, 777, 100_000])
def test_readinto_gives_what_read_gives(size: int) -> None:
    body, _ = plain_body(b"hello world" * 1000, sent=b"hello world" * 1000 + b"next request")
    assert read_into_pieces(body, size) == b"hello world" * 1000
    assert body.readinto(memoryview(bytearray(10))) == 0


def test_readinto_raises_a_mismatch_at_the_end_and_again_later() -> None:
    data = b"hello world" * 1000
    body, _ = plain_body(data, sent=data.replace(b"w", b"W", 1))
    with pytest.raises(XAmzContentSHA256Mismatch):
        read_into_pieces(body)
    with pytest.raises(XAmzContentSHA256Mismatch):
        body.readinto(memoryview(bytearray(10)))


def test_readinto_of_an_aws_chunked_body() -> None:
    payload = b"0123456789" * 5000
    framed = b"".join(
        b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (payload[:20_000], payload[20_000:])
    )
    framed += b"0\r\n\r\n"
    headers = {
        "content-length": str(len(framed)),
        "x-amz-decoded-content-length": str(len(payload)),
    }
    kind = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    request = sign("PUT", "/bucket/key", headers=headers, body=framed, payload=kind)
    body = verified_body(io.BytesIO(framed), auth(request), {**request.headers, **headers})
    assert read_into_pieces(body, 7000) == payload


def test_read_all_at_once() -> None:
    body, _ = plain_body(b"abc")
    assert body.read() == b"abc"
    assert body.read() == b""


def test_short_body_is_incomplete() -> None:
    body, _ = plain_body(b"hello", sent=b"hel")
    with pytest.raises(IncompleteBody):
        read_in_pieces(body)


def test_reads_stop_at_content_length() -> None:
    body, _ = plain_body(b"hello", sent=b"hello, and the next request")
    assert read_in_pieces(body) == b"hello"


def unsigned_ctx() -> AuthContext:
    return auth(presign("PUT", "/bucket/key"))


@pytest.mark.parametrize("value", ["", "-1", "1.5", "²", "0x10", "99999999999999999999"])
def test_invalid_content_length(value: str) -> None:
    with pytest.raises(InvalidArgument):
        verified_body(io.BytesIO(b""), unsigned_ctx(), {"content-length": value})


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        ("crc32", zlib.crc32(b"payload").to_bytes(4, "big")),
        ("sha1", hashlib.sha1(b"payload", usedforsecurity=False).digest()),
        ("sha256", hashlib.sha256(b"payload").digest()),
    ],
)
def test_checksum_headers(algorithm: str, digest: bytes) -> None:
    header = f"x-amz-checksum-{algorithm}"
    good = verified_body(io.BytesIO(b"payload"), unsigned_ctx(), {header: b64(digest)})
    assert good.read() == b"payload"
    assert good.checksums == {header: b64(digest)}
    bad = verified_body(io.BytesIO(b"Payload"), unsigned_ctx(), {header: b64(digest)})
    with pytest.raises(BadDigest, match=algorithm.upper()) as raised:
        bad.read()
    assert raised.value.code == "BadDigest"


CRC32C_123456789 = bytes.fromhex("e3069283")
CRC64NVME_123456789 = bytes.fromhex("ae8b14860a799888")


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [("crc32c", CRC32C_123456789), ("crc64nvme", CRC64NVME_123456789)],
)
def test_crt_checksums_are_verified_when_awscrt_is_installed(algorithm: str, digest: bytes) -> None:
    header = {f"x-amz-checksum-{algorithm}": b64(digest)}
    assert verified_body(io.BytesIO(b"123456789"), unsigned_ctx(), header).read() == b"123456789"
    wrong = verified_body(io.BytesIO(b"123456780"), unsigned_ctx(), header)
    if checksums.new_running_checksum(algorithm) is None:
        assert wrong.read() == b"123456780"
    else:
        with pytest.raises(BadDigest, match=algorithm.upper()):
            wrong.read()


def test_content_md5() -> None:
    md5 = b64(hashlib.md5(b"payload", usedforsecurity=False).digest())
    good = verified_body(io.BytesIO(b"payload"), unsigned_ctx(), {"content-md5": md5})
    assert good.read() == b"payload"
    bad = verified_body(io.BytesIO(b"pay1oad"), unsigned_ctx(), {"content-md5": md5})
    with pytest.raises(BadDigest, match="Content-MD5"):
        bad.read()


@pytest.mark.parametrize("value", ["not base64!", "AAAA", b64(b"x" * 17)])
def test_malformed_content_md5(value: str) -> None:
    with pytest.raises(InvalidDigest):
        verified_body(io.BytesIO(b""), unsigned_ctx(), {"content-md5": value})


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-checksum-crc32": "AAAAAAA="},
        {"x-amz-checksum-crc32": "%%%%"},
        {"x-amz-checksum-sha256": b64(b"x" * 20)},
        {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": b64(b"x" * 20)},
        {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-trailer": "x-amz-checksum-crc32"},
        {"x-amz-trailer": "x-amz-meta-foo"},
        {"x-amz-trailer": "x-amz-checksum-crc32"},
    ],
)
def test_invalid_checksum_declarations(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        verified_body(io.BytesIO(b""), unsigned_ctx(), headers)


def test_unknown_checksum_like_headers_are_ignored() -> None:
    headers = {"x-amz-checksum-type": "FULL_OBJECT", "x-amz-checksum-algorithm": "CRC32"}
    assert verified_body(io.BytesIO(b"x"), unsigned_ctx(), headers).read() == b"x"


# -- streaming bodies -------------------------------------------------------------------


def signing_key(secret: str, date: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def chain(previous: str, algorithm: str, scope: str, *hashes: str) -> str:
    text = "\n".join((algorithm, "20240501T120000Z", scope, previous, *hashes))
    key = signing_key(CREDS.secret_key, "20240501", "us-east-1")
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def signed_chunks(
    seed: str, chunks: Sequence[bytes], trailers: Sequence[tuple[str, str]] | None
) -> bytes:
    """Frame and sign ``chunks`` the way SDKs do for STREAMING-AWS4-HMAC-SHA256-PAYLOAD*."""
    scope = "20240501/us-east-1/s3/aws4_request"
    empty = hashlib.sha256(b"").hexdigest()
    out, previous = bytearray(), seed
    for data in [*chunks, b""]:
        digest = hashlib.sha256(data).hexdigest()
        previous = chain(previous, "AWS4-HMAC-SHA256-PAYLOAD", scope, empty, digest)
        out += f"{len(data):x};chunk-signature={previous}\r\n".encode() + data
        out += b"\r\n" if data else b""
    if trailers is not None:
        canonical = "".join(f"{n}:{v}\n" for n, v in sorted(trailers))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        signature = chain(previous, "AWS4-HMAC-SHA256-TRAILER", scope, digest)
        out += "".join(f"{n}:{v}\r\n" for n, v in trailers).encode()
        out += f"x-amz-trailer-signature:{signature}\r\n".encode()
    return bytes(out + b"\r\n")


def streaming(
    chunks: Sequence[bytes],
    *,
    trailers: Sequence[tuple[str, str]] | None = None,
    decoded_length: int | None = None,
    extra: Mapping[str, str] | None = None,
    tamper: Callable[[bytes], bytes] | None = None,
) -> VerifiedBody:
    """A signed STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] upload, through authenticate."""
    kind = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailers is not None else "")
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(
            sum(map(len, chunks)) if decoded_length is None else decoded_length
        ),
        **({"x-amz-trailer": ",".join(n for n, _ in trailers)} if trailers else {}),
        **(extra or {}),
    }
    request = sign("PUT", "/bucket/key", headers=headers, payload=kind)
    ctx = auth(request)
    assert ctx.payload.kind.value == kind
    body = signed_chunks(ctx.signing.seed_signature, chunks, trailers)
    if tamper is not None:
        body = tamper(body)
    all_headers = {**request.headers, "content-length": str(len(body))}
    return verified_body(io.BytesIO(body), ctx, all_headers)


BIG = [bytes(range(256)) * 40, b"\x00" * 8192, b"tail"]


def test_signed_streaming_upload() -> None:
    assert read_in_pieces(streaming(BIG), 777) == b"".join(BIG)


def test_signed_streaming_upload_with_a_checksum_trailer() -> None:
    crc = b64(zlib.crc32(b"".join(BIG)).to_bytes(4, "big"))
    body = streaming(BIG, trailers=[("x-amz-checksum-crc32", crc)])
    assert read_in_pieces(body) == b"".join(BIG)
    assert body.checksums == {"x-amz-checksum-crc32": crc}


def test_signed_streaming_upload_with_a_wrong_checksum_trailer() -> None:
    body = streaming(BIG, trailers=[("x-amz-checksum-crc32", "AAAAAA==")])
    received = bytearray()
    with pytest.raises(BadDigest, match="CRC32"):
        while data := body.read(1000):
            received += data
    assert received == b"".join(BIG)
    with pytest.raises(BadDigest):
        body.read(1000)


def test_signed_streaming_upload_with_a_header_checksum() -> None:
    crc = b64(zlib.crc32(b"".join(BIG)).to_bytes(4, "big"))
    body = streaming(BIG, extra={"x-amz-checksum-crc32": crc})
    assert read_in_pieces(body) == b"".join(BIG)


def test_signed_streaming_upload_with_a_tampered_chunk() -> None:
    def flip(wire: bytes) -> bytes:
        damaged = bytearray(wire)
        damaged[wire.index(b"\r\n") + 100] ^= 0x01
        return bytes(damaged)

    with pytest.raises(SignatureDoesNotMatch):
        read_in_pieces(streaming(BIG, tamper=flip))


@pytest.mark.parametrize("declared", [len(b"".join(BIG)) - 1, len(b"".join(BIG)) + 1])
def test_decoded_length_must_match(declared: int) -> None:
    with pytest.raises(IncompleteBody):
        read_in_pieces(streaming(BIG, decoded_length=declared))


def test_signed_chunks_must_be_at_least_8_kib() -> None:
    small = [b"a" * (MIN_SIGNED_CHUNK_SIZE - 1), b"b" * MIN_SIGNED_CHUNK_SIZE]
    with pytest.raises(InvalidChunkSizeError):
        read_in_pieces(streaming(small))


def test_streaming_needs_the_decoded_length() -> None:
    request = sign("PUT", "/bucket/key", headers={}, payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    ctx = auth(request)
    with pytest.raises(MissingSecurityHeader):
        verified_body(io.BytesIO(b""), ctx, request.headers)
    with pytest.raises(MissingContentLength):
        verified_body(
            io.BytesIO(b""), ctx, {**request.headers, "x-amz-decoded-content-length": "abc"}
        )


def test_trailers_need_a_trailer_payload() -> None:
    _, request = plain_body(b"x")
    ctx = auth(request)
    headers = {**request.headers, "x-amz-trailer": "x-amz-checksum-crc32"}
    with pytest.raises(InvalidRequest):
        verified_body(io.BytesIO(b"x"), ctx, headers)


def botocore_unsigned_trailer_upload(
    data: bytes, chunk_size: int, *, tamper: bool = False
) -> tuple[SignedRequest, bytes]:
    """What botocore sends for a flexible-checksum upload: STREAMING-UNSIGNED-PAYLOAD-TRAILER."""
    wire = b"".join(
        AwsChunkedWrapper(
            io.BytesIO(data),
            checksum_cls=Crc32Checksum,
            checksum_name="x-amz-checksum-crc32",
            chunk_size=chunk_size,
        )
    )
    if tamper:
        wire = wire.replace(b"\r\nx", b"\r\ny", 1)
    request = new_request(
        "PUT",
        "/bucket/key",
        {
            "Content-Encoding": "aws-chunked",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data)),
            "Content-Length": str(len(wire)),
        },
        b"",
    )
    request.context["checksum"] = {
        "request_algorithm": {"in": "trailer", "name": "x-amz-checksum-crc32"}
    }
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(request)
    return to_signed_request(request), wire


@pytest.mark.parametrize("chunk_size", [1, 100, 65536])
def test_botocore_unsigned_trailer_upload(chunk_size: int) -> None:
    data = b"x" + bytes(range(256)) * 100
    request, wire = botocore_unsigned_trailer_upload(data, chunk_size)
    ctx = auth(request)
    assert ctx.payload.kind is PayloadKind.STREAMING_UNSIGNED_TRAILER
    body = verified_body(io.BytesIO(wire), ctx, request.headers)
    assert read_in_pieces(body, 300) == data


def test_botocore_unsigned_trailer_upload_with_corrupted_data() -> None:
    data = b"x" + bytes(range(256)) * 100
    request, wire = botocore_unsigned_trailer_upload(data, 1000, tamper=True)
    body = verified_body(io.BytesIO(wire), auth(request), request.headers)
    with pytest.raises(BadDigest, match="CRC32"):
        read_in_pieces(body)


class ChunkedInput(io.BytesIO):
    """A WSGI input without Content-Length (HTTP chunked transfer), read until b""."""


def test_streaming_without_content_length() -> None:
    data = b"payload" * 3000
    request, wire = botocore_unsigned_trailer_upload(data, 8192)
    headers = {k: v for k, v in request.headers.items() if k != "content-length"}
    body = verified_body(ChunkedInput(wire), auth(request), headers)
    assert read_in_pieces(body) == data


def aws_example_request(payload: str, signature: str, **extra: str) -> SignedRequest:
    headers = {
        "content-encoding": "aws-chunked",
        "host": "s3.amazonaws.com",
        "x-amz-content-sha256": payload,
        "x-amz-date": "20130524T000000Z",
        "x-amz-decoded-content-length": "66560",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        **{name.replace("_", "-"): value for name, value in extra.items()},
    }
    headers["authorization"] = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={';'.join(sorted(headers))},Signature={signature}"
    )
    return SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", headers)


AWS_SECRETS = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
AWS_TIME = datetime(2013, 5, 24, tzinfo=UTC)


def aws_example_wire(signatures: Iterator[str], trailer: bytes = b"") -> bytes:
    out = bytearray()
    for size in (65536, 1024, 0):
        out += f"{size:x};chunk-signature={next(signatures)}\r\n".encode() + b"a" * size
        out += b"\r\n" if size else b""
    return bytes(out + trailer + b"\r\n")


def test_aws_documentation_example_put_object_in_64_kib_chunks() -> None:
    request = aws_example_request(
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        content_length="66824",
    )
    ctx = auth(request, AWS_SECRETS, now=AWS_TIME)
    wire = aws_example_wire(
        iter(
            (
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            )
        )
    )
    assert len(wire) == 66824
    assert read_in_pieces(verified_body(io.BytesIO(wire), ctx, request.headers)) == b"a" * 66560


def test_aws_documentation_example_with_a_crc32c_trailer() -> None:
    request = aws_example_request(
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
        x_amz_trailer="x-amz-checksum-crc32c",
    )
    ctx = auth(request, AWS_SECRETS, now=AWS_TIME)
    wire = aws_example_wire(
        iter(
            (
                "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
            )
        ),
        b"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:"
        b"d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n",
    )
    body = verified_body(io.BytesIO(wire), ctx, request.headers)
    assert read_in_pieces(body, 65536) == b"a" * 66560
    assert body.checksums == {"x-amz-checksum-crc32c": "sOO8/Q=="}
