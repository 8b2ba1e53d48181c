"""The kit's batch consumer (aiokafka, whole fetched batches) on the real broker and database:
redelivery after a restart, rebalances with a batch in flight, switching over from faust."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.envelope import Envelope
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.settings import ServiceSettings
from services.kit.streams import BatchConsumer, committed_offsets
from tests import builders
from tests.harness import KAFKA, TestEnv, create_env, drop_env, wait_until

pytestmark = pytest.mark.integration

TOPIC = "booking.events.v1"


@pytest.fixture
async def batch_env() -> AsyncIterator[TestEnv]:
    env = await create_env()  # its own topics: consumer groups here start from an empty topic
    try:
        yield env
    finally:
        await drop_env(env)


def _definition(env: TestEnv, name: str, *, fetch: str = "batch", pause: float = 0.0) -> ServiceDefinition:
    async def handle_run(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        if pause:
            await asyncio.sleep(pause)  # a slow batch: rebalances find it in flight
        await conn.executemany(
            "INSERT INTO kit_test_effects (booking_id, event_id) VALUES ($1, $2)",
            [(e.payload.booking_id, e.event_id) for e in events],
        )

    async def handle(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_run(conn, [event])

    settings = env.settings(
        ServiceSettings,
        service_name="profile",
        consumer_batch_size=10,
        batch_consumers=[name] if fetch == "batch" else [],
    )
    return ServiceDefinition(
        settings=settings,
        migrations="tests.integration.kit_migrations",
        consumers=[ConsumerSpec(name=name, topics=(TOPIC,), handler=handle, batch_handler=handle_run)],
    )


async def _publish(env: TestEnv, count: int) -> list[str]:
    events = [builders.booking_created() for _ in range(count)]
    for event in events:
        await env.publish(TOPIC, event)
    return [e.payload.booking_id for e in events]


async def _effect_counts(env: TestEnv) -> dict[str, int]:
    conn = await env.admin_connect()
    try:
        rows = await conn.fetch("SELECT booking_id, count(*) AS n FROM profile.kit_test_effects GROUP BY booking_id")
    finally:
        await conn.close()
    return {r["booking_id"]: r["n"] for r in rows}


async def _all_handled(env: TestEnv, booking_ids: list[str]) -> bool:
    counts = await _effect_counts(env)
    return all(b in counts for b in booking_ids)


async def _committed(group: str) -> dict[TopicPartition, int]:
    return await committed_offsets(KAFKA, group)


async def _end_offsets(env: TestEnv) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA)
    await consumer.start()
    try:
        tps = [TopicPartition(env.topic_prefix + TOPIC, p) for p in range(3)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return {tp: end for tp, end in ends.items() if end > 0}
    finally:
        await consumer.stop()


async def _caught_up(group: str, ends: dict[TopicPartition, int]) -> bool:
    committed = await _committed(group)
    return all(committed.get(tp, 0) >= end for tp, end in ends.items())


def _duplicates(name: str) -> float:
    labels = {"service": "profile", "consumer": name, "topic": TOPIC, "outcome": "duplicate"}
    return REGISTRY.get_sample_value("itinera_events_consumed_total", labels) or 0.0


def _group(env: TestEnv, name: str) -> str:
    return f"{env.topic_prefix}itinera-profile.{name}"


async def test_a_restart_redelivers_what_was_committed_in_the_database_but_not_in_kafka(
    batch_env: TestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after its transactions committed, before the offsets: the records come again,
    and change nothing."""
    definition = _definition(batch_env, "restart")
    before = _duplicates("restart")
    with monkeypatch.context() as patched:

        async def no_commit(self: BatchConsumer, offsets: dict[TopicPartition, int]) -> None:
            return None

        patched.setattr(BatchConsumer, "_commit", no_commit)
        async with batch_env.running(definition):
            first = await _publish(batch_env, 30)
            await wait_until(lambda: _all_handled(batch_env, first))
    assert await _committed(_group(batch_env, "restart")) == {}  # nothing reached Kafka
    async with batch_env.running(definition) as runtime:
        await wait_until(lambda: _duplicates("restart") - before >= 30)  # all of them again
        second = await _publish(batch_env, 5)
        await wait_until(lambda: _all_handled(batch_env, second))
        ends = await _end_offsets(batch_env)
        await wait_until(lambda: _caught_up(_group(batch_env, "restart"), ends))
        assert runtime.streams is not None
        runtime.streams.update_lag("profile")  # the lag metric: nothing left behind
        lags = {
            tp.partition: REGISTRY.get_sample_value(
                "itinera_consumer_lag",
                {"service": "profile", "consumer": "restart", "topic": TOPIC, "partition": str(tp.partition)},
            )
            for tp in ends
        }
        assert lags == dict.fromkeys(lags, 0.0)
    counts = await _effect_counts(batch_env)
    assert all(counts[b] == 1 for b in first + second)


async def test_rebalances_with_a_batch_in_flight_lose_nothing_and_repeat_no_effect(batch_env: TestEnv) -> None:
    """A second member joins while batches are in flight, then the first one leaves."""
    definition = _definition(batch_env, "rebalance", pause=0.2)
    group = _group(batch_env, "rebalance")
    first = ServiceRuntime(definition)
    second = ServiceRuntime(definition)
    running = [first]
    await first.start(workers=True, create_topics=False)
    try:
        await first.wait_assigned()
        published = await _publish(batch_env, 120)
        await wait_until(lambda: _effect_counts(batch_env))  # batches are being handled
        running.append(second)
        await second.start(workers=True, create_topics=False)  # joins: the group rebalances
        await second.wait_assigned()
        assert first.streams is not None
        assert second.streams is not None
        both = [first.streams.batch_consumers[0], second.streams.batch_consumers[0]]
        await wait_until(lambda: all(c.assignment() for c in both))  # the partitions are shared
        published += await _publish(batch_env, 60)
        running.remove(first)
        await first.stop()  # leaves: the second member takes every partition
        await wait_until(lambda: len(both[1].assignment()) == 3)
        published += await _publish(batch_env, 30)
        await wait_until(lambda: _all_handled(batch_env, published), timeout=90)
        ends = await _end_offsets(batch_env)
        await wait_until(lambda: _caught_up(group, ends))
    finally:
        for runtime in running:
            await runtime.stop()
    counts = await _effect_counts(batch_env)
    assert sorted(counts) == sorted(published)
    assert all(n == 1 for n in counts.values())  # redelivered records changed nothing


async def test_switching_a_consumer_from_faust_starts_where_faust_left_off(batch_env: TestEnv) -> None:
    before = _duplicates("switch")
    async with batch_env.running(_definition(batch_env, "switch", fetch="faust")):
        old = await _publish(batch_env, 12)
        await wait_until(lambda: _all_handled(batch_env, old))
    faust_group = f"{batch_env.topic_prefix}itinera-profile"
    ends = await _end_offsets(batch_env)
    await wait_until(lambda: _caught_up(faust_group, ends))  # faust committed its offsets
    async with batch_env.running(_definition(batch_env, "switch")):
        new = await _publish(batch_env, 6)
        await wait_until(lambda: _all_handled(batch_env, new))
    assert _duplicates("switch") == before  # nothing handled by faust came again
    counts = await _effect_counts(batch_env)
    assert all(counts[b] == 1 for b in old + new)
