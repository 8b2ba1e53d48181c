"""The kit's fault handling without I/O: which errors are transient, supervised loops, dead letters."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError, NotLeaderForPartitionError
from pydantic_core import to_json

from services.kit.deadletters import KEPT_PREFIX_BYTES, Failure, IncomingRecord, dead_letter, redact, shrink
from services.kit.supervision import Health, Worker, supervise
from services.kit.transient import is_transient


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
        asyncpg.InterfaceError("connection has been released back to the pool"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.LockNotAvailableError("could not obtain lock"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        KafkaConnectionError(),
        NotLeaderForPartitionError(),
    ],
)
def test_faults_of_the_moment_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        MessageSizeTooLargeError(),
        ValueError("bad data"),
        KeyError("missing"),
    ],
)
def test_faults_of_the_work_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_an_error_raised_from_a_connection_fault_is_transient() -> None:
    outer = RuntimeError("could not load the customer")
    outer.__cause__ = asyncpg.InterfaceError("connection is closed")
    assert is_transient(outer)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_is_stalled_only_while_it_holds_work_too_long() -> None:
    clock = _Clock()
    worker = Worker("svc", "consumer:x", clock=clock)
    worker.running = True
    clock.now = 1000.0
    assert worker.healthy(60)  # idle for ages: not stalled
    worker.busy()
    clock.now = 1059.0
    assert worker.healthy(60)
    clock.now = 1061.0
    assert not worker.healthy(60)
    worker.progressed()
    assert worker.healthy(60)
    worker.failed(OSError("refused"))
    clock.now = 1200.0
    assert worker.stalled(60)
    assert worker.last_error == "OSError: refused"


def test_health_checks_name_each_worker() -> None:
    health = Health("svc", stall_after=60)
    health.worker("outbox-relay").running = True
    assert health.checks() == {"worker:outbox-relay": True}
    health.worker("dispatcher")  # never started
    assert health.checks()["worker:dispatcher"] is False
    assert health.problems() == {"dispatcher": "not running"}


async def test_supervise_restarts_a_loop_whatever_ends_it() -> None:
    worker = Worker("svc", "job")
    runs: list[str] = []
    done = asyncio.Event()

    async def body() -> None:
        runs.append("run")
        if len(runs) == 1:
            raise asyncpg.InternalClientError("cannot switch to state 15")
        if len(runs) == 2:
            raise ZeroDivisionError  # a bug: restarted too, with its traceback logged
        if len(runs) == 3:
            return  # ended by itself while the process runs: restarted
        done.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(supervise(worker, body))
    await asyncio.wait_for(done.wait(), timeout=30)
    assert worker.restarts == 3
    assert worker.running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not worker.running


def _failure(value: bytes | None, *, key: bytes = b"k", headers: list[tuple[str, bytes]] | None = None) -> Failure:
    record = IncomingRecord(topic="p.booking.events.v1", partition=2, offset=41, key=key, value=value,
                            headers=headers or [("event_type", b"booking.created")])  # fmt: skip
    return Failure(record, "unparseable", "not JSON", 0)


def test_redaction_blanks_sensitive_fields_wherever_they_stand() -> None:
    value = to_json(
        {
            "payload": {
                "traveller": {"passport_number": "X1234567", "given_name": "Ann", "known_traveller_number": "KTN 9"},
                "segments": [{"meal": "KSML", "seat": "2A"}, {"meal": None}],
            }
        }
    )
    redacted, fields = redact(value)
    assert b"X1234567" not in redacted
    assert b"KTN 9" not in redacted
    assert b"KSML" not in redacted
    assert b'"given_name":"Ann"' in redacted
    assert b'"seat":"2A"' in redacted
    assert fields == ["known_traveller_number", "meal", "passport_number"]


def test_redaction_works_on_what_is_not_json_at_all() -> None:
    redacted, fields = redact(b'{"passport_number": "C01X00T47", "a": [[[ \xff')
    assert b"C01X00T47" not in redacted
    assert fields == ["passport_number"]


def test_an_escaped_quote_does_not_end_the_redacted_value_early() -> None:
    redacted, _ = redact(b'{"passport_number": "AB\\"CD", "x": 1}')
    assert redacted == b'{"passport_number": null, "x": 1}'


def test_a_value_too_large_to_publish_keeps_a_prefix_its_size_and_hash() -> None:
    value = b"x" * 1_500_000
    kept, headers = shrink(value)
    assert kept == value[:KEPT_PREFIX_BYTES]
    assert dict(headers) == {
        "dlq.truncated": b"true",
        "dlq.original_size": b"1500000",
        "dlq.original_sha256": hashlib.sha256(value).hexdigest().encode(),
    }
    assert shrink(b"small") == (b"small", [])


def test_a_dead_letter_says_where_it_came_from_and_why() -> None:
    letter = dead_letter(
        _failure(b'{"x": 1}'),
        service="profile",
        consumer="bookings",
        topic="p.profile.deadletters.v1",
        logical_source="booking.events.v1",
    )
    headers = dict(letter.headers)
    assert letter.topic == "p.profile.deadletters.v1"
    assert headers["dlq.reason"] == b"unparseable"
    assert headers["dlq.source_topic"] == b"booking.events.v1"
    assert (headers["dlq.source_partition"], headers["dlq.source_offset"]) == (b"2", b"41")
    assert headers["event_type"] == b"booking.created"  # the record's own headers stay, for re-drive


def test_oversized_keys_and_headers_do_not_make_a_dead_letter_unpublishable() -> None:
    failure = _failure(b"{}", key=b"k" * 5000, headers=[("h", b"v" * 100_000)])
    letter = dead_letter(failure, service="profile", consumer="bookings", topic="t", logical_source="s")
    headers = dict(letter.headers)
    assert len(letter.key) == 1024
    assert "dlq.original_key_sha256" in headers
    assert headers["dlq.headers_dropped"] == b"true"
    assert "h" not in headers
