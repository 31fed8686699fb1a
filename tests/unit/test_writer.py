"""The object writer and batched chunk storage: same manifest however the body arrives,
each chunk stored once under concurrent uploads (SQLite and PostgreSQL), bounded memory."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.blob.local import LocalBlobStore
from adapters.sql.engine import make_engine, migrate
from adapters.sql.metadata import SqlMetadata
from gateway.core.buffer_pool import BufferPool
from gateway.core.chunk_store import CHUNK_PREFIX, new_backend_key
from gateway.core.chunker import BLOCK_SIZE, ChunkSizes
from gateway.core.fsck import fsck
from gateway.core.storage import Storage
from gateway.core.writer import ObjectWriter, WrittenBody
from gateway.records import Actor, NewChunk, ObjectAttributes
from tests.support.core import SMALL_CHUNKS, CoreFixture


def _random(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


class _ReadOnly:
    """A stream with ``read`` only, answering in uneven pieces."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self._turn = 0

    def read(self, size: int = -1, /) -> bytes:
        self._turn += 1
        return self._data.read(min(size, 1 + self._turn * 7919 % 300_000))


class _Generated:
    """``readinto`` of ``size`` pseudo-random bytes, made as they are asked for."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._random = random.Random(5)

    def readinto(self, buffer: memoryview, /) -> int:
        count = min(len(buffer), self._left, 1 << 20)
        buffer[:count] = self._random.randbytes(count)
        self._left -= count
        return count


def _written(core: CoreFixture, feed: object) -> WrittenBody:
    writer = core.storage.new_writer(owner_id=core.user.id)
    if isinstance(feed, list):
        for piece in feed:
            writer.write(piece)
    else:
        writer.write_from(feed)  # type: ignore[arg-type]
    return writer.finish()


def test_any_way_of_feeding_gives_the_same_manifest(core: CoreFixture) -> None:
    data = _random(3_000_000, seed=2)
    pieces = [data[i : i + 123_457] for i in range(0, len(data), 123_457)]
    results = [
        _written(core, pieces),
        _written(core, io.BytesIO(data)),
        _written(core, _ReadOnly(data)),
    ]
    assert len({(r.entries, r.size, r.md5) for r in results}) == 1
    assert results[0].size == len(data)
    assert results[0].md5 == hashlib.md5(data, usedforsecurity=False).digest()


def test_repeated_content_in_one_batch_is_stored_once(core: CoreFixture) -> None:
    data = bytes(4 * SMALL_CHUNKS * 10)  # zeros: identical chunks of maximum size
    obj = core.put("zeros", data)
    assert core.read(obj) == data
    assert core.metadata.count_chunks() <= 2
    assert core.metadata.refcount_mismatches() == []


def test_memory_stays_bounded_whatever_the_size(core: CoreFixture) -> None:
    size = 96 << 20
    tracemalloc.start()
    try:
        written = _written(core, _Generated(size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written.size == size
    assert peak < 48 << 20


def test_blocks_go_back_to_the_pool_for_the_next_upload(core: CoreFixture) -> None:
    pool = BufferPool(idle_bytes=64 << 20)
    idle = []
    with ThreadPoolExecutor(4) as executor, ThreadPoolExecutor(1) as lane:
        for seed in (1, 2, 3):
            writer = ObjectWriter(
                core.storage.chunks, executor, lane, ChunkSizes.around(SMALL_CHUNKS), blocks=pool
            )
            writer.write_from(io.BytesIO(_random(20_000_000, seed)))
            writer.finish()
            idle.append(pool.idle_bytes)
    # Later uploads lease the blocks the first one gave back, and give them back again.
    assert idle[0] >= BLOCK_SIZE
    assert idle[1] == idle[2] == idle[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """A storage core with small chunks over SQLite or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate(url)
    store = Storage(
        SqlMetadata(make_engine(url)),
        LocalBlobStore(tmp_path / "blobs"),
        chunk_avg_size=SMALL_CHUNKS,
    )
    yield store
    store.close()


def test_concurrent_uploads_of_the_same_content_store_each_chunk_once(storage: Storage) -> None:
    shared = _random(2_000_000, seed=3)
    bodies = [shared + _random(200_000, seed=10 + i) + shared for i in range(6)]
    user = storage.metadata.create_user("bob", "x")
    actor = Actor(user.id, protocol="test")
    storage.create_bucket(user, "bucket", actor)
    start = threading.Barrier(len(bodies))
    errors: list[BaseException] = []

    def upload(index: int) -> None:
        try:
            start.wait()
            body = io.BytesIO(bodies[index])
            storage.put_object(user, "bucket", f"k{index}", body, ObjectAttributes(), actor)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    chunks = list(storage.metadata.iter_chunks())
    assert len({c.content_id for c in chunks}) == len(chunks)
    # Spare copies written by the writers that lost a race were deleted again.
    assert set(storage.blobs.iter_keys(CHUNK_PREFIX)) == {c.backend_key for c in chunks}
    assert storage.metadata.refcount_mismatches() == []
    assert fsck(storage.metadata, storage.chunks).ok
    for index, body in enumerate(bodies):
        obj = storage.head_object(user, "bucket", f"k{index}")
        assert b"".join(map(bytes, storage.read_range(obj, 0, obj.size))) == body


def test_add_chunks_keeps_the_first_record_of_a_content(storage: Storage) -> None:
    metadata = storage.metadata
    first = NewChunk("a" * 64, 10, 30, new_backend_key("a" * 64))
    assert metadata.add_chunks([first])["a" * 64].backend_key == first.backend_key
    again = NewChunk("a" * 64, 10, 30, new_backend_key("a" * 64))
    other = NewChunk("b" * 64, 20, 40, new_backend_key("b" * 64))
    recorded = metadata.add_chunks([other, again])
    assert recorded["a" * 64].backend_key == first.backend_key
    assert recorded["b" * 64].backend_key == other.backend_key
    assert recorded["b" * 64].size == 20 and recorded["b" * 64].refcount == 0
    touched = metadata.touch_chunks(["b" * 64, "c" * 64, "a" * 64])
    assert set(touched) == {"a" * 64, "b" * 64}
    assert metadata.touch_chunks([]) == {}
