"""The S3 WSGI application: parse, authenticate, route, answer, log.

Every request is authenticated (SigV4 header or presigned query) before its body is
read, except a CORS preflight (no credentials by design), a browser form upload (its
signed policy authenticates it) and an anonymous read of something public. Responses to
requests carrying Origin get the CORS headers of the bucket's matching rule. Errors of
any kind become S3 XML error documents; unexpected ones are logged with their request
id and answered InternalError without internals.
"""

from __future__ import annotations

import io
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import parse_qsl, urlencode

from gateway.core.storage import Storage
from gateway.errors import GatewayError
from gateway.ports import BlobStoreError
from gateway.records import User
from gateway.request_body import request_body
from gateway.request_metrics import OPERATION_KEY
from gateway.s3.anonymous import anonymous_owner, is_anonymous
from gateway.s3.call import Call
from gateway.s3.cors import actual_request_headers
from gateway.s3.errormap import to_s3_error
from gateway.s3.errors import AccessDenied, InternalError, S3Error
from gateway.s3.handlers import bucket_config, post_object
from gateway.s3.request import S3Request, WsgiEnviron
from gateway.s3.response import Response, StartResponse, error_response
from gateway.s3.router import route
from gateway.s3.sigv4 import SignedRequest, authenticate, verified_body
from gateway.settings import Settings

log = logging.getLogger("gateway.s3")
access_log = logging.getLogger("gateway.access")

SERVER = "storage-gateway"
# Query parameters of presigned URLs that must never reach a log.
SECRET_PARAMETERS = frozenset({"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token"})


def _loggable_query(query_string: str) -> str:
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return urlencode([(k, "***" if k in SECRET_PARAMETERS else v) for k, v in pairs])


class S3Application:
    """WSGI callable serving the S3 REST API over a Storage."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self._storage = storage
        self._settings = settings
        self._max_skew = timedelta(seconds=settings.max_clock_skew_seconds)

    def __call__(
        self, environ: WsgiEnviron, start_response: StartResponse
    ) -> Iterable[bytes | memoryview]:
        request_id = secrets.token_hex(8).upper()
        started = time.monotonic()
        operation = "-"
        resource = str(environ.get("PATH_INFO", "/"))
        request: S3Request | None = None
        try:
            request = S3Request.parse(environ, self._settings.s3_domains)
            resource = request.resource
            operation, handler = self._dispatch(request, request_id)
            environ[OPERATION_KEY] = operation
            response = handler()
        except S3Error as exc:
            response = error_response(exc, resource, request_id)
        except (GatewayError, BlobStoreError) as exc:
            mapped = to_s3_error(exc)
            if mapped.status >= 500:
                log.exception("request %s failed", request_id)
            response = error_response(mapped, resource, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            response = error_response(InternalError(), resource, request_id)
        if request is not None and request.header("origin") and request.method != "OPTIONS":
            response.headers.update(self._cors_headers(request, request_id))
        response.headers.update(
            {"x-amz-request-id": request_id, "x-amz-id-2": request_id, "Server": SERVER}
        )
        self._log(environ, operation, response, request_id, started)
        return response.send(start_response, head=environ.get("REQUEST_METHOD") == "HEAD")

    def _dispatch(self, request: S3Request, request_id: str) -> tuple[str, Callable[[], Response]]:
        """The operation's name and its handler bound to the caller.

        CORS preflights and browser form uploads are routed before authentication: a
        preflight carries no credentials, a form upload signs its policy instead.
        Requests without credentials may only read what is public.
        """
        if request.method == "OPTIONS":
            return "PreflightCors", partial(bucket_config.PreflightCors, self._storage, request)
        if post_object.is_form_upload(request):
            return "PostObject", partial(post_object.PostObject, self._storage, request, request_id)
        if not is_anonymous(request):
            call = self._authenticate(request, request_id)
            operation, handler = route(request)
            return operation, partial(handler, call)
        try:
            operation, handler = route(request)
        except S3Error:
            raise AccessDenied() from None
        call = Call(
            storage=self._storage,
            request=request,
            user=anonymous_owner(self._storage, request, operation),
            actor=request.actor(request_id, None, None),
            region=self._settings.region,
            body=io.BytesIO(),
            declared_length=None,
        )
        return operation, partial(handler, call)

    def _cors_headers(self, request: S3Request, request_id: str) -> dict[str, str]:
        """The CORS headers of the bucket's matching rule for a request carrying Origin."""
        if request.bucket is None:
            return {}
        try:
            bucket = self._storage.metadata.get_bucket(request.bucket)
        except Exception:
            # The answer is already made; failing to decorate it must not replace it.
            log.exception("request %s: reading the CORS configuration failed", request_id)
            return {}
        if bucket is None:
            return {}
        return actual_request_headers(bucket.cors, request.headers, request.method)

    def _authenticate(self, request: S3Request, request_id: str) -> Call:
        found: dict[str, User] = {}

        def lookup_secret(access_key_id: str) -> str | None:
            match = self._storage.metadata.lookup_access_key(access_key_id)
            if match is None:
                return None
            found["user"] = match[1]
            return match[0].secret

        context = authenticate(
            SignedRequest.from_environ(request.environ),
            lookup_secret,
            now=datetime.now(UTC),
            max_skew=self._max_skew,
        )
        user = found["user"]
        environ = request.environ
        actor = request.actor(request_id, user.id, context.access_key)
        declared = request.header("x-amz-decoded-content-length") or request.header(
            "content-length"
        )
        call = Call(
            storage=self._storage,
            request=request,
            user=user,
            actor=actor,
            region=self._settings.region,
            body=verified_body(request_body(environ), context, request.headers),
            declared_length=int(declared) if declared and declared.isdigit() else None,
        )
        return call

    @staticmethod
    def _log(
        environ: WsgiEnviron,
        operation: str,
        response: Response,
        request_id: str,
        started: float,
    ) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        query = _loggable_query(str(environ.get("QUERY_STRING", "")))
        access_log.info(
            "%s %s %s%s %s %d %.1fms %s",
            environ.get("REMOTE_ADDR", "-"),
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO", ""),
            "?" + query if query else "",
            operation,
            response.status,
            (time.monotonic() - started) * 1000,
            request_id,
        )
