"""A signed-in connection to a gateway's ``/v1`` API.

Credentials come from the environment: ``GATEWAY_ACCESS_KEY``/``GATEWAY_SECRET_KEY`` (an S3
key pair) or ``GATEWAY_USERNAME``/``GATEWAY_PASSWORD``. The connection signs in with
``POST /v1/auth/token`` and, when a request answers 401 ``invalid_token`` (the access token
expired), trades the refresh token for a new pair once and repeats the request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


class ClientError(Exception):
    """A request the gateway refused or could not answer; the message says why."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Credentials:
    """What ``POST /v1/auth/token`` accepts: an S3 key pair or a user name and password."""

    body: Mapping[str, str]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """The key pair if both key variables are set, else the user name and password;
        ClientError when neither pair is complete."""
        env = os.environ if environ is None else environ
        access, secret = env.get("GATEWAY_ACCESS_KEY"), env.get("GATEWAY_SECRET_KEY")
        if access and secret:
            return cls({"access_key_id": access, "secret_access_key": secret})
        user, password = env.get("GATEWAY_USERNAME"), env.get("GATEWAY_PASSWORD")
        if user and password:
            return cls({"username": user, "password": password})
        raise ClientError(
            "no credentials: set GATEWAY_ACCESS_KEY and GATEWAY_SECRET_KEY "
            "(or GATEWAY_USERNAME and GATEWAY_PASSWORD)"
        )


def problem_message(response: httpx.Response) -> ClientError:
    """The error a refused request stands for, from its problem+json body when it has one."""
    code: str | None = None
    detail = response.reason_phrase
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        code = document.get("code") or document.get("error")
        detail = document.get("detail") or document.get("title") or detail
    label = f" {code}" if code else ""
    return ClientError(
        f"{response.request.method} {response.request.url.path}: "
        f"{response.status_code}{label}: {detail}",
        response.status_code,
        code,
    )


class Connection:
    """Authorized requests to one gateway; safe to share between threads."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        ca_file: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.base_url = url.rstrip("/")
        verify: Any = ca_file if ca_file else True
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._http = httpx.Client(verify=verify, timeout=timeout, limits=limits)
        self._credentials = credentials
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def http(self) -> httpx.Client:
        """The unauthenticated client, for pre-signed URLs."""
        return self._http

    def absolute(self, url: str) -> str:
        """``url`` made absolute: pre-signed URLs may be relative to the gateway."""
        return urljoin(self.base_url + "/", url)

    def _token(self, body: Mapping[str, str]) -> None:
        try:
            response = self._http.post(f"{self.base_url}/v1/auth/token", json=dict(body))
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.base_url}: {exc}") from exc
        if response.status_code != 200:
            raise problem_message(response)
        answer = response.json()
        self._access = answer["access_token"]
        self._refresh = answer.get("refresh_token")

    def _current_token(self, stale: str | None) -> str:
        """The access token, signing in on first use and refreshing when ``stale`` (the
        token a request was refused with) is still the current one."""
        with self._lock:
            if self._access is None:
                self._token(self._credentials.body)
            elif stale is not None and self._access == stale:
                try:
                    if self._refresh is None:
                        raise ClientError("no refresh token")
                    self._token({"refresh_token": self._refresh})
                except ClientError:
                    self._token(self._credentials.body)
            assert self._access is not None
            return self._access

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send an authorized request to ``path`` (under the base URL) and return the
        answer whatever its status; ClientError if the gateway cannot be reached."""
        stale: str | None = None
        for _ in range(2):
            token = self._current_token(stale)
            headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
            try:
                response = self._http.request(
                    method, f"{self.base_url}{path}", headers=headers, **kwargs
                )
            except httpx.HTTPError as exc:
                raise ClientError(f"{method} {path}: {exc}") from exc
            if response.status_code != 401 or not _token_refused(response):
                return response
            stale = token
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
        return response

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """An authorized request whose body is read as it arrives (``iter_bytes``)."""
        stale: str | None = None
        for attempt in range(2):
            token = self._current_token(stale)
            headers = {**kwargs.get("headers", {}), "Authorization": f"Bearer {token}"}
            try:
                with self._http.stream(
                    method, f"{self.base_url}{path}", **{**kwargs, "headers": headers}
                ) as response:
                    if response.status_code == 401 and attempt == 0:
                        response.read()
                        if _token_refused(response):
                            stale = token
                            continue
                    yield response
                    return
            except httpx.HTTPError as exc:
                raise ClientError(f"{method} {path}: {exc}") from exc

    def json(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> Any:
        """The JSON answer of an authorized request; ClientError unless its status is one
        of ``expect``."""
        response = self.request(method, path, **kwargs)
        if response.status_code not in expect:
            raise problem_message(response)
        return response.json()


def _token_refused(response: httpx.Response) -> bool:
    try:
        document = response.json()
    except ValueError:
        return False
    return isinstance(document, dict) and "invalid_token" in (
        document.get("code"),
        document.get("error"),
    )
