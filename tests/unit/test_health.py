"""gateway.health: outcomes of checks, what operators may see, time limits, reuse."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from gateway.health import MAX_TEXT, CheckFailed, HealthChecks
from gateway.ports import BlobStoreUnavailable


def _ok() -> None:
    return None


def _raises(error: Exception) -> Callable[[], None]:
    def check() -> None:
        raise error

    return check


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test, so hung checks' threads finish."""
    event = threading.Event()
    yield event
    event.set()


def test_no_component_is_ready() -> None:
    report = HealthChecks().run()
    assert report.ok
    assert report.to_json() == {"status": "ok", "components": {}}


def test_every_component_answering_is_ready() -> None:
    checks = HealthChecks()
    checks.register("database", _ok)
    checks.register("queue", lambda: "3 jobs waiting")
    report = checks.run()
    assert report.ok
    document = report.to_json()
    assert document["status"] == "ok"
    assert "failed" not in document
    assert list(document["components"]) == ["database", "queue"]
    assert document["components"]["database"]["status"] == "ok"
    assert document["components"]["queue"]["detail"] == "3 jobs waiting"


def test_a_failing_check_shows_only_the_type_of_its_error() -> None:
    checks = HealthChecks()
    checks.register("database", _ok)
    secret = "postgresql://user:hunter2@db/gateway"
    checks.register("backend", _raises(BlobStoreUnavailable(f"cannot reach {secret}")))
    report = checks.run()
    assert not report.ok
    assert report.failed == ["backend"]
    document = report.to_json()
    assert document["status"] == "unavailable"
    assert document["failed"] == ["backend"]
    assert document["components"]["backend"] == {
        "status": "failed",
        "required": True,
        "seconds": document["components"]["backend"]["seconds"],
        "reason": "BlobStoreUnavailable",
    }
    assert "hunter2" not in str(document)


def test_check_failed_shows_its_message_on_one_short_line() -> None:
    checks = HealthChecks()
    checks.register("queue", _raises(CheckFailed("oldest job\nwaits " + "x" * 500)))
    component = checks.run().components[0]
    assert component.reason is not None
    assert component.reason.startswith("oldest job waits xxx")
    assert len(component.reason) == MAX_TEXT
    assert "\n" not in component.reason


def test_an_optional_component_failing_leaves_the_gateway_ready() -> None:
    checks = HealthChecks()
    checks.register("database", _ok)
    checks.register("scanner", _raises(ConnectionRefusedError()), required=False)
    report = checks.run()
    assert report.ok
    assert report.failed == []
    assert report.to_json()["components"]["scanner"]["status"] == "failed"


def test_a_hung_check_fails_after_its_time_limit(release: threading.Event) -> None:
    calls: list[int] = []

    def hangs() -> None:
        calls.append(1)
        release.wait(30)

    checks = HealthChecks(timeout=0.2, max_age=0)
    checks.register("database", _ok)
    checks.register("backend", hangs)
    started = time.monotonic()
    report = checks.run()
    assert 0.15 < time.monotonic() - started < 2
    assert report.failed == ["backend"]
    assert report.components[1].reason == "no answer within 0.2 s"
    # Asked again while the first attempt still hangs: no second attempt, and no wait
    # beyond the first attempt's time limit.
    started = time.monotonic()
    assert checks.run().failed == ["backend"]
    assert time.monotonic() - started < 0.15
    assert len(calls) == 1
    # Once it answers, the next report sees the component again.
    release.set()
    deadline = time.monotonic() + 5
    while not checks.run().ok:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_timeout_of_its_own_overrides_the_default(release: threading.Event) -> None:
    def hangs() -> None:
        release.wait(30)

    checks = HealthChecks(timeout=10)
    checks.register("scanner", hangs, timeout=0.1)
    started = time.monotonic()
    assert not checks.run().ok
    assert time.monotonic() - started < 2


def test_results_are_reused_for_max_age() -> None:
    calls: list[int] = []

    def counted() -> None:
        calls.append(1)

    now = [100.0]
    checks = HealthChecks(max_age=1.0, clock=lambda: now[0])
    checks.register("database", counted)
    for _ in range(5):
        assert checks.run().ok
    assert len(calls) == 1
    now[0] += 1.5
    assert checks.run().ok
    assert len(calls) == 2


def test_concurrent_reports_share_one_attempt(release: threading.Event) -> None:
    calls: list[int] = []
    entered = threading.Event()

    def slow() -> None:
        calls.append(1)
        entered.set()
        release.wait(30)

    checks = HealthChecks(timeout=5, max_age=0)
    checks.register("backend", slow)
    reports: list[bool] = []
    threads = [threading.Thread(target=lambda: reports.append(checks.run().ok)) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert entered.wait(5)
    release.set()
    for thread in threads:
        thread.join(10)
    assert reports == [True] * 4
    assert len(calls) == 1


@pytest.mark.parametrize("name", ["", "Database", "has space", "x" * 40, "1st"])
def test_malformed_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="component name"):
        HealthChecks().register(name, _ok)


def test_a_name_is_registered_once_and_can_be_removed() -> None:
    checks = HealthChecks()
    checks.register("scanner", _ok)
    with pytest.raises(ValueError, match="already registered"):
        checks.register("scanner", _ok)
    checks.unregister("scanner")
    assert checks.names == []
    checks.register("scanner", _raises(OSError()))
    assert not checks.run().ok


def test_a_failure_is_logged_once_until_it_recovers(caplog: pytest.LogCaptureFixture) -> None:
    failing = [True]

    def flaky() -> None:
        if failing[0]:
            raise BlobStoreUnavailable("disk gone")

    checks = HealthChecks(max_age=0)
    checks.register("backend", flaky)
    with caplog.at_level("INFO", logger="gateway.health"):
        for _ in range(3):
            assert not checks.run().ok
        failing[0] = False
        assert checks.run().ok
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["health: backend check failed", "health: backend is usable again"]
    assert "disk gone" in caplog.text
