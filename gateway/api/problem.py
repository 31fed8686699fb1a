"""Errors of the native API, answered as RFC 9457 problem details (``application/problem+json``).

Every refusal of a ``/v1`` route is an ``ApiError``: handlers raise it, and the
application turns it (and the core's domain errors, see ``domain_problem``) into a JSON
body ``{"type", "title", "status", "detail", "code"}``. ``code`` is a stable machine
name (``invalid_token``, ``not_found``, ...); ``detail`` is for people and never holds
a secret.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from gateway import errors

PROBLEM_TYPE = "application/problem+json"


class ApiError(Exception):
    """A refusal with its HTTP ``status``, stable ``code`` and human ``detail``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers

    def body(self) -> bytes:
        """The problem document of this error."""
        return problem_body(self.status, self.code, self.detail)


def problem_body(status: int, code: str, detail: str) -> bytes:
    """A problem-details document: ``type`` is ``about:blank``, ``title`` the status phrase."""
    return json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()


def unauthorized(detail: str, code: str = "invalid_token") -> ApiError:
    """401 with the bearer challenge RFC 6750 asks for."""
    return ApiError(
        401,
        code,
        detail,
        headers=(("WWW-Authenticate", f'Bearer realm="gateway", error="{code}"'),),
    )


# The core's domain errors, most specific first, with the status and code they answer.
_DOMAIN: tuple[tuple[type[errors.GatewayError], int, str], ...] = (
    (errors.ScanPendingError, 409, "scan_pending"),
    (errors.QuarantinedError, 403, "quarantined"),
    (errors.AccessDeniedError, 403, "forbidden"),
    (errors.NotFoundError, 404, "not_found"),
    (errors.ConflictError, 409, "conflict"),
    (errors.PreconditionFailedError, 412, "precondition_failed"),
    (errors.InvalidNameError, 400, "invalid_name"),
    (errors.ChecksumMismatchError, 400, "checksum_mismatch"),
    (errors.IncompleteBodyError, 400, "incomplete_body"),
    (errors.EntityTooLargeError, 413, "too_large"),
    (errors.RetryableError, 503, "retry"),
    (errors.FileChecksumMismatchError, 422, "checksum_mismatch"),
    (errors.FileIncompleteError, 422, "incomplete"),
    (errors.FileNotReadyError, 409, "not_finalized"),
    (errors.FileRejectedError, 400, "rejected"),
    (errors.QuotaExceededError, 403, "quota_exceeded"),
)


def domain_problem(error: errors.GatewayError) -> ApiError:
    """The API's answer to a domain error the core raised; 500 ``internal`` for one that
    no route should let through."""
    for kind, status, code in _DOMAIN:
        if isinstance(error, kind):
            headers = (("Retry-After", "1"),) if status == 503 else ()
            return ApiError(status, code, str(error) or HTTPStatus(status).phrase, headers=headers)
    return ApiError(500, "internal", "internal error")
