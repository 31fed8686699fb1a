"""One authenticated S3 call: what every handler receives."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.storage import Storage
from gateway.core.writer import Readable
from gateway.records import Actor, User
from gateway.s3.errors import EntityTooLarge, InvalidArgument, MissingContentLength
from gateway.s3.request import S3Request
from gateway.s3.xml import MAX_REQUEST_XML

MAX_PUT_SIZE = 5 * 1024**3


@dataclass(frozen=True)
class Call:
    """An authenticated request, its caller, and the services to answer it with.

    ``body`` yields the request payload already decoded (aws-chunked) and verified
    (signature, checksums) as it is read; ``declared_length`` is the payload size the
    client announced (``x-amz-decoded-content-length`` or ``Content-Length``), None
    when it announced none (chunked transfer coding).
    """

    storage: Storage
    request: S3Request
    user: User
    actor: Actor
    region: str
    body: Readable
    declared_length: int | None

    @property
    def bucket(self) -> str:
        """The addressed bucket (the router guarantees there is one)."""
        assert self.request.bucket is not None
        return self.request.bucket

    @property
    def key(self) -> str:
        """The addressed key (the router guarantees there is one)."""
        assert self.request.key is not None
        return self.request.key

    def upload_length(self) -> int | None:
        """The declared payload size of an upload; EntityTooLarge past 5 GiB.

        Without any declared size S3 answers MissingContentLength; a chunked transfer
        coding (Transfer-Encoding: chunked) is accepted and its size checked at the end.
        """
        if self.declared_length is None and "chunked" not in (
            self.request.header("transfer-encoding") or ""
        ):
            raise MissingContentLength()
        if self.declared_length is not None and self.declared_length > MAX_PUT_SIZE:
            raise EntityTooLarge()
        return self.declared_length

    def read_document(self) -> bytes:
        """The whole (small) request body, at most the XML size limit."""
        data = b""
        while chunk := self.body.read(64 * 1024):
            data += chunk
            if len(data) > MAX_REQUEST_XML:
                raise InvalidArgument("The request body is too large.")
        return data
