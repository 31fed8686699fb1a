"""Pre-signed URLs of the native API: who holds one may do exactly one thing until it expires.

A signed URL carries ``expires`` (Unix seconds), ``kid`` (the signing key) and
``signature``: HMAC-SHA256, under a secret derived from that key, of the URL's purpose,
the fields that pin down what it allows (a file id, a part number and size, ...) and
the expiry. Changing any of them, or using the URL after ``expires``, is refused with
403. The secret follows the API key ring, so URLs verify in every gateway process and
survive key rotation until their key is removed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlencode

from gateway.api.problem import ApiError
from gateway.api.router import ApiRequest
from gateway.api.signing_keys import SigningKeys


class UrlSigner:
    """Signs and verifies the query of pre-signed URLs."""

    def __init__(self, keys: SigningKeys, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock

    def sign(self, purpose: str, fields: Sequence[str], ttl_seconds: int) -> tuple[str, int]:
        """The query string (without ``?``) allowing ``purpose`` on ``fields`` for
        ``ttl_seconds``, and the Unix time it expires."""
        key = self._keys.active()
        expires = int(self._clock()) + ttl_seconds
        signature = _mac(key.url_secret, purpose, fields, expires)
        query = urlencode({"expires": expires, "kid": key.record.kid, "signature": signature})
        return query, expires

    def verify(self, request: ApiRequest, purpose: str, fields: Sequence[str]) -> None:
        """Accept the request's signed query for ``purpose`` on ``fields``, or raise
        ApiError 403 (``invalid_signature`` or ``expired``)."""
        expires_text = request.arg("expires") or ""
        kid = request.arg("kid") or ""
        given = request.arg("signature") or ""
        key = self._keys.find(kid) if kid else None
        if key is None or not expires_text.isdigit():
            raise ApiError(403, "invalid_signature", "the URL's signature does not verify")
        expected = _mac(key.url_secret, purpose, fields, int(expires_text))
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise ApiError(403, "invalid_signature", "the URL's signature does not verify")
        if int(expires_text) < self._clock():
            raise ApiError(403, "expired", "the URL has expired")


def _mac(secret: bytes, purpose: str, fields: Sequence[str], expires: int) -> str:
    message = json.dumps([purpose, *fields, expires]).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
