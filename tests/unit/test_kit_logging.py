"""The kit's logging: a consumer group's short wait for its coordinator is not reported as an error."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from aiokafka import errors as kafka_errors

from services.kit.logging import CoordinatorWaitFilter, configure_logging

COORDINATOR = "aiokafka.consumer.group_coordinator"


def _record(msg: str, *args: object, level: int = logging.ERROR, name: str = COORDINATOR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def _lookup_failed(error: Exception | None = None) -> logging.LogRecord:
    return _record("Group Coordinator Request failed: %s", error or kafka_errors.GroupCoordinatorNotAvailableError())


def _marked_dead() -> logging.LogRecord:
    return _record("Marking the coordinator dead (node %s)for group %s.", 1, "itinera-profile", level=logging.WARNING)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_short_wait_for_the_coordinator_is_held_back_and_a_long_one_is_logged() -> None:
    clock = Clock()
    wait = CoordinatorWaitFilter(grace=60, quiet=30, clock=clock)
    shown = []
    for second in range(0, 90, 2):  # the client retries every few hundred ms; every 2 s is enough here
        clock.now = 1000.0 + second
        shown.append((second, wait.filter(_lookup_failed()), wait.filter(_marked_dead())))
    assert all(not lookup and not dead for second, lookup, dead in shown if second < 60)
    assert all(lookup and dead for second, lookup, dead in shown if second >= 60)  # an outage: logged

    # The coordinator came back; a later short wait (after a broker restart) is held back again.
    clock.now += 31
    assert not wait.filter(_lookup_failed(kafka_errors.NotCoordinatorForGroupError()))
    clock.now += 5
    assert not wait.filter(_lookup_failed(kafka_errors.GroupLoadInProgressError()))


@pytest.mark.parametrize(
    "record",
    [
        _lookup_failed(kafka_errors.GroupAuthorizationFailedError()),  # a real refusal
        _record("OffsetCommit failed for group %s due to group error (%s), will rejoin", "g", "x"),
        _record("Heartbeat session expired - marking coordinator dead"),
        _record("Group Coordinator Request failed: %s", kafka_errors.GroupCoordinatorNotAvailableError(), name="other"),
    ],
)
def test_other_lines_always_pass(record: logging.LogRecord) -> None:
    assert CoordinatorWaitFilter(clock=Clock()).filter(record)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    coordinator = logging.getLogger(COORDINATOR)
    filters = coordinator.filters[:]
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        coordinator.filters[:] = filters


def test_configured_logging_holds_back_the_wait_once_and_keeps_real_errors(
    restored_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(service="profile", fmt="text")
    configure_logging(service="profile", fmt="text")  # configured twice (tests, re-runs): one filter
    coordinator = logging.getLogger(COORDINATOR)
    assert sum(isinstance(f, CoordinatorWaitFilter) for f in coordinator.filters) == 1

    coordinator.error("Group Coordinator Request failed: %s", kafka_errors.GroupCoordinatorNotAvailableError())
    coordinator.warning("Marking the coordinator dead (node %s)for group %s.", 1, "itinera-profile")
    coordinator.error("Attempt to join group failed due to fatal error: %s", "boom")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "Attempt to join group failed" in lines[0]
