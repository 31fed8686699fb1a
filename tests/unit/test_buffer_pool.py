"""BufferPool: leases of the asked size, reuse, and no reuse while a view is still held."""

from __future__ import annotations

import pytest

from gateway.core.buffer_pool import GRANULE, BufferPool


def test_a_lease_has_the_size_asked_for_and_is_writable() -> None:
    lease = BufferPool().lease(1000)
    assert len(lease.view) == 1000
    lease.view[:3] = b"abc"
    assert lease.view[:3] == b"abc"


def test_a_released_buffer_is_reused_for_a_size_it_fits() -> None:
    pool = BufferPool()
    first = pool.lease(3 * GRANULE)
    first.view[0] = 7
    first.release()
    assert pool.idle_bytes == 3 * GRANULE
    second = pool.lease(2 * GRANULE + 1)
    assert second.view[0] == 7, "the same buffer came back"
    assert pool.idle_bytes == 0


def test_a_buffer_too_small_is_not_handed_out() -> None:
    pool = BufferPool()
    pool.lease(GRANULE).release()
    big = pool.lease(GRANULE + 1)
    assert len(big.view) == GRANULE + 1
    assert pool.idle_bytes == GRANULE


def test_release_invalidates_the_view_and_is_idempotent() -> None:
    pool = BufferPool()
    lease = pool.lease(10)
    view = lease.view
    lease.release()
    lease.release()
    with pytest.raises(ValueError):
        view[0]
    assert pool.idle_bytes == GRANULE


def test_a_buffer_someone_still_views_is_never_reused() -> None:
    pool = BufferPool()
    lease = pool.lease(10)
    lease.view[:5] = b"keep!"
    kept = lease.view[:5]
    lease.release()
    assert pool.idle_bytes == 0
    pool.lease(10).view[:5] = b"other"
    assert kept == b"keep!"


def test_idle_buffers_are_bounded() -> None:
    pool = BufferPool(idle_bytes=4 * GRANULE)
    leases = [pool.lease(GRANULE) for _ in range(10)]
    for lease in leases:
        lease.release()
    assert pool.idle_bytes == 4 * GRANULE
