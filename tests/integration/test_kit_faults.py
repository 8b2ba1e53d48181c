"""Consumers that never stop and never lie, on the real broker and database.

Poison records are dead-lettered with their reason (redacted, small enough to publish) and the
partition moves on; transient faults (connections cut, deadlocks, asyncpg's odd restart errors)
retry the batch instead of dead-lettering good work; a reused event id with another body is a
conflict, not a duplicate; /readyz says when a consumer is stuck. Each runs on both hosts: the
kit's batch consumer and a faust agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from pydantic_core import to_json

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.envelope import Envelope, encode_envelope
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.settings import ServiceSettings
from tests import builders
from tests.harness import KAFKA, TestEnv, create_env, drop_env, wait_until

pytestmark = pytest.mark.integration

TOPIC = "booking.events.v1"
DLQ = "profile.deadletters.v1"
HOSTS = ["batch", "faust"]


class Faults:
    """Errors the handler raises on its next calls, in order (a fake fault, the rest is real)."""

    def __init__(self) -> None:
        self.pending: list[BaseException] = []
        self.stuck: BaseException | None = None  # raised on every call while set

    def next(self) -> None:
        if self.stuck is not None:
            raise self.stuck
        if self.pending:
            raise self.pending.pop(0)


@pytest.fixture
async def fault_env() -> AsyncIterator[TestEnv]:
    env = await create_env()  # its own topics: each test reads its own dead letters
    try:
        yield env
    finally:
        await drop_env(env)


def _definition(env: TestEnv, host: str, faults: Faults, **settings: Any) -> ServiceDefinition:
    async def handle_run(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        faults.next()
        await conn.executemany(
            "INSERT INTO kit_test_effects (booking_id, event_id) VALUES ($1, $2)",
            [(e.payload.booking_id, e.event_id) for e in events],
        )

    async def handle(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_run(conn, [event])

    values: dict[str, Any] = {
        "service_name": "profile",
        "consumer_batch_size": 20,
        "batch_consumers": ["bookings"] if host == "batch" else [],
    }
    values.update(settings)
    return ServiceDefinition(
        settings=env.settings(ServiceSettings, **values),
        migrations="tests.integration.kit_migrations",
        consumers=[ConsumerSpec(name="bookings", topics=(TOPIC,), handler=handle, batch_handler=handle_run)],
    )


async def _effects(env: TestEnv) -> dict[str, int]:
    conn = await env.admin_connect()
    try:
        rows = await conn.fetch("SELECT booking_id, count(*) AS n FROM profile.kit_test_effects GROUP BY booking_id")
    finally:
        await conn.close()
    return {r["booking_id"]: r["n"] for r in rows}


async def _handled(env: TestEnv, *booking_ids: str) -> bool:
    effects = await _effects(env)
    return all(b in effects for b in booking_ids)


async def _publish_raw(env: TestEnv, value: bytes | None, *, compression: str | None = None) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA, compression_type=compression, max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    try:
        await producer.send_and_wait(env.topic_prefix + TOPIC, value=value, key=b"poison", partition=0)
    finally:
        await producer.stop()


def _dead_letters(records: list[tuple[bytes | None, bytes | None, dict[str, bytes]]]) -> list[dict[str, Any]]:
    return [
        {"value": value, **{k: v.decode(errors="replace") for k, v in headers.items() if k.startswith("dlq.")}}
        for _, value, headers in records
    ]


def _with_passport(event: Envelope[Any]) -> bytes:
    """The event's JSON with a passport number, and a segment the schema refuses (so it is dead-lettered)."""
    data = event.model_dump(mode="json")
    data["payload"]["traveller"]["passport_number"] = "X1234567"
    data["payload"]["segments"][0]["departure_at"] = "not a time"
    return to_json(data)


@pytest.mark.parametrize("host", HOSTS)
async def test_every_poison_record_is_dead_lettered_with_its_reason_and_the_partition_moves_on(
    fault_env: TestEnv, host: str
) -> None:
    faults = Faults()
    good = builders.booking_created()
    nul = builders.booking_created(traveller=builders.traveller(given_name="An\x00n"))
    unknown = builders.booking_created().model_dump(mode="json") | {"event_type": "booking.exploded"}
    poison: list[tuple[str, bytes | None, str | None]] = [
        ("deeply nested", b"[" * 100_000, None),
        ("oversized", b'{"padding": "' + b"x" * 1_500_000 + b'"}', "gzip"),
        ("NUL", encode_envelope(nul), None),
        ("invalid UTF-8", b'{"event_id": "\xff\xfe"}', None),
        ("bad JSON", b'{"event_id": ', None),
        ("unknown type", to_json(unknown), None),
        ("schema-invalid", _with_passport(builders.booking_created()), None),
        ("empty", b"", None),
    ]
    async with fault_env.running(_definition(fault_env, host, faults)) as runtime:
        for _, value, compression in poison:
            await _publish_raw(fault_env, value, compression=compression)
        await _publish_raw(fault_env, None)  # a null value: nothing to handle, nothing to stop
        await fault_env.publish(TOPIC, good, partition=0)
        await wait_until(lambda: _handled(fault_env, good.payload.booking_id), timeout=60)
        letters = _dead_letters(await fault_env.read_topic(DLQ, until=lambda rs: len(rs) >= len(poison), timeout=60))
        assert all((await runtime.readiness()).values())
    assert len(letters) == len(poison)
    assert {letter["dlq.reason"] for letter in letters} == {"unparseable"}
    assert all(letter["dlq.attempts"] == "0" for letter in letters)  # refused at decoding, no handler retries
    by_error = {name: letter for (name, _, _), letter in zip(poison, letters, strict=True)}
    assert "NUL" in by_error["NUL"]["dlq.error"]
    oversized = by_error["oversized"]
    assert oversized["dlq.truncated"] == "true"
    assert int(oversized["dlq.original_size"]) > 1_500_000
    assert len(oversized["dlq.original_sha256"]) == 64
    assert len(oversized["value"]) < 64 * 1024
    redacted = by_error["schema-invalid"]
    assert b"X1234567" not in redacted["value"]
    assert b'"passport_number":null' in redacted["value"]
    assert "passport_number" in redacted["dlq.redacted"]
    assert b"VGML" not in redacted["value"]  # the meal code: special-category data


@pytest.mark.parametrize("host", HOSTS)
async def test_transient_faults_retry_the_batch_and_dead_letter_nothing(fault_env: TestEnv, host: str) -> None:
    faults = Faults()
    # What a PostgreSQL restart and a deadlock look like to a handler: none of it is the records' fault,
    # and more of it in a row than a record's handler attempts (3) must still lose nothing.
    faults.pending = [
        asyncpg.InterfaceError("cannot call Connection.is_closed(): connection has been released back to the pool"),
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.SerializationError("could not serialize access due to concurrent update"),
    ]
    events = [builders.booking_created() for _ in range(5)]
    async with fault_env.running(_definition(fault_env, host, faults)):
        for event in events:
            await fault_env.publish(TOPIC, event)
        await wait_until(lambda: _handled(fault_env, *(e.payload.booking_id for e in events)), timeout=60)
        sentinel = builders.booking_created()
        await fault_env.publish(TOPIC, sentinel)
        await wait_until(lambda: _handled(fault_env, sentinel.payload.booking_id), timeout=60)
    assert faults.pending == []
    effects = await _effects(fault_env)
    assert all(effects[e.payload.booking_id] == 1 for e in events)
    with pytest.raises(AssertionError, match="timed out"):
        await fault_env.read_topic(DLQ, until=lambda rs: len(rs) > 0, timeout=3)


@pytest.mark.parametrize("host", HOSTS)
async def test_a_reused_event_id_with_another_body_is_a_conflict_not_a_duplicate(
    fault_env: TestEnv, host: str
) -> None:
    faults = Faults()
    original = builders.booking_created()
    forged = original.model_copy(update={"payload": original.payload.model_copy(update={"total_price": Decimal(1)})})
    after = builders.booking_created()
    async with fault_env.running(_definition(fault_env, host, faults)):
        await fault_env.publish(TOPIC, original)
        await wait_until(lambda: _handled(fault_env, original.payload.booking_id), timeout=60)
        await fault_env.publish(TOPIC, original)  # a redelivery: the same bytes, a duplicate
        await fault_env.publish(TOPIC, forged)
        await fault_env.publish(TOPIC, after)
        await wait_until(lambda: _handled(fault_env, after.payload.booking_id), timeout=60)
        letters = _dead_letters(await fault_env.read_topic(DLQ, until=lambda rs: len(rs) >= 1, timeout=30))
    assert [letter["dlq.reason"] for letter in letters] == ["conflict"]
    assert str(original.event_id) in letters[0]["dlq.error"]
    assert (await _effects(fault_env))[original.payload.booking_id] == 1


@pytest.mark.parametrize("host", HOSTS)
async def test_readiness_reports_a_stuck_consumer_and_recovers_with_it(fault_env: TestEnv, host: str) -> None:
    faults = Faults()
    faults.stuck = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    event = builders.booking_created()
    definition = _definition(fault_env, host, faults, stall_after=1.0)
    async with fault_env.running(definition) as runtime:
        assert all((await runtime.readiness()).values())
        await fault_env.publish(TOPIC, event)

        async def stalled() -> bool:
            return not (await runtime.readiness())["worker:consumer:bookings"]

        await wait_until(stalled, timeout=60)
        assert "bookings" in " ".join(runtime.problems())
        faults.stuck = None
        await wait_until(lambda: _handled(fault_env, event.payload.booking_id), timeout=60)

        async def ready() -> bool:
            return all((await runtime.readiness()).values())

        await wait_until(ready, timeout=30)


@pytest.mark.parametrize("host", HOSTS)
async def test_consumers_ride_out_the_database_dropping_every_connection(fault_env: TestEnv, host: str) -> None:
    """What a PostgreSQL restart does to a process, without stopping the shared server: every connection
    of the service is terminated by the server (57P01) while records flow."""
    faults = Faults()
    events = [builders.booking_created() for _ in range(60)]
    async with fault_env.running(_definition(fault_env, host, faults)) as runtime:
        admin = await fault_env.admin_connect()
        try:
            for i, event in enumerate(events):
                await fault_env.publish(TOPIC, event)
                if i % 20 == 10:
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                    await asyncio.sleep(0.2)
        finally:
            await admin.close()
        await wait_until(lambda: _handled(fault_env, *(e.payload.booking_id for e in events)), timeout=90)

        async def ready() -> bool:
            return all((await runtime.readiness()).values())

        await wait_until(ready, timeout=60)
        assert all(runtime.health.worker(name).running for name in ("outbox-relay", "consumer:bookings"))
    effects = await _effects(fault_env)
    assert all(effects[e.payload.booking_id] == 1 for e in events)


async def test_a_runtime_loop_that_crashes_is_started_again(fault_env: TestEnv) -> None:
    """A background job that dies (here: on an error nobody foresaw) is restarted by the runtime."""
    runs: list[int] = []

    async def flaky_job(runtime: ServiceRuntime) -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("boom")
        worker = runtime.health.worker("flaky_job")
        worker.progressed()
        await asyncio.Event().wait()

    definition = _definition(fault_env, "batch", Faults())
    definition.background = [flaky_job]
    async with fault_env.running(definition) as runtime:

        async def restarted() -> bool:
            return len(runs) >= 3 and all((await runtime.readiness()).values())

        await wait_until(restarted, timeout=30)
        assert runtime.health.worker("flaky_job").restarts == 2
