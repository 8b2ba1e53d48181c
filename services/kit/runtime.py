"""The process-level wiring shared by all services: pool, producer, relay, consumers.

A service's bootstrap describes *what* it consumes and which background jobs it runs;
`ServiceRuntime` starts and stops them in the right order. Nothing connects at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.kit.consumer import BatchProcessor, ConsumerSpec
from services.kit.db import apply_migrations, create_pool
from services.kit.kafka import EventProducer, ensure_topics
from services.kit.keyring import Keyring, MasterKeys
from services.kit.outbox import OutboxRelay
from services.kit.sealed import RecordSealer
from services.kit.settings import ServiceSettings
from services.kit.streams import StreamWorkers
from services.kit.supervision import Health, supervise

log = logging.getLogger(__name__)
POOL_CLOSE_SECONDS = 15.0  # a graceful close of the pool at stop, at most

BackgroundJob = Callable[["ServiceRuntime"], Awaitable[None]]


@dataclass
class ServiceDefinition:
    """Everything that differs between services, given to the shared runtime."""

    settings: ServiceSettings
    migrations: str  # package holding the service's NNNN_*.sql files
    consumers: Sequence[ConsumerSpec] = ()
    background: Sequence[BackgroundJob] = ()
    extras: dict[str, Any] = field(default_factory=dict)


class ServiceRuntime:
    """Starts a service's infrastructure and workers; `mode` picks what runs in this process."""

    def __init__(self, definition: ServiceDefinition) -> None:
        self.definition = definition
        self.settings = definition.settings
        self._pool: asyncpg.Pool | None = None
        self._producer: EventProducer | None = None
        self.keyring: Keyring | None = None
        self.relay: OutboxRelay | None = None
        self.streams: StreamWorkers | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._processors: list[BatchProcessor] = []
        self._stopping = False
        # Every loop of this process reports here; /readyz is 503 while one is down or stalled.
        self.health = Health(definition.settings.service_name, stall_after=definition.settings.stall_after)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("runtime not started")
        return self._pool

    @property
    def producer(self) -> EventProducer:
        if self._producer is None:
            raise RuntimeError("runtime not started")
        return self._producer

    async def start(self, *, workers: bool = True, create_topics: bool = True) -> None:
        """Connect, migrate, and (with `workers`) start relay, consumers and background jobs."""
        s = self.settings
        self._pool = await create_pool(s)
        await apply_migrations(
            self._pool, schema=s.db_schema, packages=["services.kit.migrations", self.definition.migrations]
        )
        if create_topics:
            await ensure_topics(bootstrap_servers=s.kafka_bootstrap_servers, prefix=s.topic_prefix)
        self.keyring = Keyring(self._pool, MasterKeys(s.keyring_keys))
        await self.keyring.prepare()
        keyring = self.keyring
        self._spawn(lambda: keyring.listen(self.health.worker("keyring")), "keyring")  # forgets shredded keys
        self._producer = EventProducer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            client_id=f"itinera-{s.service_name}",
            sealer=RecordSealer(self.keyring, topic_prefix=s.topic_prefix),
        )
        await self._producer.start()
        if not workers:
            return
        self.relay = OutboxRelay(
            pool=self._pool,
            producer=self._producer,
            schema=s.db_schema,
            service=s.service_name,
            topic_prefix=s.topic_prefix,
        )
        relay = self.relay
        relay_worker = self.health.worker("outbox-relay")
        self._spawn(lambda: relay.run(relay_worker), "outbox-relay")
        processors = [
            BatchProcessor(
                spec=spec,
                pool=self._pool,
                producer=self._producer,
                service=s.service_name,
                topic_prefix=s.topic_prefix,
                max_attempts=s.consumer_max_attempts,
                outbox=self.relay,
            )
            for spec in self.definition.consumers
        ]
        self._processors = processors
        if processors:
            self.streams = StreamWorkers(
                app_id=f"{s.topic_prefix}itinera-{s.service_name}",
                bootstrap_servers=s.kafka_bootstrap_servers,
                topic_prefix=s.topic_prefix,
                processors=processors,
                health=self.health,
                batch_size=s.consumer_batch_size,
                batch_within=s.consumer_batch_within,
                batch_consumers=s.batch_consumers,
                session_timeout=s.consumer_session_timeout,
                instance_id=s.instance_id,
            )
            await self.streams.start()
            self._spawn(self._export_lag, "consumer-lag")
        for job in self.definition.background:
            self._spawn(functools.partial(job, self), getattr(job, "__name__", "job"))
        log.info(
            "%s started: %d consumers, %d background jobs",
            s.service_name,
            len(self.definition.consumers),
            len(self.definition.background),
        )

    async def _export_lag(self) -> None:
        while self.streams is not None:
            self.streams.update_lag(self.settings.service_name)
            self.health.checks()  # keeps itinera_worker_stalled current between /readyz calls
            await asyncio.sleep(2.0)

    async def wait_assigned(self, timeout: float = 30.0) -> None:
        """Wait until this process's consumers own partitions."""
        if self.streams is not None:
            await self.streams.wait_assigned(timeout)

    def _spawn(self, body: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a loop of this process under supervision: whatever ends it, it starts again (see
        `services.kit.supervision`). A job reports its progress through `runtime.health.worker(name)`."""
        worker = self.health.worker(name)
        self._tasks.append(asyncio.create_task(supervise(worker, body, stopping=lambda: self._stopping), name=name))

    async def stop(self) -> None:
        """Stop workers first (so nothing is half-handled), then the producer and the pool."""
        self._stopping = True
        if self.relay:
            self.relay.stop()
        if self.streams is not None:
            with contextlib.suppress(Exception):
                await self.streams.stop()
            self.streams = None
        for processor in self._processors:  # what committed batches enqueued goes out before the producer stops
            await processor.wait_published()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._producer:
            await self._producer.stop()
        if self._pool:
            try:
                # Every task is done, so every connection should be back; one that a dead server left
                # half-used in a cancelled operation may never be. Stopping must not wait for it forever.
                await asyncio.wait_for(self._pool.close(), timeout=POOL_CLOSE_SECONDS)
            except TimeoutError:
                log.warning("the pool did not close within %.0f s: its connections are terminated", POOL_CLOSE_SECONDS)
                self._pool.terminate()
        self._tasks.clear()

    async def readiness(self) -> dict[str, bool]:
        """Checks behind /readyz."""
        checks: dict[str, bool] = {}
        try:
            async with self.pool.acquire(timeout=2) as conn:
                checks["database"] = await conn.fetchval("SELECT true") is True
        except Exception:
            checks["database"] = False
        checks["kafka_producer"] = self._producer is not None and await self._producer.reachable()
        checks["workers"] = all(not t.done() for t in self._tasks)
        if self.streams is not None:
            checks["stream_agents"] = self.streams.healthy()
        checks.update(self.health.checks())
        return checks

    def problems(self) -> dict[str, str]:
        """What keeps the process from being ready, per worker, in words (for /readyz's body)."""
        return self.health.problems()
