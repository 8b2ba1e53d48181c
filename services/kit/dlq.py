"""Inspecting and re-driving dead letters once the cause is fixed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.kit.contracts.topics import dead_letter_topic
from services.kit.kafka import EventProducer, OutgoingRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    raw_headers: list[tuple[str, bytes]]


async def read_dead_letters(
    *, bootstrap_servers: str, topic_prefix: str, service: str, group_id: str | None = None, limit: int = 1000
) -> tuple[AIOKafkaConsumer, list[DeadLetter]]:
    """Read up to `limit` dead letters (from the group's position, or from the start without a group)."""
    topic = f"{topic_prefix}{dead_letter_topic(service)}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    tps = [TopicPartition(topic, p) for p in await _partitions(bootstrap_servers, topic)]
    await consumer.start()
    consumer.assign(tps)
    if group_id is None:
        await consumer.seek_to_beginning(*tps)
    end = await consumer.end_offsets(tps)
    out: list[DeadLetter] = []
    while len(out) < limit:
        positions = {tp: await consumer.position(tp) for tp in tps}
        if all(positions[tp] >= end[tp] for tp in tps):
            break
        batch = await consumer.getmany(timeout_ms=1000, max_records=min(500, limit - len(out)))
        for msgs in batch.values():
            for m in msgs:
                raw = list(m.headers or [])
                out.append(
                    DeadLetter(
                        partition=m.partition,
                        offset=m.offset,
                        key=m.key,
                        value=m.value,
                        headers={k: v.decode(errors="replace") for k, v in raw},
                        raw_headers=raw,
                    )
                )
    return consumer, out


async def _partitions(bootstrap_servers: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="itinera-dlq")
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for d in described if d.get("topic") == topic for p in d.get("partitions", []))


def redrivable(letter: DeadLetter) -> bool:
    """Whether the dead letter holds its whole original value (a truncated one does not: see deadletters)."""
    return letter.headers.get("dlq.truncated") != "true" and letter.headers.get("dlq.value_dropped") != "true"


async def redrive(*, bootstrap_servers: str, topic_prefix: str, service: str, limit: int = 10_000) -> int:
    """Re-publish dead letters to the topics they came from; returns how many.

    Progress is kept in the consumer group `<service>.dlq-redrive`, so each dead letter
    is re-driven once; the consumers downstream are idempotent if one goes twice.
    """
    group = f"{topic_prefix}{service}.dlq-redrive"
    consumer, letters = await read_dead_letters(
        bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix, service=service, group_id=group, limit=limit
    )
    producer = EventProducer(bootstrap_servers=bootstrap_servers, client_id=f"itinera-{service}-redrive")
    await producer.start()
    try:
        records = [
            OutgoingRecord(
                topic=f"{topic_prefix}{d.headers['dlq.source_topic']}",
                key=d.key or b"",
                value=d.value,
                headers=[(k, v) for k, v in d.raw_headers if not k.startswith("dlq.")]
                + [("dlq.redriven_from", f"{d.partition}:{d.offset}".encode())],
            )
            for d in letters
            if "dlq.source_topic" in d.headers and redrivable(d)
        ]
        skipped = sum(1 for d in letters if not redrivable(d))
        if skipped:
            log.warning("%d dead letters of %s kept only part of their value and cannot be re-driven", skipped,
                        service)  # fmt: skip
        await producer.send_many(records)
        if letters:
            topic = f"{topic_prefix}{dead_letter_topic(service)}"
            offsets: dict[TopicPartition, int] = {}
            for d in letters:
                tp = TopicPartition(topic, d.partition)
                offsets[tp] = max(offsets.get(tp, 0), d.offset + 1)
            await consumer.commit(offsets)
        log.info("re-drove %d dead letters of %s", len(records), service)
        return len(records)
    finally:
        await producer.stop()
        await consumer.stop()
