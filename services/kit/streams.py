"""Hosting a service's consumers as faust-streaming agents.

One faust app per service process (its id is the service's consumer group); one agent
per `ConsumerSpec`. Agents read raw bytes (`value_type=bytes`) in batches with
`take_events()` and hand them to the kit's `BatchProcessor`, which parses, handles
idempotently in PostgreSQL and dead-letters. faust acknowledges a batch only after the
agent asks for the next one, i.e. after the transaction committed; offsets are
committed from acknowledged events. We do not rely on faust's exactly-once mode:
redelivery after a crash or rebalance is absorbed by `processed_events`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
import faust
from aiokafka.errors import KafkaError
from faust.sensors.monitor import Monitor

from services.kit.consumer import BatchProcessor, IncomingRecord
from services.kit.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

_INFRASTRUCTURE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, KafkaError, asyncio.TimeoutError)


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    if not raw:
        return []
    items = raw.items() if isinstance(raw, dict) else raw
    # aiokafka already gives (str, bytes) pairs: kept as they are, anything else is converted.
    return [
        (k, v) if type(k) is str and type(v) is bytes else (str(k), bytes(v) if v is not None else b"")
        for k, v in items
    ]


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


class StreamWorkers:
    """The faust app running a service's agents inside the service's event loop."""

    def __init__(
        self,
        *,
        app_id: str,
        bootstrap_servers: str,
        topic_prefix: str,
        processors: Sequence[BatchProcessor],
        batch_size: int = 500,
        batch_within: float = 0.05,
    ) -> None:
        self._processors = list(processors)
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
            Monitor=_PerBatchMonitor,
            loop=asyncio.get_running_loop(),
        )
        for processor in self._processors:
            self._add_agent(processor)

    def _add_agent(self, processor: BatchProcessor) -> None:
        topic = self.app.topic(
            *(f"{self._prefix}{t}" for t in processor.spec.topics),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

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
                await self._process_until_done(processor, records)

        self.app.agent(topic, name=f"{processor.service}.{processor.spec.name}")(agent)

    async def _process_until_done(self, processor: BatchProcessor, records: list[IncomingRecord]) -> None:
        """Infrastructure failures (database or broker away) retry the same batch with backoff."""
        backoff = 0.2
        while True:
            try:
                await processor.process(records)
                return
            except _INFRASTRUCTURE_ERRORS as exc:
                if self._stopping:
                    raise
                log.warning("batch of %d failed, retrying in %.1fs: %s", len(records), backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def start(self) -> None:
        await self.app.start()

    async def stop(self) -> None:
        self._stopping = True
        await self.app.stop()

    def assigned(self) -> bool:
        """True once the consumer owns partitions (tests wait for it before publishing)."""
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
        """Export per-partition lag from the consumer's own bookkeeping."""
        try:
            consumer = self.app.consumer
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                committed = getattr(consumer, "_committed_offset", {}).get(tp)  # faust has no public accessor
                if highwater is not None and committed is not None:
                    topic = tp.topic[len(self._prefix) :] if tp.topic.startswith(self._prefix) else tp.topic
                    CONSUMER_LAG.labels(service, "all", topic, str(tp.partition)).set(max(0, highwater - committed))
        except Exception:  # metrics must never break processing
            log.debug("lag update failed", exc_info=True)
