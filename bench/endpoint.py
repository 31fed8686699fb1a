"""Where a server listens and with which credentials: an S3 API (with a boto3 client for
it) or a WebDAV share."""

from __future__ import annotations

import base64
import contextlib
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"


@dataclass(frozen=True)
class Endpoint:
    """An S3 API base URL (``http://127.0.0.1:PORT``, path-style) and its SigV4 credentials."""

    url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = REGION

    def object_url(self, bucket: str, key: str) -> str:
        """The path-style URL of ``key`` in ``bucket``; ``key`` must be URL-safe as given."""
        return f"{self.url}/{bucket}/{key}"

    def s3_client(self) -> S3Client:
        """A new boto3 S3 client: path-style addressing, SigV4, botocore's other defaults."""
        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
        return session.client("s3", endpoint_url=self.url, config=config)


def create_bucket(endpoint: Endpoint, bucket: str) -> bool:
    """Create ``bucket``; True when it exists afterwards (also when it already did).

    Other S3 errors propagate, so this can serve as a readiness probe.
    """
    client = endpoint.s3_client()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)
    client.head_bucket(Bucket=bucket)
    return True


@dataclass(frozen=True)
class DavEndpoint:
    """A WebDAV share's base URL (``http://127.0.0.1:PORT/dav``) and its Basic credentials."""

    url: str
    user: str
    password: str = field(repr=False)

    @property
    def base_path(self) -> str:
        """The URL's path, the prefix of every request path (``/dav``)."""
        return "/" + urllib.parse.urlsplit(self.url).path.strip("/")

    @property
    def netloc(self) -> str:
        """``host:port`` of the URL."""
        return urllib.parse.urlsplit(self.url).netloc

    def path(self, relative: str) -> str:
        """The request path of ``relative`` (``bucket/dir/file``, URL-safe as given)."""
        return f"{self.base_path.rstrip('/')}/{relative.lstrip('/')}"

    def resource_url(self, relative: str) -> str:
        """The full URL of ``relative`` (``bucket/dir/file``, URL-safe as given)."""
        return f"{self.url.rstrip('/')}/{relative.lstrip('/')}"

    def authorization(self) -> str:
        """The value of the ``Authorization`` header (HTTP Basic)."""
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"
