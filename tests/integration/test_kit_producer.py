"""The kit's bulk producer on the real broker: partitions as `send()` picks them, order kept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from services.kit.kafka import EventProducer
from tests.harness import KAFKA, TestEnv, create_env, drop_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer_env() -> AsyncIterator[TestEnv]:
    env = await create_env()
    try:
        yield env
    finally:
        await drop_env(env)


async def test_send_rows_partitions_like_send_and_keeps_each_partitions_order(producer_env: TestEnv) -> None:
    topic = producer_env.topic_prefix + "profile.customer-events.v1"
    keys = [f"c-{n % 7}".encode() for n in range(300)]
    big = b"x" * 200_000  # a few records larger than a quarter of a batch: batches fill and follow each other
    rows = [
        (topic, key, (big if n % 50 == 0 else b"") + str(n).encode(), [("n", str(n).encode())])
        for n, key in enumerate(keys)
    ]
    producer = EventProducer(bootstrap_servers=KAFKA, client_id="kit-producer-test")
    await producer.start()
    try:
        await producer.send_rows(rows)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    got: list[tuple[int, bytes, int]] = []
    try:
        while len(got) < len(rows):
            batch = await consumer.getmany(timeout_ms=2000)
            assert batch, f"only {len(got)} of {len(rows)} records arrived"
            for tp, msgs in batch.items():
                got.extend((tp.partition, m.key, int(dict(m.headers)["n"])) for m in msgs)
    finally:
        await consumer.stop()
    partitions = sorted({p for p, _, _ in got})
    default = DefaultPartitioner()
    for partition, key, _ in got:
        assert partition == default(key, [0, 1, 2], [0, 1, 2])  # where aiokafka's send() puts it
    for key in set(keys):
        assert [n for _, k, n in got if k == key] == [n for n, k in enumerate(keys) if k == key]  # in order
    assert len(got) == len(rows)
    assert partitions
