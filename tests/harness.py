"""Test harness over the real engines: a throwaway database, prefixed topics, an SMTP server.

Every test session gets its own PostgreSQL database (with the same per-service
schemas and roles as production) and its own topic prefix on the real broker, so
tests never see each other's data, nor a running `make up`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.message
import email.policy
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from services.kit.contracts.envelope import Envelope, EnvelopeError, decode_envelope, encode_envelope
from services.kit.kafka import ensure_topics
from services.kit.keyring import DEV_KEYRING_KEY, Keyring, MasterKeys
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.sealed import RecordSealer
from services.kit.settings import DEV_API_KEYS, DEV_SOURCE_SYSTEMS, ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
KAFKA = os.environ.get("ITINERA_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
PG_HOST = os.environ.get("ITINERA_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ITINERA_PG_PORT", "55432"))
ADMIN_DSN = os.environ.get(
    "ITINERA_TEST_ADMIN_DSN", f"postgresql://itinera_admin:itinera_admin@{PG_HOST}:{PG_PORT}/postgres"
)

S = TypeVar("S", bound=ServiceSettings)
# The development keys, the booking system's registered also for the source systems tests write as
# (a test of source authority itself passes `api_keys=list(DEV_API_KEYS)`).
TEST_SOURCE_SYSTEMS = (*DEV_SOURCE_SYSTEMS, "gds", "gds-a", "gds-b", "hr", "legacy", "legacy-desk", "import", "rail")
TEST_API_KEYS = tuple(
    k.model_copy(update={"source_systems": list(TEST_SOURCE_SYSTEMS)}) if k.role == "booking-system" else k
    for k in DEV_API_KEYS
)
Record = tuple[bytes | None, bytes | None, dict[str, bytes]]  # key, value, headers


@dataclass
class TestEnv:
    __test__ = False  # not a test class, despite the name

    database: str
    topic_prefix: str
    _producer: AIOKafkaProducer | None = None
    _runtimes: list[ServiceRuntime] = field(default_factory=list)
    _keyring_pool: asyncpg.Pool | None = None
    _sealer: RecordSealer | None = None

    async def sealer(self) -> RecordSealer:
        """Opens sealed values as the services do (the development keyring key, this session's database)."""
        if self._sealer is None:
            self._keyring_pool = await asyncpg.create_pool(
                ADMIN_DSN.rsplit("/", 1)[0] + f"/{self.database}", min_size=1, max_size=2
            )
            keyring = Keyring(self._keyring_pool, MasterKeys([DEV_KEYRING_KEY]), cache_seconds=0)
            self._sealer = RecordSealer(keyring, topic_prefix=self.topic_prefix)
        return self._sealer

    async def open_records(self, topic: str, records: list[Record]) -> list[Record]:
        """Records of a logical topic as read raw, with sealed values (and a dead letter's error) opened and
        the seal header dropped. A value that does not open (its subject erased, or a fault) becomes None,
        its headers kept as read."""
        sealer = await self.sealer()
        physical = self.topic_prefix + topic
        opened = await sealer.open_records([(physical, k, v, list(h.items())) for k, v, h in records])
        return [(key, value, dict(headers)) for (key, _, _), (value, headers, _) in zip(records, opened, strict=True)]

    def settings(self, cls: type[S], **overrides: Any) -> S:
        """Settings for a service pointed at this session's database and topics."""
        values: dict[str, Any] = {
            "environment": "test",
            "kafka_bootstrap_servers": KAFKA,
            "topic_prefix": self.topic_prefix,
            "pg_host": PG_HOST,
            "pg_port": PG_PORT,
            "pg_database": self.database,
            "log_format": "text",
            "api_keys": list(TEST_API_KEYS),
        }
        values.update(overrides)
        return cls(**values)

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
            await self._producer.start()
        return self._producer

    async def publish(
        self, topic: str, event: Envelope[Any] | bytes, *, key: str | None = None, partition: int | None = None
    ) -> None:
        """Put an event (or raw bytes, for bad-input tests) on a logical topic."""
        producer = await self.producer()
        if isinstance(event, Envelope):
            value, k, headers = encode_envelope(event), (key or event.subject_id), event.headers()
        else:
            value, k, headers = event, (key or "raw"), []
        await producer.send_and_wait(
            self.topic_prefix + topic, value=value, key=k.encode(), headers=headers, partition=partition
        )

    @contextlib.asynccontextmanager
    async def running(self, definition: ServiceDefinition) -> AsyncIterator[ServiceRuntime]:
        """Run a service's runtime (relay, consumers, jobs) for the duration of the block."""
        runtime = ServiceRuntime(definition)
        await runtime.start(workers=True, create_topics=False)
        try:
            await runtime.wait_assigned(timeout=30)
            yield runtime
        finally:
            await runtime.stop()

    async def read_topic(
        self,
        topic: str,
        *,
        until: Callable[[list[Record]], bool],
        timeout: float = 30.0,
        raw: bool = False,
    ) -> list[Record]:
        """Read a topic from the beginning until `until(records)` holds; records are (key, value, headers),
        sealed values opened (see `open_records`), or as the broker holds them with `raw`."""
        consumer = AIOKafkaConsumer(
            self.topic_prefix + topic,
            bootstrap_servers=KAFKA,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        records: list[Record] = []
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while not until(records):
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"timed out reading {topic}: got {len(records)} record(s)")
                batch = await consumer.getmany(timeout_ms=200)
                for msgs in batch.values():
                    fetched: list[Record] = [(m.key, m.value, dict(m.headers or [])) for m in msgs]
                    records.extend(fetched if raw else await self.open_records(topic, fetched))
            return records
        finally:
            await consumer.stop()

    async def events(
        self, topic: str, *, until: Callable[[list[Envelope[Any]]], bool], timeout: float = 30.0
    ) -> list[Envelope[Any]]:
        """Like read_topic, decoded into envelopes (tombstones and undecodable records skipped)."""

        def decoded(records: list[Record]) -> list[Envelope[Any]]:
            out = []
            for _, value, _ in records:
                if value is None:
                    continue
                try:
                    out.append(decode_envelope(value))
                except EnvelopeError:
                    continue  # bad-input tests put garbage on shared topics on purpose
            return out

        records = await self.read_topic(topic, until=lambda rs: until(decoded(rs)), timeout=timeout)
        return decoded(records)

    async def admin_connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{self.database}")

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        if self._keyring_pool is not None:
            await self._keyring_pool.close()


async def create_env() -> TestEnv:
    """A fresh database with the per-service schemas, and prefixed topics."""
    suffix = uuid.uuid4().hex[:10]
    database = f"itinera_test_{suffix}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{database}" OWNER itinera_admin')
    finally:
        await admin.close()
    conn = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}")
    try:
        await conn.execute((ROOT / "deploy" / "postgres" / "schemas.sql").read_text())
    finally:
        await conn.close()
    env = TestEnv(database=database, topic_prefix=f"test-{suffix}.")
    await ensure_topics(bootstrap_servers=KAFKA, prefix=env.topic_prefix, partitions=3)
    return env


async def drop_env(env: TestEnv) -> None:
    await env.close()
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{env.database}" WITH (FORCE)')
    finally:
        await admin.close()
    from services.kit.contracts.topics import TOPICS
    from services.kit.kafka import delete_topics

    with contextlib.suppress(Exception):
        await delete_topics(bootstrap_servers=KAFKA, names=[s.physical(env.topic_prefix) for s in TOPICS])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Collector:
    def __init__(self, accept_delay: float = 0.0) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.accept_delay = accept_delay
        self.receiving = 0  # messages whose data arrived, accepted or not yet

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:  # noqa: N802  # aiosmtpd hook name
        self.receiving += 1
        if self.accept_delay:
            await asyncio.sleep(self.accept_delay)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on a free loopback port, keeping what it receives."""

    def __init__(self, *, smtputf8: bool = True, accept_delay: float = 0.0) -> None:
        self.collector = _Collector(accept_delay)
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=_free_port(), enable_SMTPUTF8=smtputf8)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return self.collector.messages

    async def wait_for(
        self, predicate: Callable[[email.message.EmailMessage], bool], *, timeout: float = 30.0
    ) -> email.message.EmailMessage:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for msg in self.collector.messages:
                if predicate(msg):
                    return msg
            if asyncio.get_running_loop().time() > deadline:
                subjects = [m["Subject"] for m in self.collector.messages]
                raise AssertionError(f"no matching email within {timeout}s; got {subjects}")
            await asyncio.sleep(0.05)


async def wait_until(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll an (async or sync) check until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
