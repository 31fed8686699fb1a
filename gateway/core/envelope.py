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

Format version 2 is a sealed (encrypted) chunk: see ``sealed_envelope``.

A chunk is compressed only when that makes it smaller (and not even tried when a
sample of it does not compress). ``decode`` checks every field
and raises ``ChunkIntegrityError`` naming the first thing that is wrong.
"""

from __future__ import annotations

import struct
import threading
import zlib

import zstandard
from zlib_ng import zlib_ng

from gateway.errors import ChunkIntegrityError
from gateway.ports import Allocate

MAGIC = b"GWCK"
VERSION = 1
FLAG_ZSTD = 0x01
HEADER = struct.Struct(">4sBBHIII")
SAMPLE_SIZE = 64 * 1024
# A sample that keeps more than this share of its size is taken as incompressible.
INCOMPRESSIBLE_RATIO = 0.97

Bytes = bytes | bytearray | memoryview

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


def _looks_incompressible(plain: Bytes) -> bool:
    """Whether a fast trial on a sample says compressing ``plain`` would be wasted work.

    Random-looking data (already compressed media, archives, encrypted files) costs
    zstd as much time as text and gains nothing; a 64 KiB sample at level 1 tells.
    """
    if len(plain) < 4 * SAMPLE_SIZE:
        return False
    middle = len(plain) // 2
    sample = plain[middle : middle + SAMPLE_SIZE]
    return len(_compressor(1).compress(sample)) > SAMPLE_SIZE * INCOMPRESSIBLE_RATIO


def compress(plain: Bytes, level: int = 3) -> tuple[Bytes, int]:
    """The payload of ``plain`` and its flags: zstd-compressed at ``level`` (FLAG_ZSTD)
    when that shrinks it, else ``plain`` itself (flags 0), not a copy."""
    if not _looks_incompressible(plain):
        compressed = _compressor(level).compress(plain)
        if len(compressed) < len(plain):
            return compressed, FLAG_ZSTD
    return plain, 0


def encode(plain: Bytes, level: int = 3) -> tuple[bytes, Bytes]:
    """Wrap ``plain`` in an envelope, zstd-compressed at ``level`` when that shrinks it.

    Returns the header and the payload, which are stored one after the other. An
    uncompressed payload is ``plain`` itself, not a copy.
    """
    payload, flags = compress(plain, level)
    # zlib-ng's CRC-32 (the same value as zlib's) runs on SIMD carry-less multiplies, a
    # sixth of zlib's cost on every byte written.
    crc = zlib_ng.crc32(payload)
    header = HEADER.pack(MAGIC, VERSION, flags, 0, len(plain), len(payload), crc)
    return header, payload


def fresh_buffer(size: int) -> memoryview:
    """A new zero-filled buffer of ``size`` bytes (``decode``'s default ``allocate``)."""
    return memoryview(bytearray(size))


def decode(
    blob: Bytes,
    key: str = "",
    *,
    allocate: Allocate = fresh_buffer,
    check_crc: bool = True,
) -> memoryview:
    """Return the plain bytes of an envelope; raise ChunkIntegrityError if it is damaged.

    A payload stored uncompressed comes back as a view into ``blob``, without a copy; a
    compressed one is decompressed into ``allocate(plain size)``. ``key`` only names the
    chunk in error messages. Every header field and size is checked, and the payload's
    CRC-32 unless ``check_crc`` is False: a caller that checks the plain bytes against
    a cryptographic digest MAY skip it, since any damage the CRC would catch then makes
    zstd fail or the digest differ.
    """
    flags, plain_size, payload, crc = _parse(blob, key)
    if check_crc and zlib.crc32(payload) != crc:
        raise ChunkIntegrityError(key, "payload checksum mismatch")
    if not flags & FLAG_ZSTD:
        if len(payload) != plain_size:
            raise ChunkIntegrityError(
                key, f"decoded to {len(payload)} bytes, header says {plain_size}"
            )
        return payload
    return decompress_into(allocate(plain_size), payload, key)


def _parse(blob: Bytes, key: str) -> tuple[int, int, memoryview, int]:
    """The flags, plain size, payload and payload CRC of an envelope whose header is sound."""
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
    return flags, plain_size, payload, crc


def decompress_into(plain: memoryview, payload: memoryview, key: str) -> memoryview:
    """Decompress ``payload`` into ``plain``, which it must fill exactly."""
    filled = 0
    try:
        # The stream reader takes a payload with no frame at all for an empty one.
        zstandard.get_frame_parameters(payload)
        with _decompressor().stream_reader(payload) as reader:
            while filled < len(plain) and (count := reader.readinto(plain[filled:])):
                filled += count
            overflow = len(reader.read(1))
    except zstandard.ZstdError as exc:
        raise ChunkIntegrityError(key, f"zstd: {exc}") from exc
    if filled != len(plain) or overflow:
        size = f"more than {filled}" if overflow else str(filled)
        raise ChunkIntegrityError(key, f"decoded to {size} bytes, header says {len(plain)}")
    return plain
