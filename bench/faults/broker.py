"""What the harness does on the broker: feed the stream, inject records, read progress.

The feeder is a booking system that does not give up: a send that fails while the broker is
away is sent again until the broker has it (a copy may land twice; consumers are idempotent),
and events of one booking never overtake each other.

Progress is read from the consumer groups' committed offsets. Which topics a service consumes
comes from its own bootstrap (the `ConsumerSpec`s), and a service's progress on a partition is
the furthest of its groups' committed offsets there (faust's group, and the batch consumers'
`<group>.<consumer>` groups, which start where faust's left off).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.faults.infra import ROOT
from bench.faults.stream import StreamEvent
from services.kit.dlq import DeadLetter, read_dead_letters

log = logging.getLogger(__name__)

TopicOffsets = dict[tuple[str, int], int]  # (logical topic, partition) -> offset


_CONSUMED = """
import importlib, json
from services.kit.contracts.topics import SERVICES
print(json.dumps({name: sorted({t for spec in importlib.import_module(f"services.{name}.bootstrap")
                                .build_definition().consumers for t in spec.topics})
                  for name in SERVICES}))
"""
_code = [ROOT]


def use_code(code: Path) -> None:
    """Run (and read the consumers of) the services of another checkout, e.g. an older version."""
    _code[0] = code.resolve()
    consumed_topics.cache_clear()


def code_root() -> Path:
    return _code[0]


def service_names() -> tuple[str, ...]:
    """The services of the checkout that runs (the topic catalogue's list), in its order."""
    return tuple(consumed_topics())


@cache
def consumed_topics() -> dict[str, frozenset[str]]:
    """Per service of the checkout that runs (which need not be this one), the logical topics its
    consumers read, from the services' own bootstraps."""
    found = subprocess.run(
        [sys.executable, "-c", _CONSUMED], cwd=code_root(), capture_output=True, text=True, check=True, timeout=120
    )
    return {name: frozenset(topics) for name, topics in json.loads(found.stdout.splitlines()[-1]).items()}


@dataclass(frozen=True)
class Sent:
    """Where the broker put a record."""

    topic: str  # logical
    partition: int
    offset: int


class Broker:
    """The harness's clients on one scenario's topics (names under `prefix`)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self._producer: AIOKafkaProducer | None = None
        self._big: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()  # concurrent sends share one producer

    async def _plain(self) -> AIOKafkaProducer:
        async with self._starting:
            return await self._start_plain()

    async def _start_plain(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=5000,
                linger_ms=5,
            )
            await _started(producer)
            self._producer = producer
        return self._producer

    async def _compressing(self) -> AIOKafkaProducer:
        """A booking system that compresses: the broker accepts a 1.5 MB record that shrinks to a few kB."""
        async with self._starting:
            return await self._start_compressing()

    async def _start_compressing(self) -> AIOKafkaProducer:
        if self._big is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                compression_type="gzip",
                max_request_size=4 * 1024 * 1024,
                max_batch_size=4 * 1024 * 1024,
                request_timeout_ms=5000,
            )
            await _started(producer)
            self._big = producer
        return self._big

    async def close(self) -> None:
        producers, self._producer, self._big = (self._producer, self._big), None, None
        for producer in producers:
            if producer is not None:
                with contextlib.suppress(Exception):
                    await producer.stop()

    async def _reset(self, failed: AIOKafkaProducer | None) -> None:
        """After a failure: a new producer (aiokafka's can stay broken after the broker restarts),
        unless another send already replaced the one that failed."""
        async with self._starting:
            if failed is None or failed not in (self._producer, self._big):
                return
            if failed is self._producer:
                self._producer = None
            else:
                self._big = None
        with contextlib.suppress(Exception):
            await failed.stop()

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        *,
        compress: bool = False,
        give_up_after: float = 300.0,
    ) -> Sent:
        """Send one record to a logical topic until the broker acknowledges it."""
        deadline = time.monotonic() + give_up_after
        while True:
            producer = None
            try:
                producer = await (self._compressing() if compress else self._plain())
                meta = await producer.send_and_wait(self.prefix + topic, value=value, key=key, headers=list(headers))
                return Sent(topic, meta.partition, meta.offset)
            except (KafkaError, OSError, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise
                log.info("send to %s failed (%s), sending again", topic, exc)
                await self._reset(producer)
                await asyncio.sleep(0.5)

    async def send_events(self, events: Sequence[StreamEvent], topic: str = "booking.events.v1") -> None:
        """A chunk of stream events, sent together; a key appears at most once per chunk (order per booking)."""
        await asyncio.gather(*(self.send(topic, e.key, e.value, e.headers) for e in events))

    async def end_offsets(self, topics: Sequence[str]) -> TopicOffsets:
        """The end (next) offset of every partition of the logical `topics`."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, request_timeout_ms=5000)
        try:
            await consumer.start()
            tps = [
                TopicPartition(self.prefix + t, p)
                for t in topics
                for p in sorted(
                    consumer.partitions_for_topic(self.prefix + t) or await _partitions(consumer, self.prefix + t)
                )
            ]
            ends = await consumer.end_offsets(tps)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
        return {(tp.topic[len(self.prefix) :], tp.partition): off for tp, off in ends.items()}

    async def progress(self) -> dict[str, TopicOffsets]:
        """Per service: the furthest committed offset of its groups on each partition of its topics."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            groups = [g[0] for g in await admin.list_consumer_groups()]
            out: dict[str, TopicOffsets] = {s: {} for s in consumed_topics()}
            for service, topics in consumed_topics().items():
                base = f"{self.prefix}itinera-{service}"
                for group in (g for g in groups if g == base or g.startswith(base + ".")):
                    for tp, meta in (await admin.list_consumer_group_offsets(group)).items():
                        logical = tp.topic[len(self.prefix) :]
                        if logical in topics and meta.offset >= 0:
                            key = (logical, tp.partition)
                            out[service][key] = max(out[service].get(key, 0), meta.offset)
            return out
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    async def answers(self) -> bool:
        """Whether the broker serves metadata (lists topics) within a few seconds."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(admin.start(), timeout=4)
            await asyncio.wait_for(admin.list_topics(), timeout=4)
            return True
        except Exception:
            return False
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    async def delete_topics(self) -> None:
        """Every topic of this scenario (so that a broker restart later loads only the running one's)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)
        try:
            await admin.start()
            mine = [t for t in await admin.list_topics() if t.startswith(self.prefix)]
            if mine:
                await admin.delete_topics(mine)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    async def dead_letters(self, service: str) -> list[DeadLetter]:
        consumer, letters = await read_dead_letters(
            bootstrap_servers=self.bootstrap, topic_prefix=self.prefix, service=service, limit=100_000
        )
        await consumer.stop()
        return letters


async def _started(producer: AIOKafkaProducer) -> None:
    try:
        await producer.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """Partitions of a topic the consumer has no metadata for yet."""
    for _ in range(50):
        await consumer._client.force_metadata_update()  # aiokafka has no public way to fetch a topic's metadata
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)
    raise KafkaError(f"no metadata for {topic}")


def behind(progress: dict[str, TopicOffsets], targets: TopicOffsets) -> dict[str, int]:
    """Per service, how many records of `targets` its consumers have not committed yet."""
    out = {}
    for service, topics in consumed_topics().items():
        missing = 0
        for (topic, partition), end in targets.items():
            if topic in topics:
                missing += max(0, end - progress.get(service, {}).get((topic, partition), 0))
        out[service] = missing
    return out
