"""The on-store format of a sealed chunk: envelope format version 2, AES-256-GCM.

Layout (big-endian)::

    offset size field
    0      4    magic            b"GWCK" (as format version 1)
    4      1    format version   2
    5      1    flags            bit 0: payload is zstd-compressed; other bits must be 0
    6      2    reserved         0
    8      4    plain size       bytes after decrypting and decoding
    12     4    sealed size      bytes that follow the header (ciphertext and 16-byte tag)
    16     8    owner id         whose keys sealed it (see ``keyring``)
    24     12   nonce            random, fresh for every chunk stored
    36     ...  ciphertext of the payload, then the GCM tag

The payload is what format version 1 would store (compressed or not); the whole
header is the GCM associated data, so no field can change without the tag failing.
The tag replaces version 1's CRC-32. A random 96-bit nonce per chunk is safe for far
more chunks per owner key than a gateway stores (the birthday bound is near 2^48).
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag

from gateway.core import envelope
from gateway.core.keyring import Keyring, OwnerKeys
from gateway.errors import ChunkIntegrityError
from gateway.ports import Allocate, Bytes

VERSION = 2
HEADER = struct.Struct(">4sBBHIIQ12s")
NONCE_SIZE = 12
TAG_SIZE = 16


def is_sealed(blob: Bytes) -> bool:
    """Whether ``blob`` claims to be a sealed chunk (its header is not checked yet)."""
    view = memoryview(blob)
    return len(view) > 4 and view[:4] == envelope.MAGIC and view[4] == VERSION


def seal(plain: Bytes, keys: OwnerKeys, level: int = 3) -> tuple[bytes, bytes]:
    """Compress ``plain`` as ``envelope.encode`` would and seal it under ``keys``.

    Returns the header and the sealed payload, stored one after the other.
    """
    payload, flags = envelope.compress(plain, level)
    nonce = os.urandom(NONCE_SIZE)
    header = HEADER.pack(
        envelope.MAGIC,
        VERSION,
        flags,
        0,
        len(plain),
        len(payload) + TAG_SIZE,
        keys.owner_id,
        nonce,
    )
    return header, keys.cipher.encrypt(nonce, payload, header)


def unseal(
    blob: Bytes,
    keyring: Keyring | None,
    key: str = "",
    *,
    allocate: Allocate = envelope.fresh_buffer,
) -> tuple[memoryview, OwnerKeys]:
    """The plain bytes of a sealed chunk and the keys of the owner who sealed it.

    The payload is decrypted straight into ``allocate(payload size)`` and, if compressed,
    decoded into ``allocate(plain size)``: the result is a view into the last buffer
    allocated. Raises ChunkIntegrityError (``key`` names the chunk) when the header is
    malformed, no keyring is configured, or the tag does not verify: the chunk was
    damaged or sealed under another master key. Never returns unverified bytes.
    """
    if len(blob) < HEADER.size:
        raise ChunkIntegrityError(key, f"truncated sealed header ({len(blob)} bytes)")
    magic, version, flags, reserved, plain_size, sealed_size, owner_id, nonce = HEADER.unpack_from(
        blob
    )
    if magic != envelope.MAGIC or version != VERSION:
        raise ChunkIntegrityError(key, "not a sealed chunk")
    if flags & ~envelope.FLAG_ZSTD or reserved:
        raise ChunkIntegrityError(key, f"unknown flags {flags:#x}/{reserved:#x}")
    view = memoryview(blob)
    sealed = view[HEADER.size :]
    if len(sealed) != sealed_size or sealed_size < TAG_SIZE:
        raise ChunkIntegrityError(
            key, f"sealed payload is {len(sealed)} bytes, header says {sealed_size}"
        )
    compressed = bool(flags & envelope.FLAG_ZSTD)
    if not compressed and sealed_size - TAG_SIZE != plain_size:
        raise ChunkIntegrityError(
            key, f"payload is {sealed_size - TAG_SIZE} bytes, header says {plain_size}"
        )
    if keyring is None:
        raise ChunkIntegrityError(key, "the chunk is encrypted and no master key is configured")
    keys = keyring.owner(owner_id)
    payload = allocate(sealed_size - TAG_SIZE)
    try:
        keys.cipher.decrypt_into(nonce, sealed, view[: HEADER.size], payload)
    except InvalidTag:
        raise ChunkIntegrityError(
            key, "decryption failed: the chunk is damaged or was sealed under another master key"
        ) from None
    if not compressed:
        return payload, keys
    return envelope.decompress_into(allocate(plain_size), payload, key), keys
