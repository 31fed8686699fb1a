"""Encryption at rest: the master key and the keys derived from it for each bucket owner.

Every owner gets two independent 256-bit keys, derived with HKDF-SHA256 from the master
key, a fixed salt and an ``info`` naming the purpose and the owner's id:

* the *chunk key* seals chunk payloads with AES-256-GCM (``sealed_envelope``);
* the *content-id key* makes a chunk's content id the keyed BLAKE3 of its plain bytes.

Because ids are keyed per owner, identical plaintext stored by two owners gets two ids
and two stored copies: dedup never crosses owners, and an id reveals nothing about the
content to whoever cannot derive the owner's keys. Keys are never logged, printed or
stored; only the owner's id travels in a chunk's header.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from dataclasses import dataclass, field

import blake3
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.ports import Bytes

MASTER_KEY_SIZE = 32
SALT = b"storage-gateway encryption at rest v1"
CHUNK_KEY_INFO = b"chunk-key/aes-256-gcm/owner/"
CONTENT_ID_KEY_INFO = b"content-id-key/blake3/owner/"


class MasterKeyError(ValueError):
    """A master key that is not 32 bytes written in hex or base64."""


def parse_master_key(text: str) -> bytes:
    """The 32 bytes of a master key written as 64 hex digits or in (URL-safe) base64.

    Raises MasterKeyError, whose message never contains the value.
    """
    value = text.strip()
    if len(value) == 2 * MASTER_KEY_SIZE:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    padded = value + "=" * (-len(value) % 4)
    for altchars in (b"+/", b"-_"):
        try:
            key = base64.b64decode(padded.encode("ascii"), altchars, validate=True)
        except (binascii.Error, UnicodeEncodeError):
            continue
        if len(key) == MASTER_KEY_SIZE:
            return key
    raise MasterKeyError(
        f"the master key must be {MASTER_KEY_SIZE} random bytes written as "
        f"{2 * MASTER_KEY_SIZE} hex digits or in base64 (`gateway master-key generate` makes one)"
    )


def generate_master_key() -> str:
    """A new random master key in base64, as ``parse_master_key`` reads it."""
    return base64.b64encode(secrets.token_bytes(MASTER_KEY_SIZE)).decode("ascii")


@dataclass(frozen=True)
class OwnerKeys:
    """The keys of one bucket owner: the chunk cipher and the content-id key."""

    owner_id: int
    cipher: AESGCM = field(repr=False)
    content_id_key: bytes = field(repr=False)

    def content_id(self, plain: Bytes) -> str:
        """The owner's content id of ``plain``: its BLAKE3 digest keyed with the owner's key."""
        return blake3.blake3(plain, key=self.content_id_key).hexdigest()


def _derive(master: bytes, purpose: bytes, owner_id: int) -> bytes:
    hkdf = HKDF(SHA256(), MASTER_KEY_SIZE, SALT, purpose + str(owner_id).encode("ascii"))
    return hkdf.derive(master)


class Keyring:
    """Derives (once, then caches) the keys of each owner from the master key. Thread-safe."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_SIZE:
            raise MasterKeyError(f"the master key must be {MASTER_KEY_SIZE} bytes")
        self._master = master_key
        self._owners: dict[int, OwnerKeys] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Keyring(<master key hidden>)"

    def owner(self, owner_id: int) -> OwnerKeys:
        """The keys of owner ``owner_id`` (a non-negative user id)."""
        keys = self._owners.get(owner_id)
        if keys is None:
            if owner_id < 0:
                raise ValueError(f"owner id must be >= 0, got {owner_id}")
            keys = OwnerKeys(
                owner_id,
                AESGCM(_derive(self._master, CHUNK_KEY_INFO, owner_id)),
                _derive(self._master, CONTENT_ID_KEY_INFO, owner_id),
            )
            with self._lock:
                keys = self._owners.setdefault(owner_id, keys)
        return keys
