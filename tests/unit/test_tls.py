"""gateway.tls: the adapter's checks of a certificate pair, and self-signed pairs."""

from __future__ import annotations

import re
import socket
import ssl
import time
from pathlib import Path

import pytest
from cheroot.errors import FatalSSLAlert
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway import tls
from gateway.tls import CertificatePair, TlsError, ssl_adapter, write_self_signed


@pytest.fixture
def pair(tmp_path: Path) -> CertificatePair:
    return write_self_signed(tmp_path / "pair", days=1)


def test_adapter_speaks_tls_1_2_and_later_without_renegotiation(pair: CertificatePair) -> None:
    adapter = ssl_adapter(pair.cert, pair.key)
    assert adapter.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert adapter.context.options & ssl.OP_NO_RENEGOTIATION
    assert adapter.context.verify_mode == ssl.CERT_NONE  # no client certificates asked for


def test_a_silent_client_is_dropped_after_the_handshake_timeout(
    pair: CertificatePair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls, "HANDSHAKE_TIMEOUT_SECONDS", 0.3)
    adapter = ssl_adapter(pair.cert, pair.key)
    server_side, client_side = socket.socketpair()
    started = time.monotonic()
    with client_side, pytest.raises(FatalSSLAlert):
        adapter.wrap(server_side)
    assert time.monotonic() - started < 5


def test_encrypted_key_is_refused_by_name(tmp_path: Path, pair: CertificatePair) -> None:
    key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(TlsError, match=re.escape(f"TLS key {encrypted} is encrypted")):
        ssl_adapter(pair.cert, encrypted)


def test_key_of_another_algorithm_does_not_match(tmp_path: Path, pair: CertificatePair) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(TlsError, match="does not match the certificate"):
        ssl_adapter(pair.cert, other)


def test_unreadable_paths_are_named(tmp_path: Path, pair: CertificatePair) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(TlsError, match=re.escape(f"cannot read TLS certificate {tmp_path}")):
        ssl_adapter(tmp_path, pair.key)
    with pytest.raises(TlsError, match=re.escape(f"cannot read TLS key {missing}")):
        ssl_adapter(pair.cert, missing)


def test_self_signed_pair_is_not_replaced_without_force(pair: CertificatePair) -> None:
    before = pair.cert.read_bytes(), pair.key.read_bytes()
    with pytest.raises(TlsError, match="pass --force"):
        write_self_signed(pair.cert.parent)
    assert (pair.cert.read_bytes(), pair.key.read_bytes()) == before
    write_self_signed(pair.cert.parent, force=True)
    assert pair.key.read_bytes() != before[1]
    assert pair.key.stat().st_mode & 0o777 == 0o600


def test_self_signed_pair_needs_a_lifetime(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="at least one day"):
        write_self_signed(tmp_path, days=0)
    assert not list(tmp_path.iterdir())
