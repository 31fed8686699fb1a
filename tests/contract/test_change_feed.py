"""The change feed on SQLite and PostgreSQL: commit order under concurrent writers, the
events each operation records, what a reader may see, and long polls."""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from gateway.core.bucket_access import Access
from gateway.core.change_feed import ChangeFeed
from gateway.core.identity import hash_password
from gateway.core.scanning import SCAN_INFECTED
from gateway.core.tree import FileTree
from gateway.errors import AccessDeniedError
from gateway.records import Actor, ObjectAttributes, User
from tests.support.core import CoreFixture, build_core


@pytest.fixture(params=["sqlite", "postgresql"])
def feed_core(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CoreFixture]:
    """A core on each database, with scanning on (so verdicts can quarantine)."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    fixture = build_core(tmp_path, database_url=url)
    fixture.metadata._scanning = True
    yield fixture
    fixture.storage.close()


def _user(core: CoreFixture, name: str) -> User:
    return core.metadata.create_user(name, hash_password("pw"))


def _put(core: CoreFixture, user: User, bucket: str, key: str, data: bytes = b"x") -> str:
    stored = core.storage.put_object(
        user, bucket, key, io.BytesIO(data), ObjectAttributes(), Actor(user.id, protocol="test")
    )
    return stored.version_id


def test_concurrent_writers_never_make_a_follower_miss_or_repeat_a_change(
    feed_core: CoreFixture,
) -> None:
    """Writers commit in random order (a random pause between their last statement and
    the commit); a reader following the cursor meanwhile sees every change exactly once,
    in id order."""
    core = feed_core
    engine = core.metadata._engine

    @event.listens_for(engine, "commit")
    def _slow_commit(_connection: object) -> None:
        time.sleep(random.random() * 0.004)

    writers, per_writer = 8, 25
    done = threading.Event()
    seen: list[int] = []

    def write(number: int) -> None:
        for i in range(per_writer):
            # Distinct bytes: one shared chunk row would serialize the commits.
            _put(core, core.user, core.bucket, f"w{number}/{i}", f"{number}/{i}".encode())

    def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = core.metadata.changes(cursor, 7)
            seen.extend(change.id for change in page.changes)
            cursor = page.last_id
            if finished and not page.has_more and not page.changes:
                return

    reader = threading.Thread(target=follow)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join(timeout=60)
    event.remove(engine, "commit", _slow_commit)
    everything = core.metadata.changes(0, 10_000).changes
    assert len(everything) == writers * per_writer
    assert seen == [change.id for change in everything]


def test_each_operation_records_its_event(feed_core: CoreFixture) -> None:
    core = feed_core
    feed = ChangeFeed(core.storage, max_waiters=4)
    tree = FileTree(core.storage)
    bucket = core.storage.bucket(core.user, core.bucket, Access.OWNER)
    first = _put(core, core.user, core.bucket, "a")
    second = _put(core, core.user, core.bucket, "a", b"longer")
    entry = tree.find(bucket, "a")
    assert entry is not None
    tree.move(entry, bucket, "b", core.actor, replace=False)
    core.storage.delete_object(core.user, core.bucket, "b", core.actor)
    infected = _put(core, core.user, core.bucket, "c", b"virus")
    core.metadata.record_verdict(
        infected, SCAN_INFECTED, "Eicar", quarantined=True, actor=core.actor
    )
    page = feed.read(core.user, 0, 100)
    got = [(c.event, c.key, c.version_id, c.source_key) for c in page.changes]
    assert got == [
        ("created", "a", first, None),
        ("updated", "a", second, None),
        ("moved", "b", second, "a"),
        ("deleted", "b", None, None),
        ("created", "c", infected, None),
        ("quarantined", "c", infected, None),
    ]
    assert all(c.bucket_id == bucket.id for c in page.changes)
    assert page.changes[1].size == 6 and page.changes[1].etag
    assert page.last_id == core.metadata.last_change_id() and not page.has_more
    assert feed.read(core.user, page.last_id, 100).changes == ()
    feed.close()


def test_a_reader_sees_its_own_and_granted_buckets_only(feed_core: CoreFixture) -> None:
    core = feed_core
    feed = ChangeFeed(core.storage, max_waiters=4)
    bob = _user(core, "bob")
    bob_actor = Actor(bob.id, protocol="test")
    core.storage.create_bucket(bob, "bobs", bob_actor)
    _put(core, core.user, core.bucket, "alice-1")
    _put(core, bob, "bobs", "bob-1")
    assert [c.key for c in feed.read(bob, 0, 100).changes] == ["bob-1"]
    with pytest.raises(AccessDeniedError):
        feed.read(bob, 0, 100, bucket_name=core.bucket)
    alices = core.storage.bucket(core.user, core.bucket, Access.OWNER)
    core.metadata.grant_bucket(alices, bob.id, "read", core.actor)
    assert [c.key for c in feed.read(bob, 0, 100).changes] == ["alice-1", "bob-1"]
    assert [c.key for c in feed.read(bob, 0, 100, bucket_name=core.bucket).changes] == ["alice-1"]
    assert core.metadata.revoke_bucket(alices, bob.id, core.actor)
    assert [c.key for c in feed.read(bob, 0, 100).changes] == ["bob-1"]
    feed.close()


def test_grants_decide_what_a_grantee_may_do(feed_core: CoreFixture) -> None:
    core = feed_core
    bob = _user(core, "bob")
    bob_actor = Actor(bob.id, protocol="test")
    _put(core, core.user, core.bucket, "k")
    with pytest.raises(AccessDeniedError):
        core.storage.head_object(bob, core.bucket, "k")
    alices = core.storage.bucket(core.user, core.bucket, Access.OWNER)
    core.metadata.grant_bucket(alices, bob.id, "read", core.actor)
    assert core.storage.head_object(bob, core.bucket, "k").key == "k"
    assert [o.key for o in core.storage.list_objects(bob, core.bucket).objects] == ["k"]
    with pytest.raises(AccessDeniedError):
        _put(core, bob, core.bucket, "new")
    with pytest.raises(AccessDeniedError):
        core.storage.delete_object(bob, core.bucket, "k", bob_actor)
    core.metadata.grant_bucket(alices, bob.id, "write", core.actor)
    _put(core, bob, core.bucket, "new")
    core.storage.delete_object(bob, core.bucket, "k", bob_actor)
    with pytest.raises(AccessDeniedError):
        core.storage.delete_bucket(bob, core.bucket, bob_actor)
    assert [g.user_name for g in core.metadata.bucket_grants(alices)] == ["bob"]
    assert [b.name for b in core.storage.readable_buckets(bob)] == [core.bucket]
    assert core.storage.list_buckets(bob) == []


def test_a_long_poll_answers_as_soon_as_a_change_commits(feed_core: CoreFixture) -> None:
    core = feed_core
    feed = ChangeFeed(core.storage, max_waiters=1)
    start = feed.latest()
    began = time.monotonic()
    assert feed.read(core.user, start, 10, wait=0.3).changes == ()
    assert time.monotonic() - began >= 0.3
    timer = threading.Timer(0.3, _put, args=(core, core.user, core.bucket, "late"))
    timer.start()
    began = time.monotonic()
    page = feed.read(core.user, start, 10, wait=10)
    assert [c.key for c in page.changes] == ["late"]
    assert time.monotonic() - began < 1.5
    timer.join()
    feed.close()


def test_readers_above_the_cap_answer_at_once(feed_core: CoreFixture) -> None:
    core = feed_core
    feed = ChangeFeed(core.storage, max_waiters=1)
    start = feed.latest()
    waiting = threading.Thread(target=feed.read, args=(core.user, start, 10), kwargs={"wait": 2})
    waiting.start()
    time.sleep(0.2)
    began = time.monotonic()
    assert feed.read(core.user, start, 10, wait=5).changes == ()
    assert time.monotonic() - began < 1
    _put(core, core.user, core.bucket, "wake")
    waiting.join(timeout=5)
    assert not waiting.is_alive()
    feed.close()
