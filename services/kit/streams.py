"""Hosting a service's consumers: faust-streaming agents, or the kit's batch consumer.

One faust app per service process (its id is the service's consumer group); one agent
per `ConsumerSpec`. Agents read raw bytes (`value_type=bytes`) in batches with
`take_events()` and hand them to the kit's `BatchProcessor`, which parses, handles
idempotently in PostgreSQL and dead-letters. faust acknowledges a batch only after the
agent asks for the next one, i.e. after the transaction committed; offsets are
committed from acknowledged events. We do not rely on faust's exactly-once mode:
redelivery after a crash or rebalance is absorbed by `processed_events`.

The batch consumer (opt-in, for high-volume consumers: `ConsumerSpec.batch_fetch` or the
`batch_consumers` setting). faust delivers records one at a time whatever the batch size:
its fetcher (`Consumer._drain_messages`) runs `wait_first(callback(message), ...)` for every
message — two tasks and an `asyncio.wait` — then the conductor puts each event on the agent's
channel and `take_events` collects them again, and aiokafka itself runs in a consumer thread
whose results cross back to the event loop. None of it is configurable (the wait is in the
fetch loop's body; the aiokafka driver is always a `ThreadDelegateConsumer`). Measured with
`bench/kit_throughput.py` behind a no-op handler, it was most of the worker's ~150 µs of CPU
per record, against ~50 µs on the batch consumer (`bench/results/kit.md`). The batch
consumer is aiokafka's `AIOKafkaConsumer` in the service's event loop, one consumer group
per consumer (`<faust app id>.<consumer name>`; faust's group speaks faust's own assignment
protocol, so they cannot share one): it takes whole fetched batches with `getmany()`, hands
them to the same `BatchProcessor` with the same retry and backoff on infrastructure errors,
and commits the batch's offsets only after its transaction committed (and its dead letters
were acknowledged). A rebalance waits for the batch in flight (its offsets are committed
before the partitions go); records fetched for partitions taken away are left to their new
owner, and every partition is read on from its committed offset. On its first assignment, a
partition with no offset in the new group starts where faust's group left it, so switching a
consumer over neither skips nor replays the topic. Delivery stays at-least-once, made
idempotent by `processed_events`, as with faust.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable, Collection, Sequence
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faust.sensors.monitor import Monitor

from services.kit.consumer import BatchProcessor, IncomingRecord
from services.kit.metrics import CONSUMER_LAG
from services.kit.supervision import MAX_BACKOFF, Health, Worker, jittered, supervise
from services.kit.transient import is_transient

log = logging.getLogger(__name__)


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    if not raw:
        return []
    items = raw.items() if isinstance(raw, dict) else raw
    # aiokafka already gives (str, bytes) pairs: kept as they are, anything else is converted.
    return [
        (k, v) if type(k) is str and type(v) is bytes else (str(k), bytes(v) if v is not None else b"")
        for k, v in items
    ]


async def committed_offsets(
    bootstrap_servers: str, group: str, *, client_id: str = "itinera-offsets"
) -> dict[TopicPartition, int]:
    """The offsets a consumer group has committed, by partition (partitions without one left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


class _PerBatchMonitor(Monitor):
    """faust's monitor without its per-message and per-event statistics.

    They feed faust's web views, which are off here (the kit exports its own metrics), and
    cost several microseconds of bookkeeping per record. Commits, rebalances and sends are
    still tracked.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> dict[str, Any] | None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: dict[str, Any] | None = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None


async def _process_until_done(
    processor: BatchProcessor, records: list[IncomingRecord], stopping: Callable[[], bool], worker: Worker
) -> None:
    """Handle a batch, retrying it with backoff and jitter until it goes through.

    `process` raises only when the batch could not be handled as a whole: the database or the broker is
    away, a deadlock, a restart (bad records are dead-lettered inside it). Nothing in the batch is lost
    by retrying: it rolled back. An error that is not known to be transient is retried too (and logged
    with its traceback): stopping the partition would lose more than retrying, and the worker shows as
    stalled on /readyz while it lasts.
    """
    worker.busy()
    backoff = 0.2
    while True:
        try:
            await processor.process(records)
            worker.progressed()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if stopping():
                raise
            worker.failed(exc)
            if is_transient(exc):
                log.warning("batch of %d failed, retrying in %.1fs: %s: %s", len(records), backoff,
                            type(exc).__name__, exc)  # fmt: skip
            else:
                log.exception("batch of %d failed unexpectedly, retrying in %.1fs", len(records), backoff)
            await asyncio.sleep(jittered(backoff))
            backoff = min(backoff * 2, MAX_BACKOFF)


class _WaitForBatch(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, owner: BatchConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._owner.rebalancing()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._owner.assigned_partitions(set(assigned))


class BatchConsumer:
    """One consumer on aiokafka's `AIOKafkaConsumer`: whole fetched batches to the `BatchProcessor`.

    Offsets are committed after the batch's transaction; a rebalance waits for the batch in flight.
    """

    BROKER_TIMEOUT = 10.0  # reading offsets at start and on assignment
    STOP_TIMEOUT = 30.0  # for the batch in flight when stopping

    def __init__(
        self,
        *,
        processor: BatchProcessor,
        group_id: str,
        bootstrap_servers: str,
        topic_prefix: str,
        batch_size: int,
        batch_within: float,
        worker: Worker,
        seed_group: str | None = None,
        session_timeout: float = 10.0,
        instance_id: str | None = None,
    ) -> None:
        self.processor = processor
        self.worker = worker
        self._prefix = topic_prefix
        self._group_id = group_id
        self._bootstrap = bootstrap_servers
        self._seed_group = seed_group  # a group to take starting offsets from (faust's)
        self._batch_size = batch_size
        self._within = batch_within
        self._topics = [f"{topic_prefix}{t}" for t in processor.spec.topics]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=int(session_timeout * 1000),
            heartbeat_interval_ms=int(session_timeout * 1000 / 5),
            group_instance_id=f"{group_id}.{instance_id}" if instance_id else None,
        )
        self._in_flight = asyncio.Lock()  # held while a batch is handled and its offsets committed
        self._committed: dict[TopicPartition, int] = {}
        self._seeds: dict[TopicPartition, int] | None = None
        # Per partition, the offset the next record handled must have at least: records fetched before a
        # seek, or fetched again after a position reset, are skipped (they were handled, or left behind).
        self._next: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        if self._seed_group is not None:
            try:
                self._seeds = await asyncio.wait_for(
                    committed_offsets(self._bootstrap, self._seed_group, client_id=self._group_id), self.BROKER_TIMEOUT
                )
            except Exception:  # at worst a partition new to this group starts from the beginning: idempotent
                log.warning("%s: could not read %s's offsets", self._group_id, self._seed_group, exc_info=True)
        self._consumer.subscribe(self._topics, listener=_WaitForBatch(self))
        await self._consumer.start()
        self._task = asyncio.create_task(
            supervise(self.worker, self._consume, stopping=lambda: self._stopping),
            name=f"batch-consumer-{self._group_id}",
        )

    async def stop(self) -> None:
        self._stopping = True
        try:  # the batch in flight finishes and commits (unless it is stuck retrying)
            await asyncio.wait_for(self._in_flight.acquire(), self.STOP_TIMEOUT)
        except TimeoutError:
            log.warning("%s: stopping with a batch in flight (it rolls back and comes again)", self._group_id)
        else:
            self._in_flight.release()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._consumer.stop()  # leaves the group

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())

    async def rebalancing(self) -> None:
        """Before partitions are revoked: the batch in flight finishes and commits its offsets first."""
        async with self._in_flight:
            return

    async def assigned_partitions(self, assigned: set[TopicPartition]) -> None:
        """After an assignment: note the committed offsets (for the lag and `_next`); partitions new to
        this group start where the seed group (faust's) left them."""
        async with self._in_flight:  # what the loop fetched meanwhile waits for the seeks below
            self._committed = {}
            self._next = {}
            tps = sorted(assigned)
            try:
                found = await asyncio.wait_for(
                    asyncio.gather(*(self._consumer.committed(tp) for tp in tps)), self.BROKER_TIMEOUT
                )
            except Exception:  # at worst records come again: idempotent
                log.warning("%s: could not read committed offsets", self._group_id, exc_info=True)
                return
            for tp, own in zip(tps, found, strict=True):
                committed = own
                if own is None and self._seeds:
                    committed = self._seeds.get(tp)
                    if committed is not None:
                        log.info("%s starts %s[%d] at %d, where %s left it", self._group_id, tp.topic,
                                 tp.partition, committed, self._seed_group)  # fmt: skip
                        self._consumer.seek(tp, committed)
                if committed is not None:
                    self._committed[tp] = committed
                    self._next[tp] = committed

    async def _fetch(self) -> dict[TopicPartition, list[Any]]:
        """Up to `batch_size` records: what is buffered, topped up for at most `batch_within` seconds."""
        consumer = self._consumer
        batch: dict[TopicPartition, list[Any]] = await consumer.getmany(timeout_ms=1000, max_records=self._batch_size)
        count = sum(map(len, batch.values()))
        if not count or count >= self._batch_size or self._within <= 0:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._within
        while count < self._batch_size:
            left = deadline - loop.time()
            if left <= 0:
                break
            more = await consumer.getmany(timeout_ms=int(left * 1000) + 1, max_records=self._batch_size - count)
            for tp, msgs in more.items():
                batch.setdefault(tp, []).extend(msgs)
                count += len(msgs)
        return batch

    async def _consume(self) -> None:
        processor = self.processor
        while not self._stopping:
            batch = await self._fetch()
            if not batch:
                continue
            async with self._in_flight:
                if self._stopping:
                    return  # not handled, not committed: the next owner reads them
                # A rebalance may have happened since the fetch: records of partitions taken away are
                # left to their new owner (nothing of them was committed here); the rest are handled,
                # from the partition's committed (or seeded) offset on.
                assigned = self._consumer.assignment()
                batch = {tp: msgs for tp, msgs in batch.items() if tp in assigned}
                batch = self._unseen(batch)
                if not batch:
                    continue
                records = [
                    IncomingRecord(
                        topic=m.topic,
                        partition=m.partition,
                        offset=m.offset,
                        key=m.key,
                        value=m.value,
                        headers=_headers(m.headers),
                        timestamp_ms=m.timestamp or 0,
                    )
                    for msgs in batch.values()
                    for m in msgs
                ]
                await _process_until_done(processor, records, lambda: self._stopping, self.worker)
                offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()}
                self._next.update(offsets)
                await self._commit(offsets)

    def _unseen(self, batch: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """The records not handled yet, by offset (see `_next`)."""
        kept = {}
        for tp, fetched in batch.items():
            start = self._next.get(tp)
            msgs = fetched if start is None or fetched[0].offset >= start else [m for m in fetched if m.offset >= start]
            if msgs:
                kept[tp] = msgs
        return kept

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit after the batch's transaction; a failure only means redelivery (absorbed by processed_events)."""
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("%s: offsets not committed (a rebalance took the partitions): %s", self._group_id, exc)
            return
        except KafkaError as exc:
            log.warning("%s: offsets not committed, the next batch's commit covers them: %s", self._group_id, exc)
            return
        self._committed.update(offsets)

    def update_lag(self, service: str) -> None:
        consumer = self._consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            committed = self._committed.get(tp)
            if highwater is not None and committed is not None:
                topic = tp.topic[len(self._prefix) :] if tp.topic.startswith(self._prefix) else tp.topic
                CONSUMER_LAG.labels(service, self.processor.spec.name, topic, str(tp.partition)).set(
                    max(0, highwater - committed)
                )


class StreamWorkers:
    """The service's consumers inside the service's event loop: faust agents and batch consumers."""

    def __init__(
        self,
        *,
        app_id: str,
        bootstrap_servers: str,
        topic_prefix: str,
        processors: Sequence[BatchProcessor],
        health: Health,
        batch_size: int = 500,
        batch_within: float = 0.05,
        batch_consumers: Collection[str] = (),
        session_timeout: float = 10.0,
        instance_id: str | None = None,
    ) -> None:
        """`batch_consumers`: names of the consumers to host on the batch consumer (besides those whose
        spec asks for it with `batch_fetch`); the others are faust agents.

        `session_timeout`: how long the broker waits for a silent member before it rebalances its
        partitions — after a crash, the restarted process waits about that long (faust's own default
        is 60 s); heartbeats go five times as often. `instance_id`: static membership (KIP-345) — a
        process restarted with the same id takes its partitions back at once, with no rebalance;
        the price is that a process stopped for good keeps its partitions unserved for one session
        timeout, and every process of a service must have its own id.
        """
        self._health = health
        self._processors = list(processors)
        # faust creates `datadir` at start (default `<app id>-data/` in the working directory); the apps
        # keep nothing there (memory store, no tables): a private temporary one per process.
        self._datadir = tempfile.TemporaryDirectory(prefix=f"{app_id}-faust-")
        self._prefix = topic_prefix
        self._batch_size = batch_size
        self._within = batch_within
        self._stopping = False
        self.app = faust.App(
            app_id,
            broker=[f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")],
            web_enabled=False,
            store="memory://",
            topic_allow_declare=False,  # topics come from the catalogue (services.kit topics create)
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            broker_commit_every=batch_size,
            broker_commit_interval=1.0,
            producer_acks=-1,
            stream_buffer_maxsize=max(4096, batch_size * 4),
            broker_session_timeout=session_timeout,
            broker_heartbeat_interval=session_timeout / 5,
            consumer_group_instance_id=f"{app_id}.{instance_id}" if instance_id else None,
            datadir=self._datadir.name,
            Monitor=_PerBatchMonitor,
            loop=asyncio.get_running_loop(),
        )
        self.batch_consumers: list[BatchConsumer] = []
        self._agents = 0
        for processor in self._processors:
            if processor.spec.batch_fetch or processor.spec.name in batch_consumers:
                self.batch_consumers.append(
                    BatchConsumer(
                        processor=processor,
                        group_id=f"{app_id}.{processor.spec.name}",
                        bootstrap_servers=bootstrap_servers,
                        topic_prefix=topic_prefix,
                        batch_size=batch_size,
                        batch_within=batch_within,
                        worker=health.worker(f"consumer:{processor.spec.name}"),
                        seed_group=app_id,
                        session_timeout=session_timeout,
                        instance_id=instance_id,
                    )
                )
            else:
                self._add_agent(processor)
                self._agents += 1

    def _add_agent(self, processor: BatchProcessor) -> None:
        topic = self.app.topic(
            *(f"{self._prefix}{t}" for t in processor.spec.topics),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        worker = self._health.worker(f"consumer:{processor.spec.name}")
        worker.running = True  # faust runs the agent (and restarts it should it crash)

        async def agent(stream: faust.StreamT[bytes]) -> None:
            async for events in stream.take_events(self._batch_size, within=self._within):  # type: ignore[attr-defined]  # on faust.Stream, missing from StreamT
                records = [
                    IncomingRecord(
                        topic=e.message.topic,
                        partition=e.message.partition,
                        offset=e.message.offset,
                        key=e.message.key,
                        value=e.message.value,
                        headers=_headers(e.message.headers),
                        timestamp_ms=int((e.message.timestamp or 0) * 1000),
                    )
                    for e in events
                ]
                await _process_until_done(processor, records, lambda: self._stopping, worker)

        self.app.agent(topic, name=f"{processor.service}.{processor.spec.name}")(agent)

    async def start(self) -> None:
        if self._agents:  # faust hosts the other consumers; with none, it is not started
            await self.app.start()
        for consumer in self.batch_consumers:
            await consumer.start()

    async def stop(self) -> None:
        self._stopping = True
        for consumer in self.batch_consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if self._agents:
            await self.app.stop()
        self._datadir.cleanup()

    def healthy(self) -> bool:
        """False once faust asked to stop or a batch consumer's loop ended (stalls: see `Health`)."""
        if self._agents and (self.app.should_stop or self.app.crashed):
            return False
        return self._stopping or all(c.running() for c in self.batch_consumers)

    def assigned(self) -> bool:
        """True once every consumer owns partitions (tests wait for it before publishing)."""
        if not all(c.assignment() for c in self.batch_consumers):
            return False
        if not self._agents:
            return True
        try:
            return bool(self.app.consumer.assignment())
        except Exception:  # consumer not created yet
            return False

    async def wait_assigned(self, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.assigned():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("no partitions assigned")
            await asyncio.sleep(0.05)

    def update_lag(self, service: str) -> None:
        """Export per-partition lag from the consumers' own bookkeeping."""
        try:
            for batch_consumer in self.batch_consumers:
                batch_consumer.update_lag(service)
            if not self._agents:
                return
            consumer = self.app.consumer
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                committed = getattr(consumer, "_committed_offset", {}).get(tp)  # faust has no public accessor
                if highwater is not None and committed is not None:
                    topic = tp.topic[len(self._prefix) :] if tp.topic.startswith(self._prefix) else tp.topic
                    CONSUMER_LAG.labels(service, "all", topic, str(tp.partition)).set(max(0, highwater - committed))
        except Exception:  # metrics must never break processing
            log.debug("lag update failed", exc_info=True)
