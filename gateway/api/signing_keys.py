"""The key ring that signs the native API's access tokens and pre-signed URLs.

Keys live in the database (``ApiCredentialStore``), so every gateway process signs and
verifies with the same ones. The newest key that is not retired signs; every stored key
verifies, so a rotation (``gateway api-keys rotate``) invalidates nothing issued
before it, and removing a key (``gateway api-keys remove``) invalidates all it signed.
A process re-reads the ring every ``REFRESH_SECONDS``, and at once (at most every
``UNKNOWN_KID_SECONDS``) when asked for a key id it does not know, which is how a key
another process created becomes usable here.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import OKPKey, RSAKey

from gateway.ports import ApiCredentialStore
from gateway.records import SigningKey
from gateway.settings import SIGNING_ALGORITHMS

# The JWS algorithms keys may sign with: EdDSA over Ed25519 (by its RFC 9864 name) and
# RSASSA-PKCS1-v1_5 with SHA-256.
ALGORITHMS = SIGNING_ALGORITHMS
REFRESH_SECONDS = 60.0
UNKNOWN_KID_SECONDS = 5.0
RSA_BITS = 3072

JoseKey = OKPKey | RSAKey


@dataclass(frozen=True)
class LoadedKey:
    """A stored key with its parsed JOSE form and the secret its pre-signed URLs use."""

    record: SigningKey
    jose: JoseKey
    url_secret: bytes


def new_signing_key(algorithm: str, now: datetime | None = None) -> SigningKey:
    """A freshly generated key for ``algorithm`` (one of ``ALGORITHMS``)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"signing algorithm must be one of {', '.join(ALGORITHMS)}")
    created = now or datetime.now(UTC)
    kid = f"{created:%Y%m%d}-{secrets.token_hex(6)}"
    key: JoseKey
    if algorithm == "Ed25519":
        key = OKPKey.generate_key("Ed25519", parameters={"kid": kid})
    else:
        key = RSAKey.generate_key(RSA_BITS, parameters={"kid": kid})
    return SigningKey(kid, algorithm, json.dumps(key.as_dict(private=True)), created)


def _load(record: SigningKey) -> LoadedKey:
    data = json.loads(record.private_jwk)
    jose: JoseKey = OKPKey.import_key(data) if data.get("kty") == "OKP" else RSAKey.import_key(data)
    url_secret = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway pre-signed url v1"
    ).derive(record.private_jwk.encode())
    return LoadedKey(record, jose, url_secret)


class SigningKeys:
    """The cached key ring of one process; thread-safe."""

    def __init__(
        self,
        store: ApiCredentialStore,
        algorithm: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._algorithm = algorithm
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, LoadedKey] = {}
        self._active: LoadedKey | None = None
        self._loaded_at = float("-inf")
        self._missed_at = float("-inf")

    def ensure_active(self) -> None:
        """Create a signing key of the configured algorithm when no usable one exists."""
        self._reload()
        if self._active is None:
            self._store.add_signing_key(new_signing_key(self._algorithm))
            self._reload()

    def active(self) -> LoadedKey:
        """The key that signs now; creates one when there is none."""
        if self._clock() - self._loaded_at > REFRESH_SECONDS:
            self._reload()
        if self._active is None:
            self.ensure_active()
        assert self._active is not None
        return self._active

    def find(self, kid: str) -> LoadedKey | None:
        """The key ``kid``, or None when no stored key has that id."""
        now = self._clock()
        if now - self._loaded_at > REFRESH_SECONDS:
            self._reload()
        found = self._keys.get(kid)
        if found is None and now - self._missed_at > UNKNOWN_KID_SECONDS:
            self._missed_at = now
            self._reload()
            found = self._keys.get(kid)
        return found

    def _reload(self) -> None:
        records = self._store.signing_keys()
        with self._lock:
            keys: dict[str, LoadedKey] = {}
            for record in records:
                cached = self._keys.get(record.kid)
                keys[record.kid] = (
                    LoadedKey(record, cached.jose, cached.url_secret) if cached else _load(record)
                )
            self._keys = keys
            signing = [key for key in keys.values() if key.record.retired_at is None]
            self._active = signing[0] if signing else None
            self._loaded_at = self._clock()
