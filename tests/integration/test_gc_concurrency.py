"""GC with grace 0 in a loop while threads upload, copy and delete: nothing acknowledged
is lost, and the store stays consistent (fsck clean), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import itertools
import random
import threading
from pathlib import Path

import pytest

from gateway.core.fsck import fsck
from gateway.core.gc import collect_garbage
from gateway.errors import ChunksCollectedError, NotFoundError
from gateway.records import ObjectAttributes
from tests.support.core import CoreFixture, build_core

THREADS = 4
OPERATIONS = 60
# A few bodies shared by every thread, so uploads deduplicate against chunks that GC is
# collecting; the rest are new.
SHARED = [random.Random(seed).randbytes(200_000 + 50_000 * seed) for seed in range(4)]


class Tally:
    """What the client threads saw, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[str, bytes] = {}
        self.refused: list[str] = []
        self.failures: list[BaseException] = []


def _client(core: CoreFixture, seed: int, tally: Tally) -> None:
    try:
        _operate(core, seed, tally.acked, tally.lock, tally.refused)
    except BaseException as exc:  # surfaced by the test, which threads cannot fail
        tally.failures.append(exc)


def _operate(
    core: CoreFixture,
    seed: int,
    acked: dict[str, bytes],
    lock: threading.Lock,
    refused: list[str],
) -> None:
    rng = random.Random(seed)
    ids = itertools.count()
    for _ in range(OPERATIONS):
        key = f"t{seed}-{next(ids)}"
        action = rng.random()
        try:
            if action < 0.55:
                data = rng.choice(SHARED) if rng.random() < 0.5 else rng.randbytes(150_000)
                core.storage.put_object(
                    core.user, core.bucket, key, io.BytesIO(data), ObjectAttributes(), core.actor
                )
                with lock:
                    acked[key] = data
            elif action < 0.8:
                with lock:
                    if not acked:
                        continue
                    source_key = rng.choice(sorted(acked))
                    data = acked[source_key]
                source = core.storage.head_object(core.user, core.bucket, source_key)
                core.storage.copy_object(core.user, source, core.bucket, key, None, core.actor)
                with lock:
                    acked[key] = data
            else:
                with lock:
                    if not acked:
                        continue
                    victim = rng.choice(sorted(acked))
                    del acked[victim]
                core.storage.delete_object(core.user, core.bucket, victim, core.actor)
        except (ChunksCollectedError, NotFoundError) as exc:
            # GC took a chunk before the commit, or the copy's source was deleted: the
            # operation was refused and changed nothing.
            refused.append(type(exc).__name__)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_core(request: pytest.FixtureRequest, tmp_path: Path) -> CoreFixture:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    core = build_core(tmp_path, database_url=url)
    request.addfinalizer(core.storage.close)
    return core


def test_gc_with_grace_zero_never_loses_an_acknowledged_object(shared_core: CoreFixture) -> None:
    core = shared_core
    tally = Tally()
    acked = tally.acked
    done = threading.Event()
    collected = 0

    def gc_loop() -> None:
        nonlocal collected
        while not done.is_set():
            collected += collect_garbage(core.metadata, core.blobs, 0).chunks_deleted

    gc = threading.Thread(target=gc_loop)
    gc.start()
    clients = [
        threading.Thread(target=_client, args=(core, seed, tally)) for seed in range(THREADS)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    done.set()
    gc.join()

    assert not tally.failures, tally.failures
    assert collected > 0, "GC never raced the writers"
    for key, data in acked.items():
        obj = core.storage.head_object(core.user, core.bucket, key)
        assert core.read(obj) == data, key
    listing = core.storage.list_objects(core.user, core.bucket, max_keys=1000)
    # Every refused operation changed nothing, so exactly the acknowledged keys exist.
    assert {o.key for o in listing.objects} == set(acked)
    report = fsck(core.metadata, core.storage.chunks)
    assert report.ok, report
