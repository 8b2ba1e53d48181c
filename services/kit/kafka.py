"""The one Kafka producer helper and topic administration."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from services.kit.contracts.topics import TOPICS, TopicSpec

if TYPE_CHECKING:
    from services.kit.sealed import RecordSealer

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str  # physical name
    key: bytes
    value: bytes | None
    headers: Headers


class KeyHashCache:
    """aiokafka's default partitioner (Kafka's murmur2 of the key) with the key hashes remembered.

    The pure-Python murmur2 costs microseconds per record; the same customers' keys come back
    again and again. Same partition for every key as the default; null keys go to it unchanged.
    """

    MAX_KEYS = 200_000

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.MAX_KEYS:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


class EventProducer:
    """An idempotent producer (`acks=all`, idempotence on) that sends in bulk.

    With a `sealer`, the values of the topics it seals (personal and dead-letter topics) are sealed
    on their way out, whichever path sends them (see `services.kit.sealed`).
    """

    def __init__(
        self, *, bootstrap_servers: str, client_id: str, linger_ms: int = 5, sealer: RecordSealer | None = None
    ) -> None:
        self.sealer = sealer
        self._partitioner = KeyHashCache()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
            request_timeout_ms=30_000,
            partitioner=self._partitioner,
        )
        self.started = False

    async def start(self) -> None:
        await self._producer.start()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            await self._producer.stop()
            self.started = False

    async def reachable(self, timeout: float = 2.0) -> bool:
        """Whether a broker answers a metadata request now (for /readyz: the producer object being
        started says nothing about a broker that went away since)."""
        if not self.started:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
        except Exception:  # unreachable, refused, timed out: not ready, whatever the cause
            return False
        return True

    async def send_many(self, records: Sequence[OutgoingRecord]) -> None:
        """Send records and wait until the broker acknowledged every one of them.

        Sends are queued together (so the producer batches them) and awaited in
        bulk; with idempotence on, per-partition order is the order given.
        """
        await self.send_rows([(r.topic, r.key, r.value, r.headers) for r in records])

    async def send_rows(self, rows: Sequence[tuple[str, bytes, bytes | None, Headers]]) -> None:
        """`send_many` for (topic, key, value, headers) tuples.

        The records are partitioned here (with the producer's own partitioner: the partition
        `send()` would pick) and handed over as record batches, one after the other per partition
        (`create_batch`, `send_batch`): aiokafka's per-message `send()` cost ~10-15 µs of CPU per
        1.4 kB record more than appending it to a batch (`bench/results/kit.md`). Per-partition
        order is the order given; idempotence assigns the batches' sequence numbers as before.
        """
        if not rows:
            return
        if self.sealer is not None:
            rows = await self.sealer.seal_rows(rows)
        producer = self._producer
        partitioner = self._partitioner
        by_partition: dict[tuple[str, int], list[tuple[bytes, bytes | None, Headers]]] = {}
        partitions: dict[str, list[int]] = {}
        for topic, key, value, headers in rows:
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = list(await producer.partitions_for(topic))
            by_partition.setdefault((topic, partitioner(key, known, known)), []).append((key, value, headers))
        futures = []
        for (topic, partition), records in by_partition.items():
            batch = producer.create_batch()
            for key, value, headers in records:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:  # full
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                        raise ValueError(f"a record of {len(value or b'')} bytes does not fit a batch")
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def send(self, record: OutgoingRecord) -> None:
        await self.send_many([record])


async def ensure_topics(
    *, bootstrap_servers: str, prefix: str, specs: Sequence[TopicSpec] = TOPICS, partitions: int | None = None
) -> list[str]:
    """Create missing topics from the catalogue; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="itinera-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=spec.physical(prefix),
                num_partitions=partitions or spec.partitions,
                replication_factor=1,
                topic_configs=spec.topic_configs(),
            )
            for spec in specs
            if spec.physical(prefix) not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently by another starter: fine
                await admin.create_topics(wanted)
            for topic in wanted:
                log.info("created topic %s (%d partitions)", topic.name, topic.num_partitions)
        await _wait_for_metadata(admin, {t.name for t in wanted})
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: set[str], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while names:
        listed = set(await admin.list_topics())
        names -= listed
        if not names:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics not visible after {timeout}s: {sorted(names)}")
        await asyncio.sleep(0.2)


async def delete_topics(*, bootstrap_servers: str, names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="itinera-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def trim_consumed(*, bootstrap_servers: str, topic: str, groups: str | Sequence[str]) -> dict[int, int]:
    """Delete the records of `topic` (physical name) that every one of `groups` has consumed; returns, per
    partition trimmed, the offset it now starts at.

    For the landing topic booking.events.v1, which booking systems write in clear and which cannot be
    sealed: once profile has resolved a booking (and keeps what it needs in its database, which an
    erasure cleans), the record may leave the topic. Up to the *lowest* committed offset of the groups
    given (a consumer switched from faust to the batch consumer has two); a partition some group has
    no offset for is left alone.
    """
    names = [groups] if isinstance(groups, str) else list(groups)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="itinera-trim")
    await admin.start()
    try:
        lowest: dict[TopicPartition, int] | None = None
        for group in names:
            offsets = await admin.list_consumer_group_offsets(group)
            committed = {tp: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}
            lowest = (
                committed
                if lowest is None
                else {tp: min(o, committed[tp]) for tp, o in lowest.items() if tp in committed}
            )
        wanted = {tp: RecordsToDelete(before_offset=offset) for tp, offset in (lowest or {}).items() if offset > 0}
        if not wanted:
            return {}
        trimmed = await admin.delete_records(wanted)
    finally:
        await admin.close()
    result = {tp.partition: int(low) for tp, low in trimmed.items()}
    log.info("trimmed %s up to what %s consumed: %s", topic, ", ".join(names), result)
    return result


async def end_offsets(*, bootstrap_servers: str, topic: str) -> dict[int, int]:
    """Where each partition of `topic` (physical name) ends now: the offset its next record gets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer.topics()  # the metadata of a topic not asked about yet
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await consumer.stop()
    return {tp.partition: int(offset) for tp, offset in ends.items()}
