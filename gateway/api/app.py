"""The ``/v1`` WSGI application: route, authenticate, call the handler, answer errors as
problem details.

Every route but the public ones (token issue, pre-signed part and download URLs, the
OpenAPI document) requires ``Authorization: Bearer <access token>``; the
``Authenticator`` decides who that is. A domain error the core raises becomes its
problem answer; anything else is logged with the request id and answered 500 without
detail, never with a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Protocol

from gateway.api.problem import PROBLEM_TYPE, ApiError, domain_problem
from gateway.api.router import ApiRequest, ApiResponse, Route, Router, query_of
from gateway.errors import GatewayError
from gateway.records import User
from gateway.request_metrics import OPERATION_KEY
from gateway.s3.response import StartResponse

log = logging.getLogger(__name__)


class Authenticator(Protocol):
    """Who a request's bearer token names."""

    def user_for(self, environ: dict[str, Any]) -> User:
        """The user of the request's valid access token; ApiError 401 otherwise."""
        ...


class ApiApplication:
    """Serves ``routes`` under ``/v1``."""

    def __init__(self, routes: Iterable[Route], authenticator: Authenticator) -> None:
        self._router = Router(routes)
        self._authenticator = authenticator

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        try:
            route, params = self._router.match(method, str(environ.get("PATH_INFO", "")))
            environ[OPERATION_KEY] = route.handler.__name__
            request = ApiRequest(environ, params, query=query_of(environ))
            if not route.public:
                request.user = self._authenticator.user_for(environ)
            response = route.handler(request)
        except ApiError as error:
            response = _problem(error)
        except GatewayError as error:
            response = _problem(domain_problem(error))
        except Exception:
            log.exception("unhandled error in %s %s", method, environ.get("PATH_INFO"))
            response = _problem(ApiError(500, "internal", "internal error"))
        headers = response.headers
        if isinstance(response.body, bytes) and not any(
            name.lower() == "content-length" for name, _ in headers
        ):
            headers = [*headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {_phrase(response.status)}", headers)
        if method == "HEAD":
            close = getattr(response.body, "close", None)
            if close is not None:
                close()
            return []
        return [response.body] if isinstance(response.body, bytes) else response.body


def _problem(error: ApiError) -> ApiResponse:
    body = error.body()
    return ApiResponse(
        error.status,
        body,
        [
            ("Content-Type", PROBLEM_TYPE),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *error.headers,
        ],
    )


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase
