"""Routing of ``/v1`` requests: path templates, the request a handler sees, JSON replies.

A route's template names path segments in braces (``/v1/files/{file_id}/parts``); a
segment matches one path segment, percent-decoded. Handlers take an ``ApiRequest`` and
return an ``ApiResponse``; they raise ``ApiError`` to refuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from gateway.api.problem import ApiError
from gateway.records import User

JSON_TYPE = "application/json"
# The largest JSON request body any route accepts.
MAX_JSON_BODY = 1 << 20


@dataclass
class ApiRequest:
    """One request to a route: its WSGI environ, path parameters and query, and the user
    its bearer token names (None on the public routes)."""

    environ: dict[str, Any]
    params: dict[str, str]
    user: User | None = None
    query: dict[str, list[str]] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return str(self.environ.get("REQUEST_METHOD", "GET"))

    @property
    def caller(self) -> User:
        """The authenticated user; only public routes see none."""
        if self.user is None:
            raise ApiError(401, "invalid_token", "authentication required")
        return self.user

    def arg(self, name: str) -> str | None:
        """The last value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[-1] if values else None

    def int_arg(self, name: str, default: int, low: int, high: int) -> int:
        """Query parameter ``name`` as an integer from ``low`` to ``high``, ``default`` when
        absent; ApiError 400 for anything else (an empty value included)."""
        text = self.arg(name)
        if text is None:
            return default
        if not text.isdigit() or not low <= int(text) <= high:
            raise ApiError(
                400, "invalid_request", f"{name} must be an integer from {low} to {high}"
            )
        return int(text)

    def header(self, name: str) -> str | None:
        """Request header ``name`` (any case), or None."""
        key = "HTTP_" + name.upper().replace("-", "_")
        if key == "HTTP_CONTENT_TYPE":
            key = "CONTENT_TYPE"
        elif key == "HTTP_CONTENT_LENGTH":
            key = "CONTENT_LENGTH"
        value = self.environ.get(key)
        return None if value is None else str(value)

    def content_length(self) -> int | None:
        """The declared body length; ApiError 400 when it is not a number."""
        text = self.environ.get("CONTENT_LENGTH") or ""
        if not text:
            return None
        if not text.isdigit():
            raise ApiError(400, "invalid_request", "Content-Length is not a number")
        return int(text)

    def json(self) -> Any:
        """The body parsed as JSON; ApiError 415 for another media type, 413 above
        ``MAX_JSON_BODY``, 400 when it does not parse."""
        media = (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if media != JSON_TYPE:
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        length = self.content_length()
        if length is None:
            raise ApiError(411, "length_required", "Content-Length is required")
        if length > MAX_JSON_BODY:
            raise ApiError(413, "too_large", f"a JSON body holds at most {MAX_JSON_BODY} bytes")
        raw = self.environ["wsgi.input"].read(length) if length else b""
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiError(400, "invalid_json", f"the body is not valid JSON: {error}") from None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; ApiError 400 for any other JSON value."""
        value = self.json()
        if not isinstance(value, dict):
            raise ApiError(400, "invalid_request", "the body must be a JSON object")
        return value


@dataclass
class ApiResponse:
    """A handler's answer: status code, headers and a body (bytes or an iterable of them)."""

    status: int
    body: bytes | Iterable[bytes] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(
    status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()
) -> ApiResponse:
    """``payload`` serialized as the JSON body of a ``status`` answer."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return ApiResponse(status, body, [("Content-Type", JSON_TYPE), *headers])


def text_member(value: Any, name: str) -> str:
    """A JSON member that must be a non-empty string; ApiError 400 otherwise."""
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_request", f"{name} must be a non-empty string")
    return value


def integer_member(value: Any, name: str) -> int:
    """A JSON member that must be an integer (not a boolean); ApiError 400 otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "invalid_request", f"{name} must be an integer")
    return value


def timestamp(value: datetime | None) -> str | None:
    """How times are written in JSON answers: RFC 3339 in UTC with ``Z``."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


Handler = Callable[[ApiRequest], ApiResponse]


@dataclass(frozen=True)
class Route:
    """``method`` on ``template`` served by ``handler``; ``public`` routes need no token."""

    method: str
    template: str
    handler: Handler
    public: bool = False


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


class Router:
    """Finds the route of a method and path; 404 for an unknown path, 405 (with
    ``Allow``) for a known path and another method."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = [(route, _compile(route.template)) for route in routes]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{method} is not allowed here",
                headers=(("Allow", ", ".join(sorted(set(allowed)))),),
            )
        raise ApiError(404, "not_found", f"no route {path}")


def query_of(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The parsed query string (blank values kept)."""
    return parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
