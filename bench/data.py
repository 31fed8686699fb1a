"""The test files: incompressible random bytes and compressible, log-like text.

Both are written block by block, so memory use stays small whatever the size, and their
MD5 is computed while writing, so downloads can be checked against it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BLOCK = 8 << 20
TEXT_SEED = 20240501

# Words of ordinary prose mixed with the jargon of service logs.
_VOCABULARY_TEXT = """
the of and to in is was for on that with as by at from his her it an are were which be this
has had not but or have their one all its also after first new two who they been other more
when into time would some only over can may than most during these then between such about
through while where both under city state year years world people many group later known
school part several government system because since however found three team company
including request response client server cache hit miss timeout retry connection closed
opened user session token expired valid invalid upload download bucket object chunk manifest
compress stored read write error warning info debug trace started finished failed succeeded
queued worker thread pool lock database query commit rollback migration index table row
column value key batch stream replica shard leader follower election heartbeat lease quota
limit throttle backoff socket handshake certificate route proxy upstream downstream payload
header checksum digest signature policy permission denied granted scheduled cron job
"""
VOCABULARY = _VOCABULARY_TEXT.split()
LEVELS = ("INFO",) * 6 + ("DEBUG",) * 3 + ("WARN", "ERROR")
COMPONENTS = ("api", "auth", "store", "gc", "http", "s3", "db", "cache", "scheduler", "chunker")


@dataclass(frozen=True)
class Dataset:
    """A test file of ``size`` bytes at ``path`` with hex MD5 ``md5``."""

    name: str
    path: Path
    size: int
    md5: str


def file_md5(path: Path) -> str:
    """The hex MD5 of the file at ``path``."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        while block := stream.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _write(name: str, path: Path, size: int, blocks: Iterator[bytes]) -> Dataset:
    """Write the first ``size`` bytes of ``blocks`` to ``path``, hashing as it goes."""
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    with open(path, "wb") as stream:
        for block in blocks:
            piece = block[: size - written]
            stream.write(piece)
            digest.update(piece)
            written += len(piece)
            if written >= size:
                break
    if written != size:
        raise RuntimeError(f"{name}: generator ended after {written} of {size} bytes")
    return Dataset(name, path, size, digest.hexdigest())


def _random_blocks() -> Iterator[bytes]:
    while True:
        yield os.urandom(BLOCK)


def make_random(path: Path, size: int) -> Dataset:
    """``size`` bytes from ``os.urandom``: nothing to compress or deduplicate."""
    return _write("random", path, size, _random_blocks())


@functools.lru_cache(maxsize=4096)
def _second(epoch_second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_second))


_MILLIS = [f".{ms:03d}Z " for ms in range(1000)]
_DURATIONS = [str(ms) for ms in range(1000)]
_STEPS = list(range(20))


def _text_blocks(seed: int) -> Iterator[bytes]:
    """Endless log lines like ``2023-11-14T22:13:20.123Z INFO db[2996]: <words> <words>
    id=9ecb01a3 took=419ms``.

    Every line has a fresh timestamp, random hex id and duration, and joins two phrases
    drawn from 30,000 random phrases of 2-7 vocabulary words, so no line repeats and
    content-defined chunking finds nothing to deduplicate, while zstd at level 3 gets
    about 3x. The per-line work is done by C-level map/zip/join, for ~100+ MiB/s.
    """
    rng = random.Random(seed)
    phrases = [" ".join(rng.choices(VOCABULARY, k=rng.randint(2, 7))) for _ in range(30000)]
    prefixes = [
        f"{rng.choice(LEVELS)} {rng.choice(COMPONENTS)}[{rng.randrange(100, 5000)}]: "
        for _ in range(2000)
    ]
    millis = 1_700_000_000_000
    lines = 16384
    while True:
        stamps = list(itertools.accumulate(rng.choices(_STEPS, k=lines), initial=millis))
        millis = stamps.pop()
        hexes = rng.randbytes(4 * lines).hex()
        ids = map(hexes.__getitem__, map(slice, range(0, 8 * lines, 8), range(8, 8 * lines + 8, 8)))
        columns = (
            map(_second, map((1000).__rfloordiv__, stamps)),
            map(_MILLIS.__getitem__, map((1000).__rmod__, stamps)),
            rng.choices(prefixes, k=lines),
            rng.choices(phrases, k=lines),
            itertools.repeat(" ", lines),
            rng.choices(phrases, k=lines),
            itertools.repeat(" id=", lines),
            ids,
            itertools.repeat(" took=", lines),
            rng.choices(_DURATIONS, k=lines),
            itertools.repeat("ms\n", lines),
        )
        yield "".join(itertools.chain.from_iterable(zip(*columns, strict=True))).encode()


def make_text(path: Path, size: int, seed: int = TEXT_SEED) -> Dataset:
    """``size`` bytes of log-like text, the same for the same ``seed`` and ``size``."""
    return _write("text", path, size, _text_blocks(seed))


def make_datasets(directory: Path, size: int) -> list[Dataset]:
    """The random and the text file, ``size`` bytes each, in ``directory``."""
    return [
        make_random(directory / "random.bin", size),
        make_text(directory / "text.log", size),
    ]
