"""The on-store format of one chunk: a small versioned header, then the payload.

Layout (big-endian)::

    offset size field
    0      4    magic            b"GWCK"
    4      1    format version   1
    5      1    flags            bit 0: payload is zstd-compressed; other bits must be 0
    6      2    reserved         0
    8      4    plain size       bytes after decoding
    12     4    payload size     bytes that follow the header
    16     4    payload CRC-32   zlib.crc32 of the payload bytes
    20     ...  payload

A chunk is compressed only when that makes it smaller (and not even tried when a
sample of it does not compress). ``decode`` checks every field
and raises ``ChunkIntegrityError`` naming the first thing that is wrong.
"""

from __future__ import annotations

import struct
import threading
import zlib

import zstandard

from gateway.errors import ChunkIntegrityError

MAGIC = b"GWCK"
VERSION = 1
FLAG_ZSTD = 0x01
HEADER = struct.Struct(">4sBBHIII")
SAMPLE_SIZE = 64 * 1024
# A sample that keeps more than this share of its size is taken as incompressible.
INCOMPRESSIBLE_RATIO = 0.97

_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    # zstd contexts are not thread-safe; one per thread and level is cheap to keep.
    cache: dict[int, zstandard.ZstdCompressor] = _local.__dict__.setdefault("compressors", {})
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level]


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    decompressor: zstandard.ZstdDecompressor = _local.decompressor
    return decompressor


def _looks_incompressible(plain: bytes) -> bool:
    """Whether a fast trial on a sample says compressing ``plain`` would be wasted work.

    Random-looking data (already compressed media, archives, encrypted files) costs
    zstd as much time as text and gains nothing; a 64 KiB sample at level 1 tells.
    """
    if len(plain) < 4 * SAMPLE_SIZE:
        return False
    middle = len(plain) // 2
    sample = plain[middle : middle + SAMPLE_SIZE]
    return len(_compressor(1).compress(sample)) > SAMPLE_SIZE * INCOMPRESSIBLE_RATIO


def encode(plain: bytes, level: int = 3) -> bytes:
    """Wrap ``plain`` in an envelope, zstd-compressed at ``level`` when that shrinks it."""
    payload, flags = plain, 0
    if not _looks_incompressible(plain):
        compressed = _compressor(level).compress(plain)
        if len(compressed) < len(plain):
            payload, flags = compressed, FLAG_ZSTD
    header = HEADER.pack(MAGIC, VERSION, flags, 0, len(plain), len(payload), zlib.crc32(payload))
    return header + payload


def decode(blob: bytes, key: str = "") -> bytes:
    """Return the plain bytes of an envelope; raise ChunkIntegrityError if it is damaged.

    ``key`` only names the chunk in error messages.
    """
    if len(blob) < HEADER.size:
        raise ChunkIntegrityError(key, f"truncated header ({len(blob)} bytes)")
    magic, version, flags, reserved, plain_size, payload_size, crc = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise ChunkIntegrityError(key, "bad magic")
    if version != VERSION:
        raise ChunkIntegrityError(key, f"unsupported format version {version}")
    if flags & ~FLAG_ZSTD or reserved:
        raise ChunkIntegrityError(key, f"unknown flags {flags:#x}/{reserved:#x}")
    payload = memoryview(blob)[HEADER.size :]
    if len(payload) != payload_size:
        raise ChunkIntegrityError(
            key, f"payload is {len(payload)} bytes, header says {payload_size}"
        )
    if zlib.crc32(payload) != crc:
        raise ChunkIntegrityError(key, "payload checksum mismatch")
    if flags & FLAG_ZSTD:
        try:
            plain = _decompressor().decompress(payload, max_output_size=plain_size)
        except zstandard.ZstdError as exc:
            raise ChunkIntegrityError(key, f"zstd: {exc}") from exc
    else:
        plain = bytes(payload)
    if len(plain) != plain_size:
        raise ChunkIntegrityError(key, f"decoded to {len(plain)} bytes, header says {plain_size}")
    return plain
