"""Master key parsing, settings validation, per-owner key derivation and keyed content ids."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from gateway.core.chunk_store import ChunkStore, content_id
from gateway.core.keyring import Keyring, MasterKeyError, generate_master_key, parse_master_key
from gateway.errors import ChunkIntegrityError
from gateway.settings import Settings, SettingsError, load_settings, master_key_bytes
from tests.support.core import build_core

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        f"  {KEY.hex()}\n",
    ],
)
def test_master_key_in_hex_or_base64(text: str) -> None:
    assert parse_master_key(text) == KEY


@pytest.mark.parametrize(
    "text", ["", "abc", KEY.hex()[:-2], base64.b64encode(KEY[:31]).decode(), "é" * 44]
)
def test_malformed_master_key_is_rejected_without_echoing_it(text: str) -> None:
    with pytest.raises(MasterKeyError) as caught:
        parse_master_key(text)
    assert not text or text not in str(caught.value)


def test_generated_keys_parse_and_differ() -> None:
    first, second = generate_master_key(), generate_master_key()
    assert len(parse_master_key(first)) == 32 and first != second


def test_settings_from_environment_file_and_errors(tmp_path: Path) -> None:
    settings = load_settings(environ={"GATEWAY_MASTER_KEY": KEY.hex()})
    assert master_key_bytes(settings) == KEY
    assert KEY.hex() not in repr(settings)
    key_file = tmp_path / "master.key"
    key_file.write_text(generate_master_key() + "\n")
    from_file = load_settings(environ={"GATEWAY_MASTER_KEY_FILE": str(key_file)})
    assert master_key_bytes(from_file) == parse_master_key(key_file.read_text())
    assert master_key_bytes(Settings()) is None
    with pytest.raises(SettingsError, match="invalid master key"):
        load_settings(environ={"GATEWAY_MASTER_KEY": "not-a-key"})
    with pytest.raises(SettingsError, match="not both"):
        load_settings(
            environ={"GATEWAY_MASTER_KEY": KEY.hex(), "GATEWAY_MASTER_KEY_FILE": str(key_file)}
        )
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(environ={"GATEWAY_MASTER_KEY_FILE": str(tmp_path / "missing")})


def test_owner_keys_are_independent_and_stable() -> None:
    ring = Keyring(KEY)
    alice, bob = ring.owner(1), ring.owner(2)
    assert ring.owner(1) is alice
    assert alice.content_id_key != bob.content_id_key
    assert alice.content_id(b"x") != bob.content_id(b"x") != content_id(b"x")
    assert Keyring(KEY).owner(1).content_id(b"x") == alice.content_id(b"x")
    assert repr(ring) == "Keyring(<master key hidden>)"
    assert KEY.hex() not in repr(alice)


def test_encrypting_store_refuses_to_store_without_an_owner(tmp_path: Path) -> None:
    core = build_core(tmp_path)
    store = ChunkStore(core.blobs, core.metadata, keyring=Keyring(KEY))
    with pytest.raises(ValueError, match="bound to an owner"):
        store.store_many([b"plain"])


def test_encrypted_core_reads_old_chunks_and_seals_new_ones(tmp_path: Path) -> None:
    core = build_core(tmp_path)
    body = os.urandom(200_000)
    old = core.put("old", body)
    core.storage = type(core.storage)(
        core.metadata, core.blobs, chunk_avg_size=64 * 1024, keyring=Keyring(KEY)
    )
    assert core.read(old) == body
    new = core.put("new", b"MARKER" * 50_000)
    assert core.read(new) == b"MARKER" * 50_000
    for path in core.blob_root.rglob("*"):
        if path.is_file():
            assert b"MARKER" not in path.read_bytes()
    without_key = type(core.storage)(core.metadata, core.blobs, chunk_avg_size=64 * 1024)
    with pytest.raises(ChunkIntegrityError, match="no master key"):
        b"".join(map(bytes, without_key.read_range(new, 0, new.size)))
