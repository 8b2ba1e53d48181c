"""Idempotent consumers with dead-lettering.

At-least-once delivery from Kafka becomes an exactly-once *effect* in PostgreSQL: the
event id is recorded in `processed_events` in the same transaction as the handler's
changes (and its outbox rows), so a redelivered event changes nothing.

A batch of records is handled in one transaction. Its events are handled a run at a
time (a tombstone ends a run, so the stream's order is kept): one idempotency insert
and one savepoint for the whole run, then the spec's batch handler for all new events
of the run, or its per-record handler for each of them in order. If anything in a run
fails, the run is rolled back to its savepoint and handled again record by record,
each record inside its own savepoint (handlers may therefore run more than once; as
with redelivery, only committed database effects count). A record that cannot be
parsed, or whose handler still fails after `max_attempts`, is rolled back to its
savepoint and sent to the service's dead-letter topic with the reason and its source
topic/partition/offset; the rest of the batch commits and the partition keeps moving.
Offsets are committed only after the transaction commits and the dead letters are
acknowledged, so nothing is lost.

With the service's outbox relay given (`outbox=`), the events a batch's handlers put in the
outbox are published right after the commit, from memory and in the background
(`OutboxRelay.publish_after_commit`), while the next batch is handled; whatever that cannot
publish stays in the outbox for the relay. The offsets do not wait for it: the rows are committed.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.kit.contracts.envelope import Envelope, EnvelopeError, decode_envelope
from services.kit.db import connection
from services.kit.deadletters import DeadLetterWriter, Failure, IncomingRecord
from services.kit.kafka import EventProducer
from services.kit.logging import log_context
from services.kit.metrics import EVENT_HANDLING_SECONDS, EVENT_ID_CONFLICTS, EVENTS_CONSUMED
from services.kit.outbox import OutboxRelay, collecting
from services.kit.sealed import seal_header, without_seal
from services.kit.transient import is_transient

log = logging.getLogger(__name__)

__all__ = ["BatchProcessor", "BatchResult", "ConsumerSpec", "IncomingRecord", "PermanentError", "body_digest"]

EventHandler = Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]
BatchEventHandler = Callable[[asyncpg.Connection, Sequence[Envelope[Any]]], Awaitable[None]]
TombstoneHandler = Callable[[asyncpg.Connection, str, str], Awaitable[None]]  # conn, logical topic, key


class PermanentError(Exception):
    """A handler error that retrying cannot fix (bad data, unknown reference): dead-letter at once."""


@dataclass(frozen=True)
class ConsumerSpec:
    """What a service consumes and how: wired in the service's bootstrap."""

    name: str
    topics: tuple[str, ...]  # logical names
    handler: EventHandler
    tombstone_handler: TombstoneHandler | None = None
    event_types: frozenset[str] | None = None  # None: every type; others are skipped
    # Optional: all new events of a run in one call (e.g. to coalesce per key). Without it,
    # `handler` is called for each new event of the run in turn. Either way, if the run raises
    # it is rolled back to its savepoint and handled record by record with `handler`, so bad
    # records are still isolated and dead-lettered one by one.
    batch_handler: BatchEventHandler | None = None
    # Host this consumer on the kit's batch consumer (aiokafka, whole fetched batches) instead of a
    # faust agent: for high-volume consumers (see services.kit.streams). The service setting
    # `batch_consumers` does the same by name.
    batch_fetch: bool = False


def body_digest(value: bytes) -> bytes:
    """What `processed_events` remembers of a record's value, to tell a redelivery from a reused event id."""
    # SHA-256 (hardware-accelerated on current CPUs: ~40% cheaper than BLAKE2b here), first 16 bytes.
    return hashlib.sha256(value).digest()[:16]


@dataclass
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    erased: int = 0  # sealed records of shredded subjects: skipped, not dead-lettered
    failures: list[Failure] = field(default_factory=list)


class _CyclicGcPaused:
    """Keeps Python's cyclic garbage collector off while batches are being handled.

    A batch builds many short-lived objects (decoded events, loaded aggregates, outgoing
    envelopes) that all live until its transaction ends; with the collector on, each of them
    is traversed by several collections before reference counting frees it at the end of the
    batch. Paused, the next collection after the batch finds only the few survivors. Nothing
    is lost: reference counting frees as usual, and cyclic garbage is collected once the
    collector runs again. Batches of several consumers may interleave (one event loop): the
    collector comes back when the last of them ends, and only if it was on before; should
    they overlap without a break for longer than `MAX_PAUSE` seconds, a collection runs anyway.
    """

    MAX_PAUSE = 10.0
    _depth = 0
    _reenable = False
    _since = 0.0

    def __enter__(self) -> None:
        cls = _CyclicGcPaused
        if cls._depth == 0:
            cls._reenable = gc.isenabled()
            cls._since = time.monotonic()
            gc.disable()
        cls._depth += 1

    def __exit__(self, *_: object) -> None:
        cls = _CyclicGcPaused
        cls._depth -= 1
        if cls._depth == 0:
            if cls._reenable:
                gc.enable()
        elif cls._reenable and time.monotonic() - cls._since > cls.MAX_PAUSE:
            gc.collect()
            cls._since = time.monotonic()


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
        outbox: OutboxRelay | None = None,
    ) -> None:
        self.spec = spec
        self._outbox = outbox
        self._pool = pool
        self._producer = producer
        self.service = service
        self._service = service
        self._prefix = topic_prefix
        self._max_attempts = max_attempts
        self._consumer_id = f"{service}.{spec.name}"
        self._dead_letters = DeadLetterWriter(
            producer=producer, service=service, consumer=spec.name, topic_prefix=topic_prefix
        )

    def _logical(self, physical: str) -> str:
        return physical[len(self._prefix) :] if self._prefix and physical.startswith(self._prefix) else physical

    async def process(self, records: Sequence[IncomingRecord]) -> BatchResult:
        """Handle records in one transaction; dead-letter the ones that fail. Raises on infrastructure errors."""
        result = BatchResult()
        started = time.perf_counter()
        records = await self._open(records, result)
        with _CyclicGcPaused():
            await self._process_in_transaction(records, result)
        EVENT_HANDLING_SECONDS.labels(self._service, self.spec.name).observe(time.perf_counter() - started)
        if result.failures:
            await self._dead_letters.send(result.failures)
        return result

    async def _open(self, records: Sequence[IncomingRecord], result: BatchResult) -> Sequence[IncomingRecord]:
        """The records with sealed values opened (one key query for the batch); those of erased subjects
        left out (counted), those that do not open noted for dead-lettering (a fault, not an erasure)."""
        sealer = self._producer.sealer
        if sealer is None or not any(r.value is not None and seal_header(r.headers) for r in records):
            return records
        opened = await sealer.open_values([(r.topic, r.key, r.value, r.headers) for r in records])
        out: list[IncomingRecord] = []
        for record, (value, problem) in zip(records, opened, strict=True):
            if value is record.value:
                out.append(record)
            elif problem is None:  # built directly: `dataclasses.replace` was a quarter of opening's cost
                r = record
                out.append(IncomingRecord(r.topic, r.partition, r.offset, r.key, value, without_seal(r.headers),
                                          r.timestamp_ms))  # fmt: skip
            elif problem == "erased":
                result.erased += 1
                EVENTS_CONSUMED.labels(self._service, self.spec.name, self._logical(record.topic), "erased").inc()
            else:
                result.failures.append(Failure(record, "unsealable", problem, 0))
        return out

    async def _process_in_transaction(self, records: Sequence[IncomingRecord], result: BatchResult) -> None:
        relay = self._outbox
        if relay is None:
            async with connection(self._pool, transaction=True) as conn:
                await self._process_records(conn, records, result)
            return
        with collecting() as collected:
            expecting = False
            try:
                async with connection(self._pool, transaction=True) as conn:
                    await self._process_records(conn, records, result)
                    if collected:  # the relay leaves the NOTIFY of this commit to us
                        relay.expect_commit()
                        expecting = True
            except BaseException:
                if expecting:
                    relay.commit_failed()
                raise
        if expecting:
            relay.publish_after_commit(collected)  # committed: published in the background

    async def wait_published(self) -> None:
        """Wait until what committed batches enqueued has been handed to the broker (or left to the relay)."""
        if self._outbox is not None:
            await self._outbox.wait_published()

    async def _process_records(
        self, conn: asyncpg.Connection, records: Sequence[IncomingRecord], result: BatchResult
    ) -> None:
        # Runs of events go through the run path; a tombstone ends a run, so the
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

    async def _handle_each(self, conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        """A run without a batch handler: the per-record handler for each event, in stream order."""
        for event in events:
            with log_context(correlation_id=str(event.correlation_id), event_id=str(event.event_id)):
                await self.spec.handler(conn, event)

    async def _process_batch(
        self, conn: asyncpg.Connection, records: Sequence[IncomingRecord], result: BatchResult
    ) -> None:
        """The run path: one idempotency insert and one savepoint for all new events of a run."""
        handle_run = self.spec.batch_handler or self._handle_each
        decoded: list[tuple[IncomingRecord, Envelope[Any]]] = []
        for record in records:  # a run holds no tombstones: they end runs
            event = self._decode(record, result)
            if event is not None:
                decoded.append((record, event))
        if not decoded:
            return
        fresh: list[tuple[IncomingRecord, Envelope[Any]]] = []
        try:
            async with conn.transaction():  # a savepoint inside the batch transaction
                digests = [body_digest(record.value or b"") for record, _ in decoded]
                rows = await conn.fetch(
                    "INSERT INTO processed_events (consumer, event_id, digest)"
                    " SELECT $1, e, d FROM unnest($2::uuid[], $3::bytea[]) AS t(e, d)"
                    " ON CONFLICT DO NOTHING RETURNING event_id",
                    self._consumer_id,
                    [event.event_id for _, event in decoded],
                    digests,
                )
                new_ids = {r["event_id"] for r in rows}
                repeated: list[tuple[IncomingRecord, Envelope[Any], bytes]] = []
                for (record, event), digest in zip(decoded, digests, strict=True):
                    if event.event_id in new_ids:
                        new_ids.discard(event.event_id)  # the same event twice in one batch counts once
                        fresh.append((record, event))
                    else:
                        repeated.append((record, event, digest))
                conflicts = await self._conflicts(conn, repeated, fresh)
                if fresh:
                    await handle_run(conn, [event for _, event in fresh])
        except Exception as exc:
            if is_transient(exc):
                raise  # the connection is gone, a deadlock, a restart: the whole batch is retried
            log.warning("a run of %d records failed, handling them one by one: %s", len(decoded), exc)
            for record, _ in decoded:
                await self._process_one(conn, record, result)
            return
        for record, error in conflicts:
            result.failures.append(Failure(record, "conflict", error, 0))
        result.processed += len(fresh)
        result.duplicates += len(decoded) - len(fresh) - len(conflicts)
        for topic, count in Counter(record.topic for record, _ in fresh).items():
            EVENTS_CONSUMED.labels(self._service, self.spec.name, self._logical(topic), "processed").inc(count)
        if len(decoded) > len(fresh) + len(conflicts):
            logical = self._logical(decoded[0][0].topic)
            EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "duplicate").inc(
                len(decoded) - len(fresh) - len(conflicts)
            )

    async def _conflicts(
        self,
        conn: asyncpg.Connection,
        repeated: Sequence[tuple[IncomingRecord, Envelope[Any], bytes]],
        fresh: Sequence[tuple[IncomingRecord, Envelope[Any]]],
    ) -> list[tuple[IncomingRecord, str]]:
        """Of the records whose event id was seen before, those whose body differs from the one handled.

        A redelivery carries the same bytes; a different body under a used event id is a producer's bug
        (or worse) that must not vanish as a duplicate. Rows from before digests were kept compare as equal.
        """
        if not repeated:
            return []
        seen: dict[Any, bytes | None] = {event.event_id: body_digest(record.value or b"") for record, event in fresh}
        earlier = {event.event_id for _, event, _ in repeated} - seen.keys()
        if earlier:
            rows = await conn.fetch(
                "SELECT event_id, digest FROM processed_events WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                self._consumer_id,
                list(earlier),
            )
            seen.update((r["event_id"], r["digest"]) for r in rows)
        out = []
        for record, event, digest in repeated:
            known = seen.get(event.event_id)
            if known is not None and known != digest:
                out.append((record, f"event id {event.event_id} was already processed with a different body"))
                EVENT_ID_CONFLICTS.labels(self._service, self.spec.name, self._logical(record.topic)).inc()
        return out

    def _decode(self, record: IncomingRecord, result: BatchResult) -> Envelope[Any] | None:
        """The record's event, or None when it is unparseable (noted for dead-lettering) or of a skipped type."""
        assert record.value is not None
        try:
            event = decode_envelope(record.value, record.headers)
        except EnvelopeError as exc:
            result.failures.append(Failure(record, "unparseable", str(exc), 0))
            return None
        except Exception as exc:  # whatever else a hostile record provokes in parsing, never a stopped partition
            result.failures.append(Failure(record, "unparseable", f"{type(exc).__name__}: {exc}", 0))
            return None
        if self.spec.event_types is not None and event.event_type not in self.spec.event_types:
            result.skipped += 1
            EVENTS_CONSUMED.labels(self._service, self.spec.name, self._logical(record.topic), "skipped").inc()
            return None
        return event

    async def _process_one(self, conn: asyncpg.Connection, record: IncomingRecord, result: BatchResult) -> None:
        logical = self._logical(record.topic)
        if record.value is None:
            if self.spec.tombstone_handler is not None and record.key is not None:
                async with conn.transaction():
                    await self.spec.tombstone_handler(conn, logical, record.key.decode())
            EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "tombstone").inc()
            return
        event = self._decode(record, result)
        if event is None:
            return
        with log_context(correlation_id=str(event.correlation_id), event_id=str(event.event_id)):
            attempt = 0
            while True:
                attempt += 1
                try:
                    async with conn.transaction():  # a savepoint inside the batch transaction
                        digest = body_digest(record.value or b"")
                        first_time = await conn.fetchval(
                            "INSERT INTO processed_events (consumer, event_id, digest) VALUES ($1, $2, $3)"
                            " ON CONFLICT DO NOTHING RETURNING true",
                            self._consumer_id,
                            event.event_id,
                            digest,
                        )
                        if not first_time:
                            known = await conn.fetchval(
                                "SELECT digest FROM processed_events WHERE consumer = $1 AND event_id = $2",
                                self._consumer_id,
                                event.event_id,
                            )
                            if known is not None and known != digest:
                                error = f"event id {event.event_id} was already processed with a different body"
                                result.failures.append(Failure(record, "conflict", error, 0))
                                EVENT_ID_CONFLICTS.labels(self._service, self.spec.name, logical).inc()
                                return
                            result.duplicates += 1
                            EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "duplicate").inc()
                            return
                        await self.spec.handler(conn, event)
                    result.processed += 1
                    EVENTS_CONSUMED.labels(self._service, self.spec.name, logical, "processed").inc()
                    return
                except PermanentError as exc:
                    result.failures.append(Failure(record, "rejected", f"{type(exc).__name__}: {exc}", attempt))
                    return
                except Exception as exc:
                    if attempt >= self._max_attempts:
                        log.warning("handler failed %d times, dead-lettering: %s", attempt, exc)
                        result.failures.append(
                            Failure(record, "handler_failed", f"{type(exc).__name__}: {exc}", attempt)
                        )
                        return
                    await asyncio.sleep(0.05 * attempt)
