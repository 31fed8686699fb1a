"""``/v1/auth``: sign in for a token pair, refresh it, revoke it.

``POST /v1/auth/token`` takes a JSON object with ``grant_type`` (optional where the
other members make it plain):

- ``password``: ``username`` and ``password``;
- ``access_key``: an S3 key pair, ``access_key_id`` and ``secret_access_key``;
- ``refresh_token``: ``refresh_token``.

It answers the OAuth 2 token response (``access_token``, ``token_type: Bearer``,
``expires_in``, ``refresh_token``), never cached. Wrong credentials of any kind are
refused alike, with 401 ``invalid_grant``. ``POST /v1/auth/revoke`` with
``{"token": <refresh token>}`` revokes it and every token refreshed from the same
sign-in; it answers 200 whether or not the token was known (RFC 7009).
``GET /v1/me`` tells the bearer of an access token who they are.
"""

from __future__ import annotations

import hmac
from typing import Any

from gateway.api.problem import ApiError, unauthorized
from gateway.api.router import ApiRequest, ApiResponse, Route, json_response, text_member
from gateway.api.tokens import TokenService
from gateway.core.identity import hash_password, verify_password
from gateway.ports import MetadataStore
from gateway.records import User

NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
# Compared against when the user does not exist, so that a wrong name costs the same
# scrypt as a wrong password.
_DECOY_HASH = hash_password("decoy password of no user")
GRANT_TYPES = ("password", "access_key", "refresh_token")


class AuthRoutes:
    """The token endpoints."""

    def __init__(self, tokens: TokenService, metadata: MetadataStore) -> None:
        self._tokens = tokens
        self._metadata = metadata

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/v1/auth/token", self.issue_token, public=True),
            Route("POST", "/v1/auth/revoke", self.revoke_token, public=True),
            Route("GET", "/v1/me", self.who_am_i),
        ]

    def issue_token(self, request: ApiRequest) -> ApiResponse:
        body = request.json_object()
        grant = body.get("grant_type") or _implied_grant(body)
        if grant == "refresh_token":
            pair = self._tokens.refresh(_text(body, "refresh_token"))
        elif grant == "password":
            pair = self._tokens.issue(
                self._password_user(_text(body, "username"), _text(body, "password"))
            )
        elif grant == "access_key":
            pair = self._tokens.issue(
                self._key_user(_text(body, "access_key_id"), _text(body, "secret_access_key"))
            )
        else:
            raise ApiError(
                400,
                "unsupported_grant_type",
                f"grant_type must be one of {', '.join(GRANT_TYPES)}",
            )
        return json_response(200, pair, NO_STORE)

    def revoke_token(self, request: ApiRequest) -> ApiResponse:
        self._tokens.revoke(_text(request.json_object(), "token"))
        return json_response(200, {"revoked": True}, NO_STORE)

    def who_am_i(self, request: ApiRequest) -> ApiResponse:
        user = request.caller
        return json_response(200, {"id": user.id, "name": user.name, "is_admin": user.is_admin})

    def _password_user(self, name: str, password: str) -> User:
        user = self._metadata.get_user(name)
        matches = verify_password(password, user.password_hash if user else _DECOY_HASH)
        if user is None or not matches:
            raise unauthorized("wrong user name or password", "invalid_grant")
        return user

    def _key_user(self, access_key_id: str, secret: str) -> User:
        found = self._metadata.lookup_access_key(access_key_id)
        if found is None or not hmac.compare_digest(found[0].secret.encode(), secret.encode()):
            raise unauthorized("wrong access key or secret", "invalid_grant")
        return found[1]


def _implied_grant(body: dict[str, Any]) -> str | None:
    if "refresh_token" in body:
        return "refresh_token"
    if "access_key_id" in body:
        return "access_key"
    if "username" in body:
        return "password"
    return None


def _text(body: dict[str, Any], name: str) -> str:
    return text_member(body.get(name), name)
