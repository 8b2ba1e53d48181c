"""Inspecting and re-driving dead letters once the cause is fixed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.kit.contracts.topics import dead_letter_topic
from services.kit.kafka import EventProducer, OutgoingRecord
from services.kit.sealed import RecordSealer, seal_header, without_seal

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


async def redrive(
    *,
    bootstrap_servers: str,
    topic_prefix: str,
    service: str,
    limit: int = 10_000,
    sealer: RecordSealer | None = None,
    report: dict[str, int] | None = None,
) -> int:
    """Re-publish dead letters to the topics they came from; returns how many.

    Progress is kept in the consumer group `<service>.dlq-redrive`, so each dead letter
    is re-driven once; the consumers downstream are idempotent if one goes twice.

    Dead letters are sealed (see `services.kit.sealed`): with `sealer`, each is opened and re-published
    in clear to the producer, which seals it again for its source topic. One whose subject was shredded
    cannot be re-driven: it is reported as erased and passed over, like one that does not open (a fault,
    e.g. a master key missing from the settings: it is reported and left for a later run). One that was
    dead-lettered *because* it did not open (`unsealable`) goes back as it is, still sealed for its topic.
    `report`, if given, receives the counts (redriven, erased, unopenable, truncated).
    """
    group = f"{topic_prefix}{service}.dlq-redrive"
    consumer, letters = await read_dead_letters(
        bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix, service=service, group_id=group, limit=limit
    )
    producer = EventProducer(bootstrap_servers=bootstrap_servers, client_id=f"itinera-{service}-redrive", sealer=sealer)
    await producer.start()
    counts = {"redriven": 0, "erased": 0, "unopenable": 0, "truncated": 0}
    try:
        dlq_topic = f"{topic_prefix}{dead_letter_topic(service)}"
        wanted = [d for d in letters if "dlq.source_topic" in d.headers]
        counts["truncated"] = sum(1 for d in wanted if not redrivable(d))
        wanted = [d for d in wanted if redrivable(d)]
        values = await _opened(sealer, dlq_topic, wanted)
        records = []
        committable = []
        for d, (value, problem) in zip(wanted, values, strict=True):
            if problem == "erased":
                counts["erased"] += 1
                committable.append(d)
                continue
            if problem is not None:
                counts["unopenable"] += 1
                log.warning("dead letter %d:%d of %s does not open, left for a later run: %s", d.partition, d.offset,
                            service, problem)  # fmt: skip
                continue
            headers = [(k, v) for k, v in d.raw_headers if not k.startswith("dlq.")]
            if value is not d.value:
                headers = without_seal(headers)
            records.append(
                OutgoingRecord(
                    topic=f"{topic_prefix}{d.headers['dlq.source_topic']}",
                    key=d.key or b"",
                    value=value,
                    headers=[*headers, ("dlq.redriven_from", f"{d.partition}:{d.offset}".encode())],
                )
            )
            committable.append(d)
        if counts["truncated"]:
            log.warning("%d dead letters of %s kept only part of their value and cannot be re-driven",
                        counts["truncated"], service)  # fmt: skip
        if counts["erased"]:
            log.info("%d dead letters of %s belong to erased travellers and are not re-driven", counts["erased"],
                     service)  # fmt: skip
        await producer.send_many(records)
        counts["redriven"] = len(records)
        # Up to the first dead letter that is to come again (one that did not open): nothing after it is lost.
        offsets: dict[TopicPartition, int] = {}
        blocked: set[int] = set()
        wanted_at = {(d.partition, d.offset) for d in wanted}
        done = {(d.partition, d.offset) for d in committable} | {
            (d.partition, d.offset) for d in letters if (d.partition, d.offset) not in wanted_at
        }
        for d in sorted(letters, key=lambda x: (x.partition, x.offset)):
            if d.partition in blocked:
                continue
            if (d.partition, d.offset) not in done:
                blocked.add(d.partition)
                continue
            offsets[TopicPartition(dlq_topic, d.partition)] = d.offset + 1
        if offsets:
            await consumer.commit(offsets)
        log.info("re-drove %d dead letters of %s", len(records), service)
        if report is not None:
            report.update(counts)
        return len(records)
    finally:
        await producer.stop()
        await consumer.stop()


async def _opened(
    sealer: RecordSealer | None, dlq_topic: str, letters: list[DeadLetter]
) -> list[tuple[bytes | None, str | None]]:
    """Each dead letter's value in clear, or why not (see `RecordSealer.open_values`)."""
    if sealer is None:  # sealed ones cannot be opened here: they stay for a run that has the keyring
        return [
            (None, "sealed, and no keyring to open it") if seal_header(d.raw_headers) else (d.value, None)
            for d in letters
        ]
    # A record dead-lettered because it did not open is still sealed for its source topic: as it is.
    passed = [d.headers.get("dlq.reason") == "unsealable" for d in letters]
    opened = await sealer.open_values(
        [(dlq_topic, d.key, d.value, [] if p else d.raw_headers) for d, p in zip(letters, passed, strict=True)]
    )
    return opened
