"""unseal(seal(x)) == x under the sealing owner's keys; any change to a sealed chunk,
another owner's keys or another master key raises ChunkIntegrityError."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import envelope, sealed_envelope
from gateway.core.keyring import Keyring
from gateway.errors import ChunkIntegrityError

KEYRING = Keyring(os.urandom(32))
OWNER = KEYRING.owner(7)

bodies = st.one_of(
    st.binary(max_size=4096),
    st.builds(lambda word, n: word * n, st.binary(min_size=1, max_size=16), st.integers(1, 2000)),
)


def _sealed(body: bytes, level: int = 3) -> bytes:
    """The sealed chunk as a blob store keeps it: header, then sealed payload."""
    return b"".join(sealed_envelope.seal(body, OWNER, level))


@settings(max_examples=200, deadline=None)
@given(body=bodies, level=st.integers(1, 19))
def test_round_trip(body: bytes, level: int) -> None:
    plain, keys = sealed_envelope.unseal(_sealed(body, level), KEYRING)
    assert plain == body
    assert keys.owner_id == OWNER.owner_id


@settings(max_examples=300, deadline=None)
@given(body=bodies, data=st.data())
def test_any_single_byte_change_is_detected(body: bytes, data: st.DataObject) -> None:
    blob = bytearray(_sealed(body))
    position = data.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ChunkIntegrityError):
        sealed_envelope.unseal(bytes(blob), KEYRING)


@pytest.mark.parametrize("position", range(sealed_envelope.HEADER.size))
def test_every_header_byte_is_authenticated(position: int) -> None:
    blob = bytearray(_sealed(b"header fields " * 100))
    blob[position] ^= 0x01
    with pytest.raises(ChunkIntegrityError):
        sealed_envelope.unseal(bytes(blob), KEYRING)


@settings(max_examples=50, deadline=None)
@given(body=bodies, cut=st.integers(0, 64))
def test_truncation_is_detected(body: bytes, cut: int) -> None:
    blob = _sealed(body)
    with pytest.raises(ChunkIntegrityError):
        sealed_envelope.unseal(blob[: max(len(blob) - 1 - cut, 0)], KEYRING)


def test_owner_id_in_header_selects_the_keys() -> None:
    """Relabelling a chunk with another owner's id makes it undecryptable, not readable."""
    blob = bytearray(_sealed(b"owner bound"))
    blob[16:24] = (8).to_bytes(8, "big")
    with pytest.raises(ChunkIntegrityError, match="decryption failed"):
        sealed_envelope.unseal(bytes(blob), KEYRING)


def test_wrong_master_key_and_missing_keyring_fail_cleanly() -> None:
    blob = _sealed(b"secret")
    with pytest.raises(ChunkIntegrityError, match="another master key"):
        sealed_envelope.unseal(blob, Keyring(os.urandom(32)))
    with pytest.raises(ChunkIntegrityError, match="no master key is configured"):
        sealed_envelope.unseal(blob, None)


def test_plaintext_never_appears_and_nonces_differ() -> None:
    body = b"MARKER-plaintext-" * 64
    first, second = _sealed(body), _sealed(body)
    assert b"MARKER" not in first and first != second


def test_plain_envelope_rejects_a_sealed_chunk_and_vice_versa() -> None:
    sealed = _sealed(b"abc")
    plain = b"".join(envelope.encode(b"abc" * 100))
    assert sealed_envelope.is_sealed(sealed) and not sealed_envelope.is_sealed(plain)
    with pytest.raises(ChunkIntegrityError, match="unsupported format version 2"):
        envelope.decode(sealed)
    with pytest.raises(ChunkIntegrityError, match="not a sealed chunk"):
        sealed_envelope.unseal(plain, KEYRING)
