"""Access and refresh tokens of the native API.

An access token is a JWT signed by the API key ring (``SigningKeys``): header ``alg``
and ``kid``; claims ``iss``, ``aud``, ``sub`` (the user id), ``name``, ``iat``, ``nbf``,
``exp`` and ``jti``. Verification accepts only the algorithms the ring signs with, and
only the algorithm of the key the ``kid`` names, so ``alg: none`` and HS256-with-a-
public-key confusion fail before any signature check; then the signature, issuer,
audience and time claims are checked, and the user must still exist.

A refresh token is 256 random bits, stored as its SHA-256. Each use replaces it by a
new one of the same family; replaying a replaced token revokes the family
(``ApiCredentialStore.rotate_refresh_token``).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from gateway.api.problem import unauthorized
from gateway.api.signing_keys import ALGORITHMS, SigningKeys
from gateway.core.identity import hash_api_token
from gateway.ports import ApiCredentialStore, MetadataStore
from gateway.records import User

# Clock difference tolerated on ``exp`` and ``nbf`` between gateway processes.
LEEWAY_SECONDS = 30
REFRESH_PREFIX = "gwr_"


@dataclass(frozen=True)
class TokenPolicy:
    """Who issues tokens, for whom, and how long they live."""

    issuer: str
    audience: str
    access_seconds: int
    refresh_seconds: int


class TokenService:
    """Issues, refreshes, revokes and verifies the API's tokens."""

    def __init__(
        self,
        keys: SigningKeys,
        credentials: ApiCredentialStore,
        metadata: MetadataStore,
        policy: TokenPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._credentials = credentials
        self._metadata = metadata
        self._policy = policy
        self._clock = clock

    def issue(self, user: User) -> dict[str, Any]:
        """A new token pair for ``user``, in the OAuth 2 token response shape."""
        refresh = self._new_refresh()
        self._credentials.create_refresh_token(
            user.id, hash_api_token(refresh), uuid.uuid4().hex, self._refresh_expiry()
        )
        return self._response(user, refresh)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A new token pair in exchange for a live refresh token, which is used up.

        ApiError 401 ``invalid_grant`` when the token is unknown, expired, revoked or
        replayed (a replay also revokes every token of its family).
        """
        new_refresh = self._new_refresh()
        user = self._credentials.rotate_refresh_token(
            hash_api_token(refresh_token),
            hash_api_token(new_refresh),
            self._refresh_expiry(),
            datetime.fromtimestamp(self._clock(), UTC),
        )
        if user is None:
            raise unauthorized("the refresh token is not valid", "invalid_grant")
        return self._response(user, new_refresh)

    def revoke(self, refresh_token: str) -> None:
        """Revoke ``refresh_token`` and every token refreshed from the same sign-in.
        Unknown tokens are ignored, as RFC 7009 asks."""
        self._credentials.revoke_refresh_token(
            hash_api_token(refresh_token), datetime.fromtimestamp(self._clock(), UTC)
        )

    def user_of(self, access_token: str) -> User:
        """The user a valid access token names; ApiError 401 ``invalid_token`` otherwise."""
        claims = self._claims(access_token)
        user = self._metadata.get_user(str(claims.get("name", "")))
        if user is None or str(user.id) != str(claims.get("sub")):
            raise unauthorized("the token's user no longer exists")
        return user

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = _header(token)
            key = self._keys.find(str(header.get("kid", "")))
            if key is None or header.get("alg") != key.record.algorithm:
                raise unauthorized("the token is not signed by a key of this gateway")
            decoded = jwt.decode(token, key.jose, algorithms=[key.record.algorithm])
            now = int(self._clock())
            jwt.JWTClaimsRegistry(
                now=now,
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self._policy.issuer},
                aud={"essential": True, "value": self._policy.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except JoseError as error:
            raise unauthorized(f"the token is not valid: {error.error}") from None
        except (ValueError, TypeError, KeyError):
            raise unauthorized("the token is malformed") from None
        return dict(decoded.claims)

    def _response(self, user: User, refresh: str) -> dict[str, Any]:
        key = self._keys.active()
        now = int(self._clock())
        claims = {
            "iss": self._policy.issuer,
            "aud": self._policy.audience,
            "sub": str(user.id),
            "name": user.name,
            "iat": now,
            "nbf": now,
            "exp": now + self._policy.access_seconds,
            "jti": uuid.uuid4().hex,
        }
        header = {"alg": key.record.algorithm, "kid": key.record.kid, "typ": "JWT"}
        access = jwt.encode(header, claims, key.jose, algorithms=list(ALGORITHMS))
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self._policy.access_seconds,
            "refresh_token": refresh,
        }

    def _refresh_expiry(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC) + timedelta(
            seconds=self._policy.refresh_seconds
        )

    @staticmethod
    def _new_refresh() -> str:
        return REFRESH_PREFIX + secrets.token_urlsafe(32)


def _header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, unverified (it only picks the key)."""
    first = token.split(".", 1)[0]
    decoded = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    if not isinstance(decoded, dict):
        raise ValueError("the token header is not an object")
    return decoded


class BearerAuthenticator:
    """``Authenticator`` of ``/v1``: ``Authorization: Bearer <access token>``."""

    def __init__(self, tokens: TokenService) -> None:
        self._tokens = tokens

    def user_for(self, environ: dict[str, Any]) -> User:
        scheme, _, value = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthorized("send Authorization: Bearer <access token>", "invalid_request")
        return self._tokens.user_of(value.strip())
