"""Blob store adapters and the registry that picks one from a URL.

Supported URLs:

``file:///abs/path``
    ``LocalBlobStore`` rooted at ``/abs/path``.
``s3://bucket[/prefix][?endpoint_url=URL&region=NAME&max_attempts=N&connect_timeout=SECONDS&public_endpoint_url=URL]``
    ``S3BlobStore``; every query parameter is optional. ``public_endpoint_url`` is the
    endpoint clients reach for direct uploads (default: ``endpoint_url``). Credentials are never
    part of the URL: boto3 finds them (environment, profile, instance role).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from adapters.blob.faulty import FaultyBlobStore
from adapters.blob.local import LocalBlobStore
from adapters.blob.s3 import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, S3BlobStore
from gateway.ports import BlobStore

__all__ = ["FaultyBlobStore", "LocalBlobStore", "S3BlobStore", "open_blob_store"]

_Number = TypeVar("_Number", int, float)

_S3_PARAMS = frozenset(
    {"endpoint_url", "region", "max_attempts", "connect_timeout", "public_endpoint_url"}
)


def _open_file(url: SplitResult) -> BlobStore:
    if url.netloc not in {"", "localhost"}:
        raise ValueError(f"file blob store URL must not name a host, got {url.netloc!r}")
    if url.query or url.fragment:
        raise ValueError("file blob store URL takes no query or fragment")
    path = unquote(url.path)
    if not path.startswith("/"):
        raise ValueError(f"file blob store URL needs an absolute path (file:///...), got {path!r}")
    return LocalBlobStore(Path(path))


def _open_s3(url: SplitResult) -> BlobStore:
    bucket = url.netloc
    if "@" in bucket:
        # Not echoed: the part before "@" is a secret.
        raise ValueError("s3 blob store URL must not carry credentials; use the environment")
    if not bucket or ":" in bucket:
        raise ValueError(f"s3 blob store URL needs a bucket name (s3://bucket/...), got {bucket!r}")
    if url.fragment:
        raise ValueError("s3 blob store URL takes no fragment")
    prefix = unquote(url.path).strip("/")
    if "//" in prefix:
        raise ValueError(f"s3 blob store URL prefix has an empty segment: {prefix!r}")

    try:
        query = parse_qs(url.query, keep_blank_values=True, strict_parsing=bool(url.query))
    except ValueError as exc:
        raise ValueError(f"s3 blob store URL has a malformed query: {exc}") from exc
    unknown = set(query) - _S3_PARAMS
    if unknown:
        raise ValueError(
            f"unknown s3 blob store URL parameter(s) {sorted(unknown)}; known: {sorted(_S3_PARAMS)}"
        )
    params: dict[str, str] = {}
    for name, values in query.items():
        if len(values) != 1 or not values[0]:
            raise ValueError(f"s3 blob store URL parameter {name!r} needs exactly one value")
        params[name] = values[0]

    for name in ("endpoint_url", "public_endpoint_url"):
        given = params.get(name)
        if given is not None:
            endpoint = urlsplit(given)
            if "@" in endpoint.netloc:
                raise ValueError(f"{name} must not carry credentials; use the environment")
            if endpoint.scheme not in {"http", "https"} or not endpoint.hostname:
                raise ValueError(f"{name} must be an http(s) URL, got {given!r}")
    return S3BlobStore(
        bucket,
        prefix,
        endpoint_url=params.get("endpoint_url"),
        public_endpoint_url=params.get("public_endpoint_url"),
        region=params.get("region"),
        max_attempts=_parse_positive(params, "max_attempts", int, DEFAULT_MAX_ATTEMPTS),
        connect_timeout=_parse_positive(params, "connect_timeout", float, DEFAULT_CONNECT_TIMEOUT),
    )


def _parse_positive(
    params: dict[str, str], name: str, convert: Callable[[str], _Number], default: _Number
) -> _Number:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value: _Number | None = convert(raw)
    except ValueError:
        value = None
    if value is None or not value > 0:
        raise ValueError(f"{name} must be a positive {convert.__name__}, got {raw!r}")
    return value


_OPENERS: dict[str, Callable[[SplitResult], BlobStore]] = {
    "file": _open_file,
    "s3": _open_s3,
}


def open_blob_store(url: str) -> BlobStore:
    """Open the blob store ``url`` names, choosing the adapter by URL scheme.

    Raises ``ValueError`` naming the problem when the scheme is unknown or the
    URL is malformed for its scheme.
    """
    try:
        parsed = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"malformed blob store URL: {exc}") from exc
    opener = _OPENERS.get(parsed.scheme)
    if opener is None:
        raise ValueError(
            f"unsupported blob store URL scheme {parsed.scheme!r}; "
            f"expected one of {', '.join(sorted(_OPENERS))}"
        )
    return opener(parsed)
