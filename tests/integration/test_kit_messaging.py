"""Outbox, idempotent consumer and dead-lettering against the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest

from services.kit.consumer import BatchProcessor, ConsumerSpec, IncomingRecord
from services.kit.contracts.customers import CustomerCreatedV1
from services.kit.contracts.envelope import Envelope, encode_envelope
from services.kit.dlq import redrive
from services.kit.outbox import OutboxRelay, collecting, enqueue, lock_name
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.settings import ServiceSettings
from tests import builders
from tests.harness import KAFKA, TestEnv, create_env, drop_env, wait_until

pytestmark = pytest.mark.integration


class Switch:
    """Lets a test make the handler fail for some bookings, then 'deploy the fix'."""

    def __init__(self) -> None:
        self.failing: set[str] = set()


@pytest.fixture(scope="module")
async def kit_env() -> AsyncIterator[TestEnv]:
    env = await create_env()
    try:
        yield env
    finally:
        await drop_env(env)


FETCH = pytest.mark.parametrize("fetch", ["faust", "batch"])  # a faust agent, or the kit's batch consumer


def _definition(env: TestEnv, switch: Switch, fetch: str = "faust") -> ServiceDefinition:
    async def handle(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        booking_id = event.payload.booking_id
        await conn.execute(
            "INSERT INTO kit_test_effects (booking_id, event_id) VALUES ($1, $2)", booking_id, event.event_id
        )
        await enqueue(
            conn,
            topic="profile.customer-events.v1",
            envelope=Envelope.new(
                CustomerCreatedV1(customer_id=f"c-{booking_id}", source_system="t", source_record_id=booking_id),
                producer="profile",
                subject_id=f"c-{booking_id}",
                caused_by=event,
            ),
        )
        if booking_id in switch.failing:
            raise RuntimeError(f"cannot handle {booking_id} yet")

    settings = env.settings(
        ServiceSettings,
        service_name="profile",
        consumer_max_attempts=2,
        batch_consumers=["kit-test"] if fetch == "batch" else [],
    )
    return ServiceDefinition(
        settings=settings,
        migrations="tests.integration.kit_migrations",
        consumers=[ConsumerSpec(name="kit-test", topics=("booking.events.v1",), handler=handle)],
    )


def _without_consumers(definition: ServiceDefinition) -> ServiceDefinition:
    """For tests driving a `BatchProcessor` themselves: no consumer handles batches alongside theirs."""
    return dataclasses.replace(definition, consumers=[])


@contextlib.asynccontextmanager
async def _outbox_only(env: TestEnv) -> AsyncIterator[tuple[ServiceRuntime, OutboxRelay]]:
    """A runtime without workers or a running relay, and a relay the test drives itself."""
    runtime = ServiceRuntime(_without_consumers(_definition(env, Switch())))
    await runtime.start(workers=False, create_topics=False)
    try:
        yield runtime, OutboxRelay(
            pool=runtime.pool, producer=runtime.producer, schema="profile", service="profile",
            topic_prefix=env.topic_prefix,
        )  # fmt: skip
    finally:
        await runtime.stop()


async def _effects(env: TestEnv, booking_id: str) -> int:
    conn = await env.admin_connect()
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM profile.kit_test_effects WHERE booking_id = $1", booking_id)
        )
    finally:
        await conn.close()


@FETCH
async def test_outbox_publishes_in_the_handlers_transaction(kit_env: TestEnv, fetch: str) -> None:
    event = builders.booking_created()
    booking_id = event.payload.booking_id
    async with kit_env.running(_definition(kit_env, Switch(), fetch)) as runtime:
        await kit_env.publish("booking.events.v1", event)
        published = await kit_env.events(
            "profile.customer-events.v1",
            until=lambda evs: any(e.payload.customer_id == f"c-{booking_id}" for e in evs),
        )
        mine = next(e for e in published if e.payload.customer_id == f"c-{booking_id}")
        assert mine.causation_id == event.event_id
        assert mine.correlation_id == event.correlation_id
        async with runtime.pool.acquire() as conn:
            await wait_until(lambda: conn.fetchval("SELECT count(*) = 0 FROM outbox"))


@FETCH
async def test_same_event_delivered_twice_changes_nothing(kit_env: TestEnv, fetch: str) -> None:
    event = builders.booking_created()
    marker = builders.booking_created(source_system=event.payload.source_system)
    async with kit_env.running(_definition(kit_env, Switch(), fetch)):
        await kit_env.publish("booking.events.v1", event)
        await kit_env.publish("booking.events.v1", event)
        await kit_env.publish("booking.events.v1", event, partition=2)
        await kit_env.publish("booking.events.v1", marker, key=event.subject_id)  # same partition, after the duplicates
        await wait_until(lambda: _effects(kit_env, marker.payload.booking_id))
        await wait_until(lambda: _effects(kit_env, event.payload.booking_id))
        events = await kit_env.events(
            "profile.customer-events.v1",
            until=lambda evs: any(e.payload.customer_id == f"c-{marker.payload.booking_id}" for e in evs),
        )
    assert await _effects(kit_env, event.payload.booking_id) == 1
    assert sum(1 for e in events if e.payload.customer_id == f"c-{event.payload.booking_id}") == 1


@FETCH
async def test_garbage_is_dead_lettered_and_the_partition_keeps_moving(kit_env: TestEnv, fetch: str) -> None:
    good = builders.booking_created()
    async with kit_env.running(_definition(kit_env, Switch(), fetch)):
        await kit_env.publish("booking.events.v1", b"{definitely not an event", key=good.subject_id)
        await kit_env.publish("booking.events.v1", good)
        await wait_until(lambda: _effects(kit_env, good.payload.booking_id))
    key = good.subject_id.encode()
    letters = await kit_env.read_topic(
        "profile.deadletters.v1",
        until=lambda rs: any(k == key and v == b"{definitely not an event" for k, v, _ in rs),
    )
    _, _, headers = next(r for r in letters if r[0] == key and r[1] == b"{definitely not an event")
    assert headers["dlq.reason"] == b"unparseable"
    assert b"not JSON" in headers["dlq.error"]
    assert headers["dlq.source_topic"] == b"booking.events.v1"
    assert headers["dlq.service"] == b"profile"
    assert int(headers["dlq.source_offset"]) >= 0
    assert headers["dlq.source_partition"].isdigit()


@FETCH
async def test_failing_handler_is_retried_dead_lettered_then_redriven_after_the_fix(
    kit_env: TestEnv, fetch: str
) -> None:
    switch = Switch()
    broken = builders.booking_created()
    after = builders.booking_created()
    switch.failing.add(broken.payload.booking_id)
    async with kit_env.running(_definition(kit_env, switch, fetch)) as runtime:
        await kit_env.publish("booking.events.v1", broken)
        await kit_env.publish("booking.events.v1", after, key=broken.subject_id)
        await wait_until(lambda: _effects(kit_env, after.payload.booking_id))
        letters = await kit_env.read_topic(
            "profile.deadletters.v1",
            until=lambda rs: any(h.get("event_id") == str(broken.event_id).encode() for _, _, h in rs),
        )
        headers = next(h for _, _, h in letters if h.get("event_id") == str(broken.event_id).encode())
        assert headers["dlq.reason"] == b"handler_failed"
        assert headers["dlq.attempts"] == b"2"
        assert b"cannot handle" in headers["dlq.error"]
        # the failed attempt's effect and outbox row were rolled back
        assert await _effects(kit_env, broken.payload.booking_id) == 0

        switch.failing.clear()  # the fix is deployed
        redriven = await redrive(  # dead letters are sealed: the re-drive opens them with the keyring
            bootstrap_servers=KAFKA, topic_prefix=kit_env.topic_prefix, service="profile",
            sealer=runtime.producer.sealer,
        )  # fmt: skip
        assert redriven >= 1
        await wait_until(lambda: _effects(kit_env, broken.payload.booking_id))
    assert await _effects(kit_env, broken.payload.booking_id) == 1


async def test_a_run_with_a_failing_record_is_handled_again_one_by_one(kit_env: TestEnv) -> None:
    """Records of a batch are first handled as one run; a failure replays the run record by record."""
    switch = Switch()
    first, broken, last = builders.booking_created(), builders.booking_created(), builders.booking_created()
    switch.failing.add(broken.payload.booking_id)
    definition = _definition(kit_env, switch)
    spec = definition.consumers[0]
    records = [
        IncomingRecord(
            topic=f"{kit_env.topic_prefix}booking.events.v1",
            partition=0,
            offset=offset,
            key=event.subject_id.encode(),
            value=encode_envelope(event),
            headers=event.headers(),
        )
        for offset, event in enumerate([first, broken, last, first])  # the last one is a redelivery
    ]
    async with kit_env.running(_without_consumers(definition)) as runtime:
        processor = BatchProcessor(
            spec=spec,
            pool=runtime.pool,
            producer=runtime.producer,
            service="profile",
            topic_prefix=kit_env.topic_prefix,
        )
        gc_was_enabled = gc.isenabled()
        result = await processor.process(records)
        assert gc.isenabled() == gc_was_enabled  # the collector is back after the batch
        assert (result.processed, result.duplicates) == (2, 1)
        assert [(f.record.offset, f.reason) for f in result.failures] == [(1, "handler_failed")]
    # the failed run left nothing behind: each good record's effect exactly once, none of the broken one's
    assert await _effects(kit_env, first.payload.booking_id) == 1
    assert await _effects(kit_env, last.payload.booking_id) == 1
    assert await _effects(kit_env, broken.payload.booking_id) == 0


class _BrokenProducer:
    """A producer whose broker is away."""

    async def send_rows(self, rows: Any) -> None:
        raise OSError("broker away")


async def test_a_batch_publishes_after_its_commit_and_leaves_failures_to_the_relay(kit_env: TestEnv) -> None:
    switch = Switch()
    first, broken, last = builders.booking_created(), builders.booking_created(), builders.booking_created()
    later = builders.booking_created()
    switch.failing.add(broken.payload.booking_id)
    definition = _definition(kit_env, switch)
    spec = definition.consumers[0]

    def records(events: list[Envelope[Any]], start: int) -> list[IncomingRecord]:
        return [
            IncomingRecord(
                topic=f"{kit_env.topic_prefix}booking.events.v1", partition=1, offset=start + n,
                key=e.subject_id.encode(), value=encode_envelope(e), headers=e.headers(),
            )
            for n, e in enumerate(events)
        ]  # fmt: skip

    async with kit_env.running(_without_consumers(definition)) as runtime:
        assert runtime.relay is not None
        processor = BatchProcessor(
            spec=spec, pool=runtime.pool, producer=runtime.producer, service="profile",
            topic_prefix=kit_env.topic_prefix, outbox=runtime.relay,
        )  # fmt: skip
        await processor.process(records([first, broken, last], 0))
        await processor.wait_published()
        # The broker is away while the next batch publishes: its row stays for the relay.
        relay_without_broker = OutboxRelay(
            pool=runtime.pool, producer=_BrokenProducer(), schema="profile", service="profile",  # type: ignore[arg-type]
            topic_prefix=kit_env.topic_prefix,
        )  # fmt: skip
        stranded = BatchProcessor(
            spec=spec, pool=runtime.pool, producer=runtime.producer, service="profile",
            topic_prefix=kit_env.topic_prefix, outbox=relay_without_broker,
        )  # fmt: skip
        await stranded.process(records([later], 10))
        await stranded.wait_published()
        wanted = {f"c-{e.payload.booking_id}" for e in (first, last, later)}
        published = await kit_env.events(
            "profile.customer-events.v1", until=lambda evs: wanted <= {e.payload.customer_id for e in evs}
        )
        async with runtime.pool.acquire() as conn:
            await wait_until(lambda: conn.fetchval("SELECT count(*) = 0 FROM outbox"))
    ids = [e.payload.customer_id for e in published]
    assert all(ids.count(c) == 1 for c in wanted)  # each committed event once
    assert f"c-{broken.payload.booking_id}" not in ids  # rolled back with its run: never published


async def test_a_committed_batch_waits_only_for_older_rows_of_its_own_keys(kit_env: TestEnv) -> None:
    """Order matters per key: a batch is published at once past other keys' waiting rows, and left
    to the relay (which publishes in id order) when an older row of one of its keys still waits."""
    async with _outbox_only(kit_env) as (runtime, relay):  # no relay sweeping behind the test's back
        first_k1, only_k2, second_k1 = (customer_event(k) for k in ("k1", "k2", "k1"))

        async def commit(event: Envelope[Any]) -> list[Any]:
            with collecting() as collected:
                async with runtime.pool.acquire() as conn, conn.transaction():
                    await enqueue(conn, topic="profile.customer-events.v1", envelope=event)
            return list(collected)

        await commit(first_k1)  # committed, not published yet
        assert await relay.publish_committed(await commit(only_k2)) == 1  # another key: not held back
        assert await relay.publish_committed(await commit(second_k1)) == 0  # k1's older row waits: relay's turn
        assert await relay.publish_pending() == 2
        k1 = [first_k1.event_id, second_k1.event_id]
        assert await _published_order(kit_env, first_k1, second_k1, also=[only_k2]) == k1
        async with runtime.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_batch_is_held_back_by_an_older_row_of_a_key_even_if_its_first_row_is_older(
    kit_env: TestEnv,
) -> None:
    """A batch's rows need not be older than another batch's rows of other keys: what counts is,
    per key, a row older than the batch's own row of that key."""
    async with _outbox_only(kit_env) as (runtime, relay):  # no relay sweeping behind the test's back
        b_k2, a_k1, b_k1 = customer_event("k2"), customer_event("k1"), customer_event("k1")
        with collecting() as batch_b:
            async with runtime.pool.acquire() as conn_b, conn_b.transaction():
                await enqueue(conn_b, topic="profile.customer-events.v1", envelope=b_k2)  # oldest id
                with collecting():  # another process's batch
                    async with runtime.pool.acquire() as conn_a, conn_a.transaction():
                        await enqueue(conn_a, topic="profile.customer-events.v1", envelope=a_k1)  # committed, waiting
                await enqueue(conn_b, topic="profile.customer-events.v1", envelope=b_k1)
        assert [r.key for r in batch_b] == [b"k2", b"k1"]
        assert await relay.publish_committed(list(batch_b)) == 0  # a's k1 is older than b's k1: relay's turn
        assert await relay.publish_pending() == 3
        assert await _published_order(kit_env, a_k1, b_k1, also=[b_k2]) == [a_k1.event_id, b_k1.event_id]


async def test_committed_batches_of_two_processes_publish_together_and_a_sweep_takes_its_turn(
    kit_env: TestEnv,
) -> None:
    """Direct publishes hold the publishing lock shared: another process's publish in progress does
    not hold a batch of other keys back; a relay sweep waits until no direct publish holds it."""
    async with _outbox_only(kit_env) as (runtime, relay):  # no relay sweeping behind the test's back
        mine, left = customer_event("k3"), customer_event("k4")
        async with runtime.pool.acquire() as conn, conn.transaction():
            await enqueue(conn, topic="profile.customer-events.v1", envelope=left)  # for the sweep
        with collecting() as batch:
            async with runtime.pool.acquire() as conn, conn.transaction():
                await enqueue(conn, topic="profile.customer-events.v1", envelope=mine)
        other = await runtime.pool.acquire()
        other_tx = other.transaction()
        await other_tx.start()  # another process, publishing its own batch right now
        await other.execute("SELECT pg_advisory_xact_lock_shared(hashtext($1))", lock_name("profile"))
        try:
            assert await asyncio.wait_for(relay.publish_committed(list(batch)), timeout=10) == 1
            assert await relay.publish_pending() == 0  # a sweep does not run beside a direct publish
            sweep = asyncio.ensure_future(relay.publish_pending(wait=True))
            await asyncio.sleep(0.3)
            assert not sweep.done()  # a forced sweep waits for its turn
        finally:
            await other_tx.commit()
            await runtime.pool.release(other)
        assert await asyncio.wait_for(sweep, timeout=10) == 1
        await kit_env.events(
            "profile.customer-events.v1",
            until=lambda evs: {e.event_id for e in evs} >= {mine.event_id, left.event_id},
        )


async def test_rows_published_after_their_commit_wake_no_relay_and_others_do(kit_env: TestEnv) -> None:
    """A relay woken by another process's collected rows would race that process for them."""
    async with _outbox_only(kit_env) as (runtime, _):
        woken = asyncio.Queue[str]()

        def on_notify(*args: Any) -> None:
            woken.put_nowait(args[2])  # (connection, pid, channel, payload)

        listener = await runtime.pool.acquire()
        await listener.add_listener("profile_outbox", on_notify)
        try:
            with collecting() as collected:
                async with runtime.pool.acquire() as conn, conn.transaction():
                    await enqueue(conn, topic="profile.customer-events.v1", envelope=customer_event("k5"))
            assert len(collected) == 1
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(woken.get(), timeout=0.5)
            async with runtime.pool.acquire() as conn, conn.transaction():  # an API request's row
                await enqueue(conn, topic="profile.customer-events.v1", envelope=customer_event("k6"))
            assert await asyncio.wait_for(woken.get(), timeout=5) == "profile_outbox"
        finally:
            await listener.remove_listener("profile_outbox", on_notify)
            await runtime.pool.release(listener)


async def _published_order(env: TestEnv, *events: Envelope[Any], also: Sequence[Envelope[Any]] = ()) -> list[uuid.UUID]:
    """The order in which `events` reached the topic, once they and `also` all have."""
    ids = {e.event_id for e in events}
    wanted = ids | {e.event_id for e in also}
    published = await env.events("profile.customer-events.v1", until=lambda evs: {e.event_id for e in evs} >= wanted)
    return [e.event_id for e in published if e.event_id in ids]


def customer_event(key: str) -> Envelope[CustomerCreatedV1]:
    created = CustomerCreatedV1(customer_id=key, source_system="t", source_record_id=uuid.uuid4().hex)
    return Envelope.new(created, producer="profile", subject_id=key)
