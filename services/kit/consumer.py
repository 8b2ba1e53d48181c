"""Idempotent consumers with dead-lettering.

At-least-once delivery from Kafka becomes an exactly-once *effect* in PostgreSQL: the
event id is recorded in `processed_events` in the same transaction as the handler's
changes (and its outbox rows), so a redelivered event changes nothing.

A batch of records is handled in one transaction, each record inside its own
savepoint. A record that cannot be parsed, or whose handler still fails after
`max_attempts`, is rolled back to its savepoint and sent to the service's dead-letter
topic with the reason and its source topic/partition/offset; the rest of the batch
commits and the partition keeps moving. Offsets are committed only after the
transaction commits and the dead letters are acknowledged, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError

from services.kit.contracts.envelope import Envelope, EnvelopeError, decode_envelope
from services.kit.contracts.topics import dead_letter_topic
from services.kit.kafka import EventProducer, Headers, OutgoingRecord
from services.kit.logging import log_context
from services.kit.metrics import CONSUMER_LAG, DEAD_LETTERS, EVENT_HANDLING_SECONDS, EVENTS_CONSUMED

log = logging.getLogger(__name__)

EventHandler = Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]
TombstoneHandler = Callable[[asyncpg.Connection, str, str], Awaitable[None]]  # conn, logical topic, key


class PermanentError(Exception):
    """A handler error that retrying cannot fix (bad data, unknown reference): dead-letter at once."""


@dataclass(frozen=True)
class IncomingRecord:
    topic: str  # physical name
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int = 0


@dataclass(frozen=True)
class ConsumerSpec:
    """What a service consumes and how: wired in the service's bootstrap."""

    name: str
    topics: tuple[str, ...]  # logical names
    handler: EventHandler
    tombstone_handler: TombstoneHandler | None = None
    event_types: frozenset[str] | None = None  # None: every type; others are skipped


@dataclass
class _Failure:
    record: IncomingRecord
    reason: str
    error: str
    attempts: int


@dataclass
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    failures: list[_Failure] = field(default_factory=list)


class BatchProcessor:
    """Handles batches of records for one consumer; independent of how records are fetched."""

    def __init__(
        self,
        *,
        spec: ConsumerSpec,
        pool: asyncpg.Pool,
        producer: EventProducer,
        service: str,
        topic_prefix: str,
        max_attempts: int = 3,
    ) -> None:
        self.spec = spec
        self._pool = pool
        self._producer = producer
        self.service = service
        self._service = service
        self._prefix = topic_prefix
        self._max_attempts = max_attempts
        self._consumer_id = f"{service}.{spec.name}"

    def _logical(self, physical: str) -> str:
        return physical[len(self._prefix) :] if self._prefix and physical.startswith(self._prefix) else physical

    async def process(self, records: Sequence[IncomingRecord]) -> BatchResult:
        """Handle records in one transaction; dead-letter the ones that fail. Raises on infrastructure errors."""
        result = BatchResult()
        started = time.perf_counter()
        async with self._pool.acquire() as proxy, proxy.transaction():
            conn = cast(asyncpg.Connection, proxy)
            for record in records:
                await self._process_one(conn, record, result)
        EVENT_HANDLING_SECONDS.labels(self._service, self.spec.name).observe(time.perf_counter() - started)
        if result.failures:
            await self._dead_letter(result.failures)
        return result

    async def _process_one(self, conn: asyncpg.Connection, record: IncomingRecord, result: BatchResult) -> None:
        logical = self._logical(record.topic)
        if record.value is None:
            if self.spec.tombstone_handler is not None and record.key is not None:
                async with conn.transaction():
                    await self.spec.tombstone_handler(conn, logical, record.key.decode())
            EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "tombstone").inc()
            return
        try:
            event = decode_envelope(record.value)
        except EnvelopeError as exc:
            result.failures.append(_Failure(record, "unparseable", str(exc), 0))
            return
        if self.spec.event_types is not None and event.event_type not in self.spec.event_types:
            result.skipped += 1
            EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "skipped").inc()
            return
        with log_context(correlation_id=str(event.correlation_id), event_id=str(event.event_id)):
            attempt = 0
            while True:
                attempt += 1
                try:
                    async with conn.transaction():  # a savepoint inside the batch transaction
                        first_time = await conn.fetchval(
                            "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
                            " ON CONFLICT DO NOTHING RETURNING true",
                            self._consumer_id,
                            event.event_id,
                        )
                        if not first_time:
                            result.duplicates += 1
                            EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "duplicate").inc()
                            return
                        await self.spec.handler(conn, event)
                    result.processed += 1
                    EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "processed").inc()
                    return
                except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                    raise  # the connection is gone: the whole batch is retried
                except PermanentError as exc:
                    result.failures.append(_Failure(record, "rejected", f"{type(exc).__name__}: {exc}", attempt))
                    return
                except Exception as exc:
                    if attempt >= self._max_attempts:
                        log.warning("handler failed %d times, dead-lettering: %s", attempt, exc)
                        result.failures.append(
                            _Failure(record, "handler_failed", f"{type(exc).__name__}: {exc}", attempt)
                        )
                        return
                    await asyncio.sleep(0.05 * attempt)

    async def _dead_letter(self, failures: list[_Failure]) -> None:
        now = datetime.now(UTC).isoformat()
        dlq = f"{self._prefix}{dead_letter_topic(self._service)}"
        out = []
        for f in failures:
            r = f.record
            logical = self._logical(r.topic)
            headers = [h for h in r.headers if not h[0].startswith("dlq.")] + [
                ("dlq.reason", f.reason.encode()),
                ("dlq.error", f.error[:2000].encode()),
                ("dlq.source_topic", logical.encode()),
                ("dlq.source_partition", str(r.partition).encode()),
                ("dlq.source_offset", str(r.offset).encode()),
                ("dlq.service", self._service.encode()),
                ("dlq.consumer", self.spec.name.encode()),
                ("dlq.attempts", str(f.attempts).encode()),
                ("dlq.failed_at", now.encode()),
            ]
            out.append(OutgoingRecord(topic=dlq, key=r.key or b"", value=r.value, headers=headers))
            DEAD_LETTERS.labels(self._service, self.spec.name, logical, f.reason).inc()
            EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "dead_lettered").inc()
            log.warning("dead-lettered %s[%d]@%d: %s: %s", logical, r.partition, r.offset, f.reason, f.error[:300])
        await self._producer.send_many(out)


class KafkaConsumerLoop:
    """Feeds a BatchProcessor from Kafka with `getmany()` and commits after each batch."""

    def __init__(
        self,
        *,
        processor: BatchProcessor,
        bootstrap_servers: str,
        group_id: str,
        topic_prefix: str,
        batch_size: int = 500,
    ) -> None:
        self.processor = processor
        self._prefix = topic_prefix
        self._topics = [f"{topic_prefix}{t}" for t in processor.spec.topics]
        self._batch_size = batch_size
        self._consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=batch_size,
            fetch_max_wait_ms=100,
            session_timeout_ms=30_000,
            heartbeat_interval_ms=3_000,
        )
        self._stopping = False
        self.running = False
        self.assigned = asyncio.Event()

    async def start(self) -> None:
        await self._consumer.start()

    def stop(self) -> None:
        self._stopping = True

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._consumer.stop()

    async def run(self) -> None:
        """Consume until stopped. Infrastructure errors rewind to the last commit and retry."""
        self.running = True
        backoff = 0.2
        name = self.processor.spec.name
        service = self.processor.service
        try:
            while not self._stopping:
                batches = await self._consumer.getmany(timeout_ms=200, max_records=self._batch_size)
                if self._consumer.assignment():
                    self.assigned.set()
                if not batches:
                    await self._update_lag(service, name)
                    continue
                records = [
                    IncomingRecord(
                        topic=m.topic,
                        partition=m.partition,
                        offset=m.offset,
                        key=m.key,
                        value=m.value,
                        headers=list(m.headers or []),
                        timestamp_ms=m.timestamp,
                    )
                    for msgs in batches.values()
                    for m in msgs
                ]
                try:
                    await self.processor.process(records)
                except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, KafkaError) as exc:
                    log.warning("batch failed, rewinding and retrying in %.1fs: %s", backoff, exc)
                    for tp, msgs in batches.items():
                        self._consumer.seek(tp, msgs[0].offset)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.2
                offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batches.items()}
                try:
                    await self._consumer.commit(offsets)
                except CommitFailedError as exc:
                    # A rebalance took the partitions away; the new owner re-reads, idempotently.
                    log.info("offset commit after rebalance failed: %s", exc)
                await self._update_lag(service, name)
        finally:
            self.running = False

    async def _update_lag(self, service: str, name: str) -> None:
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            position = await self._consumer.position(tp)
            CONSUMER_LAG.labels(service, name, self._logical(tp.topic), str(tp.partition)).set(
                max(0, highwater - position)
            )

    def _logical(self, physical: str) -> str:
        return physical[len(self._prefix) :] if self._prefix and physical.startswith(self._prefix) else physical
