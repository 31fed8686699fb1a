"""A fault-injecting ``BlobStore`` wrapper for error-path tests.

It ships next to the real adapters so any test (or a soak run started by
configuration) can wrap any backend::

    store = FaultyBlobStore(LocalBlobStore(tmp_path))
    store.fail_nth("put", 2)                       # the 2nd put from now fails
    store.fail_when("get", lambda key: key.startswith("chunks/"))
    store.corrupt_when(lambda key: key == "chunks/ab12")
    ...
    assert store.calls["get"] == 2

Faults raise ``BlobStoreUnavailable`` before the wrapped store is touched, so
a failed ``put`` stores nothing and a failed ``delete`` deletes nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from gateway.ports import Allocate, BlobStore, BlobStoreUnavailable, Bytes

Operation = Literal[
    "put",
    "put_stream",
    "get",
    "get_into",
    "read_stream",
    "delete",
    "exists",
    "iter_keys",
    "flush",
    "ping",
]
"""The operations faults can be attached to; ``iter_keys`` matches on its prefix."""

KeyPredicate = Callable[[str], bool]


class FaultyBlobStore:
    """``BlobStore`` that delegates to ``inner`` and injects the faults it is told to.

    Every call is counted in ``calls`` (keyed by method name, ``close``
    included), failed calls too. Thread-safe: counting and fault matching
    happen under one lock, so with concurrent callers exactly one call is
    the n-th. ``iter_keys`` is counted and checked when called, not when
    iteration starts.
    """

    def __init__(self, inner: BlobStore) -> None:
        """Wrap ``inner`` with no faults armed."""
        self.inner = inner
        self._calls: Counter[str] = Counter()
        # Per operation, how many calls each armed fail_nth fault still waits
        # for; counting down (rather than storing absolute call numbers) lets
        # reset_calls leave armed faults alone.
        self._countdowns: dict[Operation, list[int]] = {}
        self._failing: list[tuple[Operation, KeyPredicate]] = []
        self._corrupting: list[KeyPredicate] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> Counter[str]:
        """A snapshot of how many times each method was called."""
        with self._lock:
            return self._calls.copy()

    def reset_calls(self) -> None:
        """Set every call count back to zero; armed faults are unaffected."""
        with self._lock:
            self._calls.clear()

    def fail_nth(self, op: Operation, n: int = 1) -> None:
        """Make the ``n``-th call of ``op`` from now on (1 = the next) fail, once."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        with self._lock:
            self._countdowns.setdefault(op, []).append(n)

    def fail_when(self, op: Operation, predicate: KeyPredicate) -> None:
        """Make every call of ``op`` whose key satisfies ``predicate`` fail, until cleared."""
        with self._lock:
            self._failing.append((op, predicate))

    def corrupt_when(self, predicate: KeyPredicate) -> None:
        """Make ``get`` and ``get_into`` of keys satisfying ``predicate`` return the data with
        one byte flipped.

        The middle byte is inverted, so the length is unchanged. An empty
        object has no byte to flip and is returned as stored.
        """
        with self._lock:
            self._corrupting.append(predicate)

    def clear_faults(self) -> None:
        """Disarm every fault; counts are kept."""
        with self._lock:
            self._countdowns.clear()
            self._failing.clear()
            self._corrupting.clear()

    def put(self, key: str, *parts: Bytes) -> None:
        """Count, maybe fail, then delegate."""
        self._enter("put", key)
        self.inner.put(key, *parts)

    def get(self, key: str) -> bytes:
        """Count, maybe fail, delegate, then maybe corrupt the result."""
        self._enter("get", key)
        data = self.inner.get(key)
        if self._corrupts(key) and data:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        return data

    def get_into(self, key: str, allocate: Allocate) -> memoryview:
        """Count, maybe fail, delegate, then maybe corrupt the filled view in place."""
        self._enter("get_into", key)
        view = self.inner.get_into(key, allocate)
        if self._corrupts(key) and view:
            view[len(view) // 2] ^= 0xFF
        return view

    def put_stream(self, key: str, stream: Iterable[Bytes]) -> None:
        """Count, maybe fail, then delegate."""
        self._enter("put_stream", key)
        self.inner.put_stream(key, stream)

    def read_stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Count, maybe fail, then delegate (a corrupting fault does not apply)."""
        self._enter("read_stream", key)
        return self.inner.read_stream(key, start, end)

    def delete(self, key: str) -> None:
        """Count, maybe fail, then delegate."""
        self._enter("delete", key)
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        """Count, maybe fail, then delegate."""
        self._enter("exists", key)
        return self.inner.exists(key)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Count, maybe fail (matching ``prefix``), then delegate."""
        self._enter("iter_keys", prefix)
        return self.inner.iter_keys(prefix)

    def ping(self) -> None:
        """Count, maybe fail (predicates see an empty key), then delegate."""
        self._enter("ping", "")
        self.inner.ping()

    def flush(self) -> None:
        """Count, maybe fail (predicates see an empty key), then delegate."""
        self._enter("flush", "")
        self.inner.flush()

    def close(self) -> None:
        """Count, then delegate; closing never fails."""
        with self._lock:
            self._calls["close"] += 1
        self.inner.close()

    def _corrupts(self, key: str) -> bool:
        with self._lock:
            return any(predicate(key) for predicate in self._corrupting)

    def _enter(self, op: Operation, key: str) -> None:
        """Count a call of ``op`` and raise ``BlobStoreUnavailable`` if a fault matches it."""
        with self._lock:
            self._calls[op] += 1
            countdowns = [n - 1 for n in self._countdowns.get(op, [])]
            self._countdowns[op] = [n for n in countdowns if n]
            fail = 0 in countdowns or any(
                fault_op == op and predicate(key) for fault_op, predicate in self._failing
            )
        if fail:
            raise BlobStoreUnavailable(f"injected fault: {op} {key!r}")
