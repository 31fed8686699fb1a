"""Users' credentials: password hashing, access key generation, and the admin bootstrap."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

from gateway.ports import MetadataStore
from gateway.records import Actor, User
from gateway.settings import AdminCredentials

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_KEY_ALPHABET = string.ascii_uppercase + string.digits
SYSTEM = Actor(user_id=None, protocol="cli")


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the form ``scrypt$<salt>$<hash>`` (base64)."""
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; compares in constant time."""
    try:
        scheme, salt, expected = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    derived = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **_SCRYPT)
    return hmac.compare_digest(derived, base64.b64decode(expected))


def new_api_token() -> str:
    """A random bearer token for programs (``gwt_`` + 43 URL-safe characters, 256 bits)."""
    return "gwt_" + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """How a bearer token is stored and looked up: its SHA-256 in hex.

    Tokens carry 256 random bits, so a fast hash is enough; the database never holds a
    usable token.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_access_key_id() -> str:
    """A random 20-character access key id, like AWS's (``GW`` + 18 letters and digits)."""
    return "GW" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))


def new_secret() -> str:
    """A random 40-character secret key (URL-safe base64 alphabet)."""
    return secrets.token_urlsafe(30)[:40]


@dataclass(frozen=True)
class AdminBootstrap:
    """What ``ensure_admin`` did; the generated secrets are shown to the operator once."""

    user: User
    access_key_id: str | None
    generated_password: str | None = None
    generated_secret: str | None = None

    @property
    def generated(self) -> bool:
        """Whether any credential was generated (and must be printed once)."""
        return self.generated_password is not None or self.generated_secret is not None


def ensure_admin(metadata: MetadataStore, forced: AdminCredentials) -> AdminBootstrap:
    """Create the admin on first start, or update it to match ``forced`` credentials.

    Fields of ``forced`` that are set win over what the database holds. On a first
    start with nothing forced, a password and a key pair are generated and returned
    so the caller can print them once; later starts generate nothing.
    """
    name = forced.user or "admin"
    user = metadata.get_user(name)
    generated_password = generated_secret = None
    if user is None:
        password = forced.password
        if password is None:
            password = generated_password = secrets.token_urlsafe(18)
        user = metadata.create_user(name, hash_password(password), is_admin=True)
        metadata.record_audit(SYSTEM, "CreateUser", name)
    elif forced.password is not None and not verify_password(forced.password, user.password_hash):
        user = metadata.update_user(
            name, password_hash=hash_password(forced.password), is_admin=True
        )
        metadata.record_audit(SYSTEM, "UpdateUser", name)
    keys = [k for k in metadata.list_access_keys(name) if k.revoked_at is None]
    access_key_id = keys[0].access_key_id if keys else None
    if forced.access_key or forced.secret_key:
        access_key_id = forced.access_key or access_key_id or new_access_key_id()
        secret = forced.secret_key
        if secret is None:
            secret = generated_secret = new_secret()
        found = metadata.lookup_access_key(access_key_id)
        if found is None and any(
            k.access_key_id == access_key_id for k in metadata.list_access_keys()
        ):
            metadata.set_access_key_secret(access_key_id, secret)
        elif found is None:
            metadata.create_access_key(name, access_key_id, secret)
        elif not hmac.compare_digest(found[0].secret, secret):
            metadata.set_access_key_secret(access_key_id, secret)
    elif access_key_id is None:
        access_key_id = new_access_key_id()
        generated_secret = new_secret()
        metadata.create_access_key(name, access_key_id, generated_secret)
    return AdminBootstrap(user, access_key_id, generated_password, generated_secret)
