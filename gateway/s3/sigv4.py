"""AWS Signature Version 4 verification for S3 requests, and the verified request body.

Pure: no I/O beyond the body stream handed to ``verified_body``, no WSGI
beyond ``SignedRequest.from_environ``. Two ways of signing are accepted:

* the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
  Signature=...`` header;
* a presigned URL (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``).

S3's canonical request differs from other services': the path is URI-encoded
once per segment (not twice) and never normalised. Clients do not all encode
alike, so a signature is accepted when it matches either the canonical form
(every path segment and query name/value percent-decoded, then encoded with
the SigV4 rules) or the request exactly as sent (raw path, raw query pairs
sorted). Either form pins the method, resource, parameters and signed
headers, so neither lets a signature be replayed against another request.
S3 reads ``+`` in a query as a space (in a path it is a ``+``); query
parsers downstream MUST do the same.

Secrets and computed signatures never appear in errors or logs.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

from gateway.core.writer import ReadableInto
from gateway.s3.aws_chunked import (
    EMPTY_SHA256,
    MIN_SIGNED_CHUNK_SIZE,
    AwsChunkedDecoder,
    ChunkSigning,
    Readable,
    StickyReader,
)
from gateway.s3.checksums import BodyChecksums
from gateway.s3.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    IncompleteBody,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    MissingContentLength,
    MissingSecurityHeader,
    NotImplemented_,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)

ALGORITHM = "AWS4-HMAC-SHA256"
#: The longest validity S3 allows a presigned URL, in seconds (seven days).
MAX_PRESIGNED_EXPIRES = 604800

_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_UNSUPPORTED_MECHANISM = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)


class PayloadKind(enum.Enum):
    """What ``x-amz-content-sha256`` says about the request body."""

    SHA256 = "sha256"
    UNSIGNED = "UNSIGNED-PAYLOAD"
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


@dataclass(frozen=True)
class PayloadMode:
    """How the body is vouched for: ``sha256`` is the digest when ``kind`` is SHA256."""

    kind: PayloadKind
    sha256: bytes | None = None

    @property
    def chunked(self) -> bool:
        """The body is aws-chunked framed (one of the ``STREAMING-*`` forms)."""
        return self.kind.value.startswith("STREAMING-")

    @property
    def signed_chunks(self) -> bool:
        """Every chunk carries a chained signature."""
        return self.kind in (PayloadKind.STREAMING_SIGNED, PayloadKind.STREAMING_SIGNED_TRAILER)

    @property
    def trailer(self) -> bool:
        """Trailers (checksums announced by ``x-amz-trailer``) follow the last chunk."""
        return self.kind.value.endswith("-TRAILER")

    @classmethod
    def parse(cls, value: str) -> PayloadMode:
        """Interpret an ``x-amz-content-sha256`` value.

        Raises NotImplemented_ for other ``STREAMING-*`` forms (SigV4a) and
        InvalidArgument for anything else that is not a hex SHA-256.
        """
        for kind in PayloadKind:
            if kind is not PayloadKind.SHA256 and value == kind.value:
                return cls(kind)
        if _SHA256_HEX.fullmatch(value):
            return cls(PayloadKind.SHA256, bytes.fromhex(value))
        if value.startswith("STREAMING-"):
            raise NotImplemented_(f"x-amz-content-sha256 {value!r} is not implemented.")
        raise InvalidArgument(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
            "or a valid sha256 value."
        )


@dataclass(frozen=True)
class AuthContext:
    """Who signed a request, and how its body is to be verified.

    ``signing`` carries the signing key (never shown by ``repr``), scope,
    request time and seed signature that chunk signatures chain to.
    """

    access_key: str
    payload: PayloadMode
    signing: ChunkSigning


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that SigV4 signs.

    ``raw_path`` is the path exactly as sent on the request line (still
    percent-encoded, no query); ``query_string`` the raw query; ``headers``
    maps lower-case names to values, repeated headers joined with ``,``.
    """

    method: str
    raw_path: str
    query_string: str
    headers: Mapping[str, str]

    @classmethod
    def from_environ(cls, environ: Mapping[str, object]) -> SignedRequest:
        """Build from a WSGI environ.

        The path and query come from ``REQUEST_URI`` (cheroot sets it to the
        raw request-target) so that percent-encoding survives; without it they
        are rebuilt from ``PATH_INFO`` and ``QUERY_STRING``. Header values,
        which WSGI decodes as latin-1, and any raw non-ASCII in the request
        target are re-read as UTF-8 where valid.
        """
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if not isinstance(value, str):
                continue
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").lower()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                name = key.replace("_", "-").lower()
            else:
                continue
            headers[name] = _from_latin1(value)
        uri = environ.get("REQUEST_URI")
        if isinstance(uri, str) and uri:
            uri = _from_latin1(uri)
            if not uri.startswith("/"):
                parts = urlsplit(uri)
                uri = parts.path + ("?" + parts.query if parts.query else "")
            raw_path, _, query = uri.partition("?")
        else:
            path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
            raw_path = quote(path.encode("latin-1"), safe="/")
            query = str(environ.get("QUERY_STRING", ""))
        return cls(str(environ.get("REQUEST_METHOD", "GET")), raw_path or "/", query, headers)


def _from_latin1(value: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def authenticate(
    request: SignedRequest,
    lookup_secret: Callable[[str], str | None],
    *,
    now: datetime,
    region: str | None = None,
    max_skew: timedelta = timedelta(minutes=15),
) -> AuthContext:
    """Verify the SigV4 signature of ``request`` and say who signed it.

    ``lookup_secret`` maps an access key to its secret, None when unknown.
    ``now`` MUST be timezone-aware. When ``region`` is given, the credential
    scope MUST name it; otherwise any region is accepted.

    Raises AccessDenied for an unsigned (anonymous) request, an expired or
    not yet valid presigned URL, or unsigned ``x-amz-*`` headers;
    InvalidRequest for other signature versions; InvalidArgument when both
    forms are present; AuthorizationHeaderMalformed or
    AuthorizationQueryParametersError for malformed auth data;
    RequestTimeTooSkewed; InvalidAccessKeyId; SignatureDoesNotMatch.
    The body is not looked at: pass the result to ``verified_body``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    pairs = _query_pairs(request.query_string)
    names = {unquote(name) for name, _ in pairs}
    presigned = any(name in names for name in _PRESIGN_PARAMS)
    authorization = request.headers.get("authorization")
    if authorization is not None and presigned:
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified"
        )
    if authorization is not None:
        claim = _header_claim(request, authorization, now, max_skew)
    elif presigned:
        claim = _presigned_claim(request, pairs, now, max_skew)
    elif {"AWSAccessKeyId", "Signature"} <= names:
        raise InvalidRequest(_UNSUPPORTED_MECHANISM)
    else:
        raise AccessDenied()
    return claim.verify(request, pairs, lookup_secret, region)


@dataclass(frozen=True)
class Credential:
    """The credential scope of a signature: ``<access key>/<date>/<region>/s3/aws4_request``."""

    access_key: str
    date: str
    region: str

    @property
    def scope(self) -> str:
        """The scope string, as signed."""
        return f"{self.date}/{self.region}/s3/aws4_request"


@dataclass(frozen=True)
class _Claim:
    """What a request says about its own signature, parsed but not yet checked."""

    credential: Credential
    amz_date: str
    signed_headers: str
    signature: str
    payload: PayloadMode
    payload_hash: str
    presigned: bool
    error: type[S3Error]

    def verify(
        self,
        request: SignedRequest,
        pairs: list[tuple[str, str]],
        lookup_secret: Callable[[str], str | None],
        region: str | None,
    ) -> AuthContext:
        credential = self.credential
        if region is not None and credential.region != region:
            raise self.error(
                f"The region {credential.region!r} is wrong; expecting {region!r}",
                Region=region,
            )
        secret = lookup_secret(credential.access_key)
        if secret is None:
            raise InvalidAccessKeyId(AWSAccessKeyId=credential.access_key)
        key = signing_key(secret, credential.date, credential.region)
        if self.presigned:
            pairs = [(n, v) for n, v in pairs if unquote(n) != "X-Amz-Signature"]
        canonical = self._canonical_requests(request, pairs)
        received = self.signature.encode("utf-8")
        matched = False
        for canonical_request in canonical:
            string_to_sign = "\n".join(
                (
                    ALGORITHM,
                    self.amz_date,
                    credential.scope,
                    hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
                )
            )
            expected = hmac.new(key, string_to_sign.encode("utf-8"), "sha256").hexdigest()
            matched |= hmac.compare_digest(expected.encode("ascii"), received)
        if not matched:
            raise SignatureDoesNotMatch(AWSAccessKeyId=credential.access_key)
        return AuthContext(
            access_key=credential.access_key,
            payload=self.payload,
            signing=ChunkSigning(
                signing_key=key,
                amz_date=self.amz_date,
                scope=credential.scope,
                seed_signature=self.signature,
            ),
        )

    def _canonical_requests(
        self, request: SignedRequest, pairs: list[tuple[str, str]]
    ) -> list[str]:
        names = [name.strip().lower() for name in self.signed_headers.split(";")]
        headers = "".join(
            f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in names
        )
        tail = (headers, self.signed_headers, self.payload_hash)
        # S3 reads "+" in a query as a space, as HTML forms do; in a path it is a "+".
        query = ((n.replace("+", " "), v.replace("+", " ")) for n, v in pairs)
        encoded = (
            _canonical_path(request.raw_path),
            _canonical_query((_uri_encode(n), _uri_encode(v)) for n, v in query),
        )
        as_sent = (request.raw_path, _canonical_query(pairs))
        forms = [encoded] if encoded == as_sent else [encoded, as_sent]
        return ["\n".join((request.method.upper(), *form, *tail)) for form in forms]


def signing_key(secret: str, date: str, region: str) -> bytes:
    """The SigV4 key derived from ``secret`` for one day (``YYYYMMDD``) and region of S3."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), "sha256").digest()
    return key


def _uri_encode(component: str) -> str:
    return quote(unquote_to_bytes(component), safe="-_.~")


def _canonical_path(raw_path: str) -> str:
    return "/".join(_uri_encode(segment) for segment in raw_path.split("/"))


def _canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    """Raw ``(name, value)`` pairs, still percent-encoded; a bare name has value ``""``."""
    pairs: list[tuple[str, str]] = []
    for piece in query_string.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((name, value))
    return pairs


def parse_credential(value: str, error: type[S3Error]) -> Credential:
    """Split a credential; ``error`` (an S3 error class) when it is malformed."""
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not parts[0]:
        raise error(
            "The Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    access_key, date, region, service, terminal = parts
    if not re.fullmatch(r"\d{8}", date):
        raise error(f"Incorrect date format {date!r}. It must be in the format yyyyMMdd.")
    if service != "s3":
        raise error(f'Incorrect service {service!r}. This endpoint belongs to "s3".')
    if terminal != "aws4_request":
        raise error(f'Incorrect terminal {terminal!r}. This endpoint uses "aws4_request".')
    return Credential(access_key, date, region)


def _parse_amz_date(value: str) -> datetime | None:
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _check_signed_headers(
    request: SignedRequest, signed_headers: str, error: type[S3Error]
) -> None:
    names = {name.strip().lower() for name in signed_headers.split(";")}
    if "host" not in names:
        raise error("The host header must be signed.")
    unsigned = sorted(n for n in request.headers if n.startswith("x-amz-") and n not in names)
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )


def _header_claim(
    request: SignedRequest, authorization: str, now: datetime, max_skew: timedelta
) -> _Claim:
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme != ALGORITHM:
        raise InvalidRequest(_UNSUPPORTED_MECHANISM)
    fields = _authorization_fields(rest)
    credential = parse_credential(fields["Credential"], AuthorizationHeaderMalformed)
    signed_headers = fields["SignedHeaders"]
    _check_signed_headers(request, signed_headers, AuthorizationHeaderMalformed)

    amz_date = request.headers.get("x-amz-date")
    if amz_date is not None:
        when = _parse_amz_date(amz_date)
    else:
        when = _parse_http_date(request.headers.get("date", ""))
        amz_date = when.strftime(_AMZ_DATE_FORMAT) if when is not None else ""
    if when is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if credential.date != amz_date[:8]:
        raise AuthorizationHeaderMalformed(
            "The authorization header is malformed; Invalid credential date. "
            "Date is not the same as X-Amz-Date."
        )
    if abs(now - when) > max_skew:
        raise RequestTimeTooSkewed(
            RequestTime=amz_date,
            ServerTime=now.astimezone(UTC).strftime(_AMZ_DATE_FORMAT),
            MaxAllowedSkewMilliseconds=str(int(max_skew.total_seconds() * 1000)),
        )

    payload_hash = request.headers.get("x-amz-content-sha256")
    if payload_hash is None:
        # Generic SigV4 signers (curl --aws-sigv4 on a GET) omit the header and sign the
        # hash of the body. Without a body that hash is known, so accept it; a body of
        # unknown hash would have to be buffered before verifying, so S3's rule stands.
        if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in (
            request.headers
        ):
            raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
        payload_hash = EMPTY_SHA256
    return _Claim(
        credential=credential,
        amz_date=amz_date,
        signed_headers=signed_headers,
        signature=fields["Signature"],
        payload=PayloadMode.parse(payload_hash),
        payload_hash=payload_hash,
        presigned=False,
        error=AuthorizationHeaderMalformed,
    )


def _authorization_fields(rest: str) -> dict[str, str]:
    """Split ``Credential=..., SignedHeaders=..., Signature=...``.

    A comma that does not start a known field belongs to the value before it,
    so access keys containing commas survive.
    """
    fields: dict[str, str] = {}
    last = ""
    for piece in rest.split(","):
        name, equals, value = piece.strip().partition("=")
        if equals and name in ("Credential", "SignedHeaders", "Signature"):
            if name in fields:
                raise AuthorizationHeaderMalformed(f"The authorization field {name} is repeated.")
            fields[name] = value.strip()
            last = name
        elif last:
            fields[last] += "," + piece
        else:
            raise AuthorizationHeaderMalformed(
                f"The authorization header component {piece.strip()!r} is malformed."
            )
    if fields.keys() != {"Credential", "SignedHeaders", "Signature"}:
        raise AuthorizationHeaderMalformed(
            "The authorization header requires three components: "
            "Credential, SignedHeaders, and Signature."
        )
    if not _SIGNATURE.fullmatch(fields["Signature"]):
        raise AuthorizationHeaderMalformed("The Signature must be 64 lower-case hex digits.")
    return fields


def _parse_http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _presigned_claim(
    request: SignedRequest,
    pairs: list[tuple[str, str]],
    now: datetime,
    max_skew: timedelta,
) -> _Claim:
    error = AuthorizationQueryParametersError
    params: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = unquote(raw_name)
        if name in _PRESIGN_PARAMS:
            if name in params:
                raise error(f"The query parameter {name} is repeated.")
            params[name] = unquote(raw_value)
    if params.keys() != set(_PRESIGN_PARAMS):
        raise error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    credential = parse_credential(params["X-Amz-Credential"], error)
    signed_headers = params["X-Amz-SignedHeaders"]
    _check_signed_headers(request, signed_headers, error)
    if not _SIGNATURE.fullmatch(params["X-Amz-Signature"]):
        raise error("X-Amz-Signature must be 64 lower-case hex digits.")

    amz_date = params["X-Amz-Date"]
    when = _parse_amz_date(amz_date)
    if when is None:
        raise error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if credential.date != amz_date[:8]:
        raise error(
            f"Invalid credential date {credential.date!r}. "
            f"This date is not the same as X-Amz-Date: {amz_date[:8]!r}."
        )
    try:
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        raise error("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise error("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGNED_EXPIRES:
        raise error(
            "X-Amz-Expires must be less than a week (in seconds); that is, "
            f"the given X-Amz-Expires must be less than {MAX_PRESIGNED_EXPIRES} seconds"
        )
    if when - now > max_skew:
        raise AccessDenied("Request is not valid yet")
    if now > when + timedelta(seconds=expires):
        raise AccessDenied(
            "Request has expired",
            Expires=(when + timedelta(seconds=expires)).strftime(_AMZ_DATE_FORMAT),
            ServerTime=now.astimezone(UTC).strftime(_AMZ_DATE_FORMAT),
        )

    payload_hash = request.headers.get("x-amz-content-sha256", PayloadKind.UNSIGNED.value)
    return _Claim(
        credential=credential,
        amz_date=amz_date,
        signed_headers=signed_headers,
        signature=params["X-Amz-Signature"],
        payload=PayloadMode.parse(payload_hash),
        payload_hash=payload_hash,
        presigned=True,
        error=error,
    )


class BoundedInput:
    """Reads no further than ``length`` bytes into ``stream`` (PEP 3333 forbids it)."""

    def __init__(self, stream: Readable, length: int) -> None:
        self._stream = stream
        self._fill = _filler(stream)
        self._remaining = length

    def read(self, size: int = -1, /) -> bytes:
        if size < 0 or size > self._remaining:
            size = self._remaining
        if size == 0:
            return b""
        data = self._stream.read(size)
        self._remaining -= len(data)
        return data

    def readinto(self, buffer: memoryview, /) -> int:
        """Like ``read(len(buffer))``, into ``buffer``."""
        count = self._fill(buffer[: self._remaining]) if self._remaining else 0
        self._remaining -= count
        return count


def _filler(stream: Readable) -> Callable[[memoryview], int]:
    """How to fill the start of a buffer from ``stream``: with its own ``readinto`` (no
    copy) when it has one, else with ``read`` and a copy. Returns the count, 0 at the end."""
    if isinstance(stream, ReadableInto):
        return stream.readinto

    def fill(buffer: memoryview) -> int:
        data = stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    return fill


class VerifiedBody(StickyReader):
    """The decoded payload of a request, verified as it is read.

    ``read(size)`` returns at most ``size`` bytes (everything when negative)
    and ``b""`` once the payload is complete AND every check has passed:
    length (IncompleteBody), ``x-amz-content-sha256`` digest
    (XAmzContentSHA256Mismatch), chunk and trailer signatures
    (SignatureDoesNotMatch), framing (IncompleteBody, InvalidRequest,
    InvalidChunkSizeError) and declared checksums (BadDigest). Failures are
    raised by the ``read`` that reaches them, at the latest by the one that
    would have returned ``b""``, and are sticky. Callers MUST NOT commit what
    they read before ``read`` has returned ``b""``.
    """

    def __init__(
        self,
        source: Readable,
        *,
        length: int | None,
        sha256: bytes | None,
        checksums: BodyChecksums,
        decoder: AwsChunkedDecoder | None,
    ) -> None:
        """Wrap ``source``; ``length`` is the payload size owed, None when unknown."""
        self._source = source
        self._fill = _filler(source)
        self._length = length
        self._expected_sha256 = sha256
        self._sha256 = hashlib.sha256()
        self._checksums = checksums
        self._decoder = decoder
        self._received = 0
        self._done = False

    @property
    def checksums(self) -> Mapping[str, str]:
        """The verified ``x-amz-checksum-*``/``content-md5`` values, complete at the end."""
        return self._checksums.values

    def _read(self, size: int) -> bytes:
        if self._done or size == 0:
            return b""
        data = self._source.read(size)
        if data:
            self._accept(data)
            return data
        self._finish()
        return b""

    def _readinto(self, buffer: memoryview) -> int:
        if self._done or not buffer:
            return 0
        count = self._fill(buffer)
        if count:
            self._accept(buffer[:count])
            return count
        self._finish()
        return 0

    def _accept(self, data: bytes | memoryview) -> None:
        """Account for payload bytes just read."""
        self._received += len(data)
        if self._length is not None and self._received > self._length:
            raise self._incomplete()
        if self._expected_sha256 is not None:
            self._sha256.update(data)
        self._checksums.update(data)

    def _finish(self) -> None:
        """Run the checks due at the end of the payload; raise the first that fails."""
        if self._length is not None and self._received != self._length:
            raise self._incomplete()
        if self._expected_sha256 is not None and self._sha256.digest() != self._expected_sha256:
            raise XAmzContentSHA256Mismatch(
                ClientComputedContentSHA256=self._expected_sha256.hex(),
                S3ComputedContentSHA256=self._sha256.hexdigest(),
            )
        self._checksums.verify(self._decoder.trailers if self._decoder is not None else {})
        self._done = True

    def _incomplete(self) -> S3Error:
        return IncompleteBody(
            NumberBytesExpected=str(self._length),
            NumberBytesProvided=str(self._received),
        )


def _length_header(headers: Mapping[str, str], name: str, error: type[S3Error]) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    if not _DIGITS.fullmatch(value.strip()):
        raise error(f"Invalid value {value!r} for header {name}.")
    return int(value)


def verified_body(stream: Readable, ctx: AuthContext, headers: Mapping[str, str]) -> VerifiedBody:
    """Wrap the raw request body ``stream`` so that what it yields is verified.

    ``ctx`` comes from ``authenticate``; ``headers`` are the request headers
    (lower-case names). Reads of ``stream`` are bounded by ``Content-Length``
    when given. ``STREAMING-*`` bodies are decoded from aws-chunked framing
    and MUST declare ``x-amz-decoded-content-length`` (MissingSecurityHeader
    when absent, MissingContentLength when not a number). Checksum
    declarations are validated at once; see ``BodyChecksums``.
    """
    content_length = _length_header(headers, "content-length", InvalidArgument)
    source: Readable = stream if content_length is None else BoundedInput(stream, content_length)
    checksums = BodyChecksums(headers)
    mode = ctx.payload
    if checksums.announced_trailers and not mode.trailer:
        raise InvalidRequest("x-amz-trailer requires a STREAMING-*-TRAILER x-amz-content-sha256.")
    if not mode.chunked:
        return VerifiedBody(
            source, length=content_length, sha256=mode.sha256, checksums=checksums, decoder=None
        )
    decoded_length = _length_header(headers, "x-amz-decoded-content-length", MissingContentLength)
    if decoded_length is None:
        raise MissingSecurityHeader(
            "Missing required header for this request: x-amz-decoded-content-length"
        )
    decoder = AwsChunkedDecoder(
        source,
        signing=ctx.signing if mode.signed_chunks else None,
        trailers_allowed=mode.trailer,
        min_chunk_size=MIN_SIGNED_CHUNK_SIZE if mode.signed_chunks else 1,
    )
    return VerifiedBody(
        decoder, length=decoded_length, sha256=None, checksums=checksums, decoder=decoder
    )
