"""TLS for both listeners: the SSL adapter they share, and self-signed pairs for localhost.

The gateway terminates TLS itself when a certificate and its private key are configured
(``tls_cert`` / ``tls_key``). Both files are checked before anything is served, so a missing,
unreadable or mismatched pair stops the start with a message naming the file, never a
traceback or a listener that fails on its first handshake.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cheroot.ssl.builtin import BuiltinSSLAdapter
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.settings import SettingsError

# cheroot completes the handshake of every new connection on its accepting thread; a
# client that connects and never sends its hello would stall every other client for the
# (long) request timeout, so the handshake gets a short one of its own.
HANDSHAKE_TIMEOUT_SECONDS = 10.0

CERT_FILE_NAME = "cert.pem"
KEY_FILE_NAME = "key.pem"
LOCALHOST_NAMES = ("localhost",)
LOCALHOST_ADDRESSES = ("127.0.0.1", "::1")


class TlsError(SettingsError):
    """The configured certificate or key cannot be served, or a pair cannot be written."""


class GatewaySSLAdapter(BuiltinSSLAdapter):
    """cheroot's builtin adapter on a TLS 1.2+ context, with a bounded handshake.

    Clients may not renegotiate a TLS 1.2 session: each renegotiation is a full handshake
    the server pays for, and nothing here needs one.
    """

    def __init__(self, certificate: Path, private_key: Path) -> None:
        super().__init__(str(certificate), str(private_key))
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.options |= ssl.OP_NO_RENEGOTIATION

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, Any]]:
        """Handshake within ``HANDSHAKE_TIMEOUT_SECONDS``; cheroot restores its own timeout."""
        sock.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
        # cheroot's stub leaves ``wrap`` untyped.
        wrapped: tuple[ssl.SSLSocket, dict[str, Any]] = super().wrap(sock)  # type: ignore[no-untyped-call]
        return wrapped


def ssl_adapter(cert: Path, key: Path) -> GatewaySSLAdapter:
    """The adapter serving ``cert`` with ``key``; one instance may serve both listeners.

    Raises TlsError naming the file when either cannot be read, is not PEM, the key is
    encrypted, or the key does not belong to the certificate.
    """
    certificate = _load_certificate(cert)
    private_key = _load_private_key(key)
    if _public_der(certificate.public_key()) != _public_der(private_key.public_key()):
        raise TlsError(f"TLS key {key} does not match the certificate {cert}")
    try:
        return GatewaySSLAdapter(cert, key)
    except OSError as exc:  # ssl.SSLError included
        raise TlsError(f"cannot use TLS certificate {cert} with key {key}: {exc}") from exc


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsError(f"cannot read TLS {what} {path}: {exc.strerror or exc}") from exc


def _load_certificate(path: Path) -> x509.Certificate:
    data = _read(path, "certificate")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise TlsError(f"TLS certificate {path} is not a PEM certificate") from None


def _load_private_key(path: Path) -> PrivateKeyTypes:
    data = _read(path, "key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TlsError(f"TLS key {path} is encrypted; the gateway needs it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsError(f"TLS key {path} is not a PEM private key") from None


def _public_der(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class CertificatePair:
    """The PEM files of a certificate and of its private key."""

    cert: Path
    key: Path


def write_self_signed(directory: Path, *, days: int = 365, force: bool = False) -> CertificatePair:
    """Write a new self-signed certificate for localhost and its key under ``directory``.

    The certificate (``cert.pem``) names ``localhost``, ``127.0.0.1`` and ``::1`` and is
    valid for ``days`` days from now; the key (``key.pem``, P-256, unencrypted) is created
    with mode 0600. Existing files are replaced only with ``force``; otherwise TlsError
    names them and nothing is written. Clients trust the pair by taking the certificate
    as their CA bundle.
    """
    if days < 1:
        raise TlsError("a certificate must be valid for at least one day")
    pair = CertificatePair(directory / CERT_FILE_NAME, directory / KEY_FILE_NAME)
    existing = [str(path) for path in (pair.cert, pair.key) if path.exists()]
    if existing and not force:
        raise TlsError(f"not replacing {' and '.join(existing)}; pass --force to replace")
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _self_signed_certificate(key, days)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write(pair.key, key_pem, mode=0o600, replace=force)
        _write(pair.cert, cert_pem, mode=0o644, replace=force)
    except OSError as exc:
        raise TlsError(f"cannot write the TLS pair under {directory}: {exc}") from exc
    return pair


def _self_signed_certificate(key: ec.EllipticCurvePrivateKey, days: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    alternative_names: list[x509.GeneralName] = [x509.DNSName(n) for n in LOCALHOST_NAMES]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in LOCALHOST_ADDRESSES]
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A little slack for clients whose clock runs slightly behind.
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _write(path: Path, content: bytes, *, mode: int, replace: bool) -> None:
    """Write ``content`` to ``path`` with permissions ``mode`` from the first byte on.

    Without ``replace`` an existing file is an error (FileExistsError), never truncated.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    descriptor = os.open(path, flags, mode)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(content)
