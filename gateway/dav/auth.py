"""Who is calling the WebDAV front end: HTTP Basic, a bearer token, or nobody.

Basic credentials are the user's name and password; the password is checked against
its scrypt hash. scrypt is slow on purpose, and file managers send the credentials
with every request, so a successful check is remembered under a keyed hash of the
stored hash and the password: a changed password no longer matches, a wrong one
never did, and the cache holds no password. Bearer tokens are looked up by their
SHA-256. Without credentials a request may only read a bucket open to anonymous
reading; everything else is answered 401 with a Basic challenge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from typing import Any

from gateway.core.identity import hash_api_token, verify_password
from gateway.ports import MetadataStore
from gateway.records import User

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND"})
REALM = "storage-gateway"


class Unauthorized(Exception):
    """The request carries no acceptable credentials; answer 401 with a challenge."""


class DavAuthenticator:
    """Resolves the ``Authorization`` header of a request to a user. Thread-safe."""

    def __init__(self, metadata: MetadataStore, cache_size: int = 1024) -> None:
        self._metadata = metadata
        self._cache_key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def authenticate(self, environ: dict[str, Any]) -> User | None:
        """The caller, or None for an anonymous request; raises Unauthorized when the
        credentials are wrong or the scheme is unknown."""
        header = str(environ.get("HTTP_AUTHORIZATION", "")).strip()
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return self._basic(value.strip())
        if scheme == "bearer":
            user = self._metadata.lookup_api_token(hash_api_token(value.strip()))
            if user is None:
                raise Unauthorized("invalid or expired token")
            return user
        raise Unauthorized(f"unsupported authorization scheme {scheme!r}")

    def _basic(self, value: str) -> User:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized("malformed Basic credentials") from exc
        name, separator, password = decoded.partition(":")
        user = self._metadata.get_user(name) if separator else None
        if user is None or not user.password_hash:
            raise Unauthorized("wrong user name or password")
        if not self._check(password, user.password_hash):
            raise Unauthorized("wrong user name or password")
        return user

    def _check(self, password: str, stored_hash: str) -> bool:
        fingerprint = hmac.new(
            self._cache_key, f"{stored_hash}\0{password}".encode(), hashlib.sha256
        ).digest()
        with self._lock:
            if fingerprint in self._verified:
                self._verified.move_to_end(fingerprint)
                return True
        if not verify_password(password, stored_hash):
            return False
        with self._lock:
            self._verified[fingerprint] = None
            while len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return True


def challenge_headers() -> list[tuple[str, str]]:
    """The ``WWW-Authenticate`` challenge of a 401 answer."""
    return [("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')]
