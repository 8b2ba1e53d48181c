"""Structured logs: one JSON object a line, carrying the correlation id of the work at hand."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiokafka import errors as kafka_errors
from pythonjsonlogger.json import JsonFormatter

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id_var.get()
        record.event_id = event_id_var.get()
        return True


# The group coordinator is not there yet (or moved): the client looks it up again and goes on.
_COORDINATOR_PENDING = (
    kafka_errors.GroupCoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorForGroupError,
    kafka_errors.GroupLoadInProgressError,
)
_COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"


class CoordinatorWaitFilter(logging.Filter):
    """Holds back the consumer client's lines while a group coordinator is briefly unavailable.

    A new broker creates its offsets topic when the first consumer group asks for a coordinator
    (a restarted one loads it again), and for a few seconds every consumer logs
    "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError" at ERROR and
    "Marking the coordinator dead" at WARNING, retries and carries on. Those two kinds of line are
    dropped while such a wait is younger than `grace` seconds; a coordinator that stays away longer
    is an outage and every line of it is logged from then on. Any other line passes, errors included.
    A wait ends when its lines stop for `quiet` seconds.
    """

    def __init__(
        self, *, grace: float = 60.0, quiet: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.grace = grace
        self.quiet = quiet
        self._clock = clock
        self._since: float | None = None
        self._last = 0.0

    @staticmethod
    def is_coordinator_wait(record: logging.LogRecord) -> bool:
        """Whether `record` is the client saying the coordinator is not (yet) available."""
        if record.name != _COORDINATOR_LOGGER:
            return False
        if str(record.msg).startswith("Marking the coordinator dead"):
            return True
        if str(record.msg).startswith("Group Coordinator Request failed"):
            args = record.args if isinstance(record.args, tuple) else ()
            return any(isinstance(a, _COORDINATOR_PENDING) for a in args)
        return False

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.is_coordinator_wait(record):
            return True
        now = self._clock()
        if self._since is None or now - self._last > self.quiet:
            self._since = now  # a new wait begins
        self._last = now
        return now - self._since >= self.grace


def configure_logging(*, service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Send the root logger to stderr as JSON (or text for humans) with context fields."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter(service))
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(correlation_id)s %(event_id)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(service)s %(name)s [%(correlation_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    coordinator = logging.getLogger(_COORDINATOR_LOGGER)
    for old in [f for f in coordinator.filters if isinstance(f, CoordinatorWaitFilter)]:
        coordinator.removeFilter(old)
    coordinator.addFilter(CoordinatorWaitFilter())


@contextmanager
def log_context(*, correlation_id: str | None = None, event_id: str | None = None) -> Iterator[None]:
    """Attach ids to every log line written inside the block."""
    tokens = []
    if correlation_id is not None:
        tokens.append((correlation_id_var, correlation_id_var.set(correlation_id)))
    if event_id is not None:
        tokens.append((event_id_var, event_id_var.set(event_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
