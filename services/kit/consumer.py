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
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from services.kit.contracts.envelope import Envelope, EnvelopeError, decode_envelope
from services.kit.contracts.topics import dead_letter_topic
from services.kit.kafka import EventProducer, Headers, OutgoingRecord
from services.kit.logging import log_context
from services.kit.metrics import DEAD_LETTERS, EVENT_HANDLING_SECONDS, EVENTS_CONSUMED

log = logging.getLogger(__name__)

EventHandler = Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]
BatchEventHandler = Callable[[asyncpg.Connection, Sequence[Envelope[Any]]], Awaitable[None]]
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
    # Optional fast path: all new events of a fetched batch in one call (one savepoint). If it
    # raises, the batch is rolled back to its savepoint and handled record by record with
    # `handler`, so bad records are still isolated and dead-lettered one by one.
    batch_handler: BatchEventHandler | None = None


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
            if self.spec.batch_handler is None:
                for record in records:
                    await self._process_one(conn, record, result)
            else:
                # Runs of events go through the batch path; a tombstone ends a run, so the
                # stream's order (event, then deletion, then event) is kept.
                run: list[IncomingRecord] = []
                for record in records:
                    if record.value is None:
                        await self._process_batch(conn, run, result)
                        run = []
                        await self._process_one(conn, record, result)
                    else:
                        run.append(record)
                await self._process_batch(conn, run, result)
        EVENT_HANDLING_SECONDS.labels(self._service, self.spec.name).observe(time.perf_counter() - started)
        if result.failures:
            await self._dead_letter(result.failures)
        return result

    async def _process_batch(
        self, conn: asyncpg.Connection, records: Sequence[IncomingRecord], result: BatchResult
    ) -> None:
        """The batch fast path: one idempotency insert and one handler call for all new events."""
        assert self.spec.batch_handler is not None
        decoded: list[tuple[IncomingRecord, Envelope[Any]]] = []
        for record in records:
            if record.value is None:
                await self._process_one(conn, record, result)
                continue
            logical = self._logical(record.topic)
            try:
                event = decode_envelope(record.value)
            except EnvelopeError as exc:
                result.failures.append(_Failure(record, "unparseable", str(exc), 0))
                continue
            if self.spec.event_types is not None and event.event_type not in self.spec.event_types:
                result.skipped += 1
                EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "skipped").inc()
                continue
            decoded.append((record, event))
        if not decoded:
            return
        fresh: list[tuple[IncomingRecord, Envelope[Any]]] = []
        try:
            async with conn.transaction():  # a savepoint inside the batch transaction
                rows = await conn.fetch(
                    "INSERT INTO processed_events (consumer, event_id) SELECT $1, e FROM unnest($2::uuid[]) AS e"
                    " ON CONFLICT DO NOTHING RETURNING event_id",
                    self._consumer_id,
                    [event.event_id for _, event in decoded],
                )
                new_ids = {r["event_id"] for r in rows}
                for record, event in decoded:
                    if event.event_id in new_ids:
                        new_ids.discard(event.event_id)  # the same event twice in one batch counts once
                        fresh.append((record, event))
                if fresh:
                    await self.spec.batch_handler(conn, [event for _, event in fresh])
        except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
            raise  # the connection is gone: the whole batch is retried
        except Exception as exc:
            log.warning("batch handler failed, handling %d records one by one: %s", len(decoded), exc)
            for record, _ in decoded:
                await self._process_one(conn, record, result)
            return
        result.processed += len(fresh)
        result.duplicates += len(decoded) - len(fresh)
        for record, _ in fresh:
            EVENTS_CONSUMED.labels(self._service, self.spec.name, self._logical(record.topic), "processed").inc()
        if len(decoded) > len(fresh):
            logical = self._logical(decoded[0][0].topic)
            EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "duplicate").inc(len(decoded) - len(fresh))

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
