"""Transactional outbox: write events in the same transaction as the state change, publish later.

`enqueue()` inserts rows inside the caller's transaction. `OutboxRelay` publishes them
in id order with the idempotent producer and deletes them once the broker has
acknowledged. A relay sweep holds the schema's publishing lock (an advisory lock) alone, which
keeps per-key order; a crash between publishing and deleting re-publishes, and consumers are
idempotent on event_id.

Publishing right after commit: code that owns the transaction (the kit's consumer) may
collect what its handlers enqueue (`collecting()`) and, once committed, hand the rows to
`OutboxRelay.publish_after_commit()`. They are published in the background, in commit order,
from memory (no read-back, no re-decoding): deleted by id and produced in one transaction that
holds the publishing lock *shared*, so the committed batches of several processes publish at the
same time, and only a sweep waits for them (and they for a sweep). If a row of one of the batch's
keys older than the batch's own is still in the outbox (waiting, or being published by another
process whose delete has not committed yet), or producing fails, the batch is left to the relay,
which is then only the sweeper for what such a path, an API request, a job or a crash left
behind. Collected rows wake no relay when they are inserted (rows of API requests and jobs do):
a relay finds what a crashed process left at its next poll. Either way nothing is published that
was not committed, and every committed row is published (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic_core import from_json, to_json

from services.kit.contracts.envelope import EncodedEnvelope, Envelope, encode_envelope
from services.kit.kafka import EventProducer, OutgoingRecord
from services.kit.metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED
from services.kit.supervision import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enqueued:
    """An outbox row as inserted: its id and what to produce (logical topic)."""

    id: int
    topic: str
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]


_collected: ContextVar[list[Enqueued] | None] = ContextVar("itinera_outbox_collected", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[Enqueued]]:
    """Collect the rows enqueued in this context (in id order), to publish them after the commit."""
    rows: list[Enqueued] = []
    token = _collected.set(rows)
    try:
        yield rows
    finally:
        _collected.reset(token)


def lock_name(schema: str) -> str:
    """Names the advisory lock (`hashtext(name)`) one publisher of a schema's outbox holds at a time."""
    return f"{schema}.outbox"


async def enqueue(conn: asyncpg.Connection, *, topic: str, envelope: Envelope[Any]) -> None:
    """Add an event to the outbox, inside the caller's transaction. `topic` is the logical name."""
    await enqueue_many(conn, [(topic, envelope)])


# One statement for any number of rows (one round trip, at most one NOTIFY from the statement trigger);
# rows get their ids in the order given, which is the order the relay publishes them in.
_INSERT_MANY = """
INSERT INTO outbox (topic, key, value, headers, event_id)
SELECT u.topic, u.key, u.value, u.headers::jsonb, u.event_id
  FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::uuid[]) WITH ORDINALITY
       AS u(topic, key, value, headers, event_id, n)
 ORDER BY u.n
"""


# Rows collected for publishing after the commit: their insert does not wake the relays (the
# outbox trigger reads this; see kit migration 0004).
_DIRECT = "SET LOCAL itinera.outbox_direct = 'on'"


async def enqueue_many(conn: asyncpg.Connection, items: Sequence[tuple[str, Envelope[Any] | EncodedEnvelope]]) -> None:
    """Add several events in one statement (keeps bulk paths fast); envelopes or events already
    encoded (`encode_new`), mixed as they come."""
    if not items:
        return
    topics, keys, values, headers, event_ids, header_lists = [], [], [], [], [], []
    for topic, env in items:
        topics.append(topic)
        keys.append(env.subject_id.encode())
        values.append(encode_envelope(env))
        pairs = env.headers()
        header_lists.append(pairs)
        headers.append(to_json([[k, v.decode()] for k, v in pairs]).decode())
        event_ids.append(env.event_id)
    collected = _collected.get()
    if collected is None:
        await conn.execute(_INSERT_MANY, topics, keys, values, headers, event_ids)
        return
    await conn.execute(_DIRECT)
    rows = await conn.fetch(_INSERT_MANY + " RETURNING id", topics, keys, values, headers, event_ids)
    ids = sorted(r["id"] for r in rows)  # given in order, so the ids ascend in the order given
    collected.extend(map(Enqueued, ids, topics, keys, values, header_lists))


async def enqueue_tombstone(conn: asyncpg.Connection, *, topic: str, key: str) -> None:
    """Add a tombstone (null value) for `key` on a compacted topic."""
    collected = _collected.get()
    if collected is not None:
        await conn.execute(_DIRECT)
    row_id = await conn.fetchval(
        "INSERT INTO outbox (topic, key, value, headers) VALUES ($1, $2, NULL, '[]'::jsonb) RETURNING id",
        topic,
        key.encode(),
    )
    if collected is not None:
        collected.append(Enqueued(row_id, topic, key.encode(), None, []))


# A forced sweep waits up to LOCK_WAIT_MS for the publishing lock (direct publishes hold it shared
# for the moment their batch takes), then tries again up to BUSY_RETRIES times before it leaves
# the rows to the next poll.
BUSY_RETRIES, BUSY_RETRY_SECONDS = 50, 0.02
LOCK_WAIT_MS = 2000

# Keys on any topic: a service's keys are its entities' ids, the same on each of its topics (an
# older row of the key on another topic holding a batch back costs a sweep, never order).
# Is a row of one of the keys ($1) older than the batch's first row of that key ($2) still in the
# outbox? One probe of the key index (kit migration 0006) per key, stopping at the first: a scan of
# the older rows, however joined with the keys, grew with the backlog and the dead rows between
# vacuums (168 ms for a batch of 1,000 bookings behind a few thousand rows).
_OLDER_OF_THE_SAME_KEYS = """
SELECT EXISTS (
    SELECT 1 FROM unnest($1::bytea[], $2::bigint[]) AS b (key, first_id)
     WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.key = b.key AND o.id < b.first_id))
"""


class OutboxRelay:
    """Publishes outbox rows of one schema to Kafka, woken by NOTIFY and by a poll timer."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        producer: EventProducer,
        schema: str,
        service: str,
        topic_prefix: str,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = schema
        self._service = service
        self._prefix = topic_prefix
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._forced = False  # a wake-up that must sweep now (a direct publish gave up)
        self._direct_pending = 0  # committed batches queued for `publish_after_commit`
        self._direct_idle = asyncio.Event()
        self._direct_idle.set()
        self._direct_task: asyncio.Task[None] | None = None
        self._lock_busy = False  # the last sweep found another publisher holding the lock

    async def run(self, worker: Worker | None = None) -> None:
        """Publish until stopped; raises on a fault (the runtime's supervisor starts it again, with a
        fresh listening connection: after a database restart the old one hears nothing)."""
        worker = worker or Worker(self._service, "outbox-relay")
        listener = await self._pool.acquire()
        channel = f"{self._schema}_outbox"
        await listener.add_listener(channel, self._on_notify)
        busy = 0
        try:
            while not self._stopping:
                worker.busy()
                published = await self.publish_pending(wait=self._forced)
                worker.progressed()
                if self._lock_busy and self._forced and busy < BUSY_RETRIES:
                    # Rows are known to wait (a direct publish gave up on them) and another publisher
                    # holds the lock for the moment its batch takes: try again soon, not at the next poll.
                    busy += 1
                    await asyncio.sleep(BUSY_RETRY_SECONDS)
                    continue
                busy = 0
                if published < self._batch_size:
                    self._wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
                    if self._direct_pending and not self._forced:
                        # Committed batches of this process are publishing their own rows: let them
                        # go first rather than race them for the lock (their inserts notify nobody,
                        # but rows of an API request or a job may have woken this relay meanwhile).
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._direct_idle.wait(), timeout=self._poll_interval)
                    self._forced = False
        finally:
            try:  # cancelled while unlistening (the runtime stops it), the connection still goes back
                with contextlib.suppress(Exception):
                    await listener.remove_listener(channel, self._on_notify)
            finally:
                with contextlib.suppress(Exception):  # a connection the restart broke is discarded by the pool
                    await self._pool.release(listener)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def _sweep_now(self) -> None:
        self._forced = True
        self._wake.set()

    def expect_commit(self) -> None:
        """A transaction with collected rows is about to commit: `publish_after_commit` publishes them
        (their inserts wake no relay: see `_DIRECT`).

        Follow with `publish_after_commit()` once committed, or `commit_failed()`.
        """
        self._direct_pending += 1
        self._direct_idle.clear()

    def commit_failed(self) -> None:
        self._direct_done()

    def _direct_done(self) -> None:
        self._direct_pending -= 1
        if self._direct_pending == 0:
            self._direct_idle.set()

    def publish_after_commit(self, rows: list[Enqueued]) -> None:
        """Publish rows a transaction enqueued (`collecting()`) and committed, after `expect_commit()`:
        in the background, after those handed over before them."""
        if not rows:
            self._direct_done()
            return
        self._direct_task = asyncio.create_task(self._publish_direct(self._direct_task, rows))

    async def _publish_direct(self, previous: asyncio.Task[None] | None, rows: list[Enqueued]) -> None:
        try:
            if previous is not None:
                await previous  # never raises: see below
            await self.publish_committed(rows)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # committed rows stay in the outbox: the relay publishes them
            log.warning("publishing %d committed outbox rows failed, the relay will: %s", len(rows), exc)
            self._sweep_now()
        finally:
            self._direct_done()

    async def wait_published(self) -> None:
        """Wait until the rows handed to `publish_after_commit` were produced (or left to the relay)."""
        task = self._direct_task
        if task is not None:
            with contextlib.suppress(Exception):
                await task

    async def publish_committed(self, rows: list[Enqueued]) -> int:
        """Publish committed outbox rows from memory; returns how many were published.

        In one transaction holding the publishing lock shared (other processes' committed batches
        publish meanwhile; a relay sweep waits, or is waited for): rows still in the outbox are
        deleted by id and produced (any a relay run took meanwhile are skipped); if an older row of
        one of their keys is still in the outbox, the relay is asked to publish everything in order
        instead. A failure rolls back: the rows stay.

        Only the same keys count: order matters per key (a compacted topic keeps a key's last
        record), and rows of one key are enqueued under that entity's lock, so they commit in id
        order, and an older one stays visible here until it is published: until the transaction
        that deletes it commits, which it does only once the broker has acknowledged the row.
        Rows of other keys waiting (another worker's, committed a moment earlier) do not hold these
        back.
        """
        if not rows:
            return 0
        first: dict[bytes, int] = {}
        for r in rows:  # each key's first row
            if r.id < first.get(r.key, r.id + 1):
                first[r.key] = r.id
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext($1))", lock_name(self._schema))
            older = await conn.fetchval(_OLDER_OF_THE_SAME_KEYS, list(first), list(first.values()))
            if older:  # the relay keeps the order: it publishes the older ones first
                self._sweep_now()
                return 0
            gone = await conn.fetch(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING id", [r.id for r in rows]
            )
            if len(gone) != len(rows):  # some already published by a relay run: send the rest
                still = {r["id"] for r in gone}
                rows = [r for r in rows if r.id in still]
            prefix = self._prefix
            await self._producer.send_rows([(prefix + r.topic, r.key, r.value, r.headers) for r in rows])
        for topic, count in Counter(r.topic for r in rows).items():
            OUTBOX_PUBLISHED.labels(self._service, topic).inc(count)
        return len(rows)

    async def publish_pending(self, *, wait: bool = False) -> int:
        """Publish one batch of pending rows; returns how many were published.

        `wait`: rows are known to wait (a direct publish left them): wait a moment for the
        publishing lock, in turn with the direct publishes holding it shared, instead of trying once.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            # Only one publisher per schema at a time, so rows leave in id order.
            if wait:
                try:
                    async with conn.transaction():  # a savepoint: a timed-out wait leaves the transaction usable
                        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
                        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_name(self._schema))
                        await conn.execute("SET LOCAL lock_timeout TO DEFAULT")
                    got = True
                except asyncpg.LockNotAvailableError:
                    got = False
            else:
                got = await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", lock_name(self._schema))
            self._lock_busy = not got
            if not got:
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers::text AS headers FROM outbox ORDER BY id LIMIT $1",
                self._batch_size,
            )
            if not rows:
                OUTBOX_PENDING.labels(self._service).set(0)
                return 0
            records = [
                OutgoingRecord(
                    topic=f"{self._prefix}{r['topic']}",
                    key=bytes(r["key"]),
                    value=None if r["value"] is None else bytes(r["value"]),
                    headers=[(k, v.encode()) for k, v in from_json(r["headers"])],
                )
                for r in rows
            ]
            await self._producer.send_many(records)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
            # A full batch means more is waiting: count it (cheap next to publishing a batch).
            pending = await conn.fetchval("SELECT count(*) FROM outbox") if len(rows) == self._batch_size else 0
            OUTBOX_PENDING.labels(self._service).set(pending)
        for r in rows:
            OUTBOX_PUBLISHED.labels(self._service, r["topic"]).inc()
        if len(rows) == self._batch_size:
            self._wake.set()
        return len(rows)
