"""Readiness of the gateway's components: named checks, each run with a time limit.

A component (the database, the backend, the scanner, the job queue) is registered as a
name and a *check*: a callable that returns when the component is usable and raises
when it is not. The server registers the components it has::

    health = HealthChecks(timeout=2.0)
    health.register("database", storage.metadata.ping)
    health.register("backend", storage.blobs.ping)
    health.register("scanner", scanner.ping)                 # once there is a scanner
    health.register("queue", queue_check, required=False)    # reported, never fails the whole

``run`` answers a ``HealthReport``. The gateway is ready when every *required* component
is; optional ones are shown but never make it unready.

What operators see must never leak a secret or an internal: a check that raises
``CheckFailed`` has its message shown (its author vouches for it); any other exception
is shown by its class name only (``BlobStoreUnavailable``), its message and traceback go
to the server log, once per change from healthy to failing.

Time limits: each check runs on a daemon thread of its own and is waited for at most
its ``timeout``; a check that has not answered by then is reported as failed. A hung
check is never started twice: while one attempt is running, later reports wait for that
same attempt (until its time limit, counted from when it started), so a hung backend
holds at most one thread per component and cannot hang the endpoint. A result is
reused for ``max_age`` seconds, which bounds how often anonymous callers of ``/healthz``
make the gateway touch the database and the backend.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("gateway.health")

Check = Callable[[], str | None]
"""Returns when the component is usable (optionally a short detail to show, such as
``"3 jobs waiting"``), raises when it is not. MUST be safe to call from any thread."""

DEFAULT_TIMEOUT = 2.0
DEFAULT_MAX_AGE = 1.0
# Longest reason or detail shown; longer texts are cut.
MAX_TEXT = 200
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class CheckFailed(Exception):
    """Raised by a check to say why its component is unusable, in words operators may
    read as they are. The message MUST NOT hold secrets (credentials, URLs with
    passwords, tokens); at most ``MAX_TEXT`` characters of it are shown."""


@dataclass(frozen=True)
class ComponentHealth:
    """The outcome of one component's check.

    ``seconds`` is how long the check took, or for a check that did not answer in time
    how long it had been running. ``reason`` says why a failed check failed; ``detail``
    is what a passing check returned.
    """

    name: str
    ok: bool
    required: bool
    seconds: float
    reason: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The component's entry in the ``/healthz`` document."""
        entry: dict[str, Any] = {
            "status": "ok" if self.ok else "failed",
            "required": self.required,
            "seconds": round(self.seconds, 4),
        }
        if self.reason is not None:
            entry["reason"] = self.reason
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry


@dataclass(frozen=True)
class HealthReport:
    """The outcomes of every registered check, in registration order."""

    components: tuple[ComponentHealth, ...]

    @property
    def ok(self) -> bool:
        """True when every required component is usable (also when none is registered)."""
        return all(component.ok for component in self.components if component.required)

    @property
    def failed(self) -> list[str]:
        """Names of the required components that are not usable."""
        return [c.name for c in self.components if c.required and not c.ok]

    def to_json(self) -> dict[str, Any]:
        """The ``/healthz`` document: overall status, failed names, each component."""
        document: dict[str, Any] = {"status": "ok" if self.ok else "unavailable"}
        if not self.ok:
            document["failed"] = self.failed
        document["components"] = {c.name: c.to_json() for c in self.components}
        return document


def _shown(text: str) -> str:
    """``text`` on one line and at most MAX_TEXT characters long."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_TEXT else flat[: MAX_TEXT - 3] + "..."


class _Attempt:
    """One run of a check on its own thread; ``outcome`` is set before ``done``."""

    def __init__(self, component: _Component, clock: Callable[[], float]) -> None:
        self.started = clock()
        self.done = threading.Event()
        self.outcome: ComponentHealth | None = None
        self._component = component
        self._clock = clock

    def run(self) -> None:
        component = self._component
        ok, detail = False, None
        reason: str | None = "the check ended without an answer"
        try:
            answer = component.check()
            ok, reason = True, None
            detail = _shown(answer) if answer else None
        except CheckFailed as exc:
            reason = _shown(str(exc)) or type(exc).__name__
            component.note_failure(exc)
        except Exception as exc:
            reason = type(exc).__name__
            component.note_failure(exc)
        finally:
            self.outcome = ComponentHealth(
                component.name,
                ok,
                component.required,
                self._clock() - self.started,
                reason,
                detail,
            )
            component.finish(self)
            self.done.set()


class _Component:
    """A registered check and what is known of its last and current attempts."""

    def __init__(
        self, name: str, check: Check, required: bool, timeout: float, clock: Callable[[], float]
    ) -> None:
        self.name = name
        self.check = check
        self.required = required
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._running: _Attempt | None = None
        self._last: ComponentHealth | None = None
        self._last_at = 0.0
        self._healthy: bool | None = None

    def attempt(self, max_age: float) -> ComponentHealth | _Attempt:
        """A result younger than ``max_age``, else the attempt in progress (started now
        when there is none)."""
        with self._lock:
            if self._last is not None and self._clock() - self._last_at < max_age:
                return self._last
            if self._running is None:
                attempt = _Attempt(self, self._clock)
                self._running = attempt
                threading.Thread(
                    target=attempt.run, name=f"health-{self.name}", daemon=True
                ).start()
            return self._running

    def finish(self, attempt: _Attempt) -> None:
        """Keep ``attempt``'s outcome for reuse and log a change of state."""
        assert attempt.outcome is not None
        with self._lock:
            self._running = None
            self._last, self._last_at = attempt.outcome, self._clock()
            recovered = attempt.outcome.ok and self._healthy is False
            self._healthy = attempt.outcome.ok
        if recovered:
            log.info("health: %s is usable again", self.name)

    def note_failure(self, error: Exception) -> None:
        """Log why the check failed, with its traceback, when it was not failing before."""
        with self._lock:
            changed = self._healthy is not False
        if changed:
            log.warning("health: %s check failed", self.name, exc_info=error)

    def timed_out(self, attempt: _Attempt) -> ComponentHealth:
        running = self._clock() - attempt.started
        return ComponentHealth(
            self.name,
            False,
            self.required,
            running,
            f"no answer within {self.timeout:g} s",
        )


class HealthChecks:
    """The registered components and how to check them all at once. Thread-safe.

    ``timeout`` is the default time limit of a check in seconds, ``max_age`` how long a
    result is reused.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0 or max_age < 0:
            raise ValueError("timeout must be positive and max_age not negative")
        self._timeout = timeout
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._components: dict[str, _Component] = {}

    def register(
        self, name: str, check: Check, *, required: bool = True, timeout: float | None = None
    ) -> None:
        """Check the component ``name`` with ``check`` from now on.

        ``name`` is a short lower-case identifier (``database``, ``scanner``); ValueError
        when it is malformed or already registered. A component that is not ``required``
        is reported but never makes the gateway unready. ``timeout`` overrides the
        default time limit for this check.
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"component name must match {_NAME.pattern}, got {name!r}")
        limit = self._timeout if timeout is None else timeout
        if limit <= 0:
            raise ValueError(f"timeout must be positive, got {limit}")
        with self._lock:
            if name in self._components:
                raise ValueError(f"component {name!r} is already registered")
            self._components[name] = _Component(name, check, required, limit, self._clock)

    def unregister(self, name: str) -> None:
        """Stop checking ``name``; KeyError when it is not registered."""
        with self._lock:
            del self._components[name]

    @property
    def names(self) -> list[str]:
        """The registered components, in registration order."""
        with self._lock:
            return list(self._components)

    def run(self) -> HealthReport:
        """Check every component at once; returns within the longest time limit.

        Never raises for a failing check: failures, time-outs included, are outcomes.
        """
        with self._lock:
            components = list(self._components.values())
        pending = [(component, component.attempt(self._max_age)) for component in components]
        outcomes: list[ComponentHealth] = []
        for component, state in pending:
            if isinstance(state, ComponentHealth):
                outcomes.append(state)
                continue
            left = state.started + component.timeout - self._clock()
            if state.done.wait(max(left, 0.0)) and state.outcome is not None:
                outcomes.append(state.outcome)
            else:
                outcomes.append(component.timed_out(state))
        return HealthReport(tuple(outcomes))
