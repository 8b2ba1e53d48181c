"""Crypto-shredding on the real broker and database: sealed on the topic, opened by consumers,
unreadable for everyone once the traveller's key is shredded — dead letters included."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from services.kit.consumer import BatchProcessor, IncomingRecord
from services.kit.contracts.customers import CustomerSnapshotV1
from services.kit.contracts.envelope import Envelope, decode_envelope, encode_envelope
from services.kit.db import connection
from services.kit.dlq import redrive
from services.kit.kafka import EventProducer, OutgoingRecord, trim_consumed
from services.kit.keyring import (
    DEV_KEYRING_KEY,
    Keyring,
    KeyUnavailable,
    MasterKeys,
    new_master_key,
    rewrap,
    shred,
    shredded,
)
from services.kit.outbox import enqueue
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.sealed import SEALED_HEADER, RecordSealer, open_value, seal_value
from services.kit.settings import ServiceSettings
from services.kit.view import customer_view_consumer
from tests import builders
from tests.harness import KAFKA, Record, TestEnv, create_env, drop_env, wait_until

pytestmark = pytest.mark.integration

CUSTOMERS = "profile.customers.v1"


def _snapshot(customer_id: str, given: str, family: str) -> Envelope[CustomerSnapshotV1]:
    payload = CustomerSnapshotV1(
        customer_id=customer_id,
        version=1,
        given_name=given,
        family_name=family,
        display_name=f"{given} {family}",
        email=f"{given.lower()}@{family.lower()}.example",
        updated_at=datetime.now(UTC),
    )
    return Envelope.new(payload, producer="profile", subject_id=customer_id)


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[TestEnv]:
    """A database and topics of this module's own (the kit's test migrations go into `profile`)."""
    test_env = await create_env()
    try:
        yield test_env
    finally:
        await drop_env(test_env)


@pytest.fixture
async def runtime(env: TestEnv) -> AsyncIterator[ServiceRuntime]:
    """A service runtime whose relay publishes its outbox (a consumer below is driven by the test)."""
    settings = env.settings(ServiceSettings, service_name="profile")
    async with env.running(ServiceDefinition(settings=settings, migrations="tests.integration.kit_migrations")) as rt:
        yield rt


def _processor(env: TestEnv, runtime: ServiceRuntime, producer: EventProducer | None = None) -> BatchProcessor:
    """The customer-view consumer, as both consumer hosts run it, fed the records the test read."""
    return BatchProcessor(
        spec=customer_view_consumer(), pool=runtime.pool, producer=producer or runtime.producer, service="profile",
        topic_prefix=env.topic_prefix,
    )  # fmt: skip


def _incoming(env: TestEnv, topic: str, records: list[Record], key: bytes) -> list[IncomingRecord]:
    return [
        IncomingRecord(env.topic_prefix + topic, 0, n, k, v, list(h.items()))
        for n, (k, v, h) in enumerate(records)
        if k == key
    ]


async def _view_row(runtime: ServiceRuntime, customer_id: str) -> object:
    async with runtime.pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT snapshot FROM customer_view WHERE kind = 'customer' AND customer_id = $1", customer_id
        )


async def test_a_sealed_event_is_read_by_consumers_until_its_key_is_shredded(
    env: TestEnv, runtime: ServiceRuntime
) -> None:
    cid = f"cus-{uuid.uuid4().hex[:8]}"
    event = _snapshot(cid, "Wilhelmina", "Quastenberg")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await enqueue(conn, topic=CUSTOMERS, envelope=event)  # the relay publishes it
    key = cid.encode()
    raw = await env.read_topic(CUSTOMERS, raw=True, until=lambda rs: any(k == key for k, _, _ in rs))
    [(_, value, headers)] = [r for r in raw if r[0] == key]
    assert value is not None
    assert b"Wilhelmina" not in value
    assert b"Quastenberg" not in value
    assert headers[SEALED_HEADER].startswith(b"v1:")
    assert headers["event_id"] == str(event.event_id).encode()  # headers and the key stay readable

    result = await _processor(env, runtime).process(_incoming(env, CUSTOMERS, raw, key))
    assert (result.processed, result.erased, result.failures) == (1, 0, [])
    snapshot = await _view_row(runtime, cid)
    assert isinstance(snapshot, dict)
    assert snapshot["given_name"] == "Wilhelmina"
    keyring = runtime.keyring
    assert keyring is not None
    assert keyring.cached(cid)

    async with runtime.pool.acquire() as conn, conn.transaction():
        assert await shred(conn, [cid]) == 1
    async with runtime.pool.acquire() as conn:
        assert await shred(conn, [cid]) == 0  # idempotent
        assert await shredded(conn, [cid, "cus-unknown"]) == {cid}
        assert await conn.fetchval("SELECT wrapped_key FROM keyring.subject_keys WHERE subject = $1", cid) is None
    await wait_until(lambda: not keyring.cached(cid))  # every process heard of the shred (NOTIFY)

    # The same record, read again by a consumer that has never seen it: skipped as erased.
    async with runtime.pool.acquire() as conn:
        await conn.execute("DELETE FROM customer_view WHERE customer_id = $1", cid)
        await conn.execute("DELETE FROM processed_events WHERE event_id = $1", event.event_id)
    result = await _processor(env, runtime).process(_incoming(env, CUSTOMERS, raw, key))
    assert (result.processed, result.erased, result.failures) == (0, 1, [])
    assert await _view_row(runtime, cid) is None
    assert [v for k, v, _ in await env.open_records(CUSTOMERS, raw) if k == key] == [None]

    # Nothing new is readable either: a late event of the erased traveller goes out sealed under no key.
    late = _snapshot(cid, "Wilhelmina", "Quastenberg")
    await runtime.producer.send(
        OutgoingRecord(env.topic_prefix + CUSTOMERS, key, encode_envelope(late), late.headers())
    )
    raw = await env.read_topic(CUSTOMERS, raw=True, until=lambda rs: sum(k == key for k, _, _ in rs) >= 2)
    assert all(b"Wilhelmina" not in (v or b"") for k, v, _ in raw if k == key)
    assert [v for k, v, _ in await env.open_records(CUSTOMERS, raw) if k == key] == [None, None]


async def test_dead_letters_are_sealed_and_unreadable_after_the_shred(env: TestEnv, runtime: ServiceRuntime) -> None:
    cid = f"cus-{uuid.uuid4().hex[:8]}"
    key = cid.encode()
    poison = b'{"not": "an event", "comment": "Ottilie Brennecke-Vasquez was rude"}'
    await runtime.producer.send(OutgoingRecord(env.topic_prefix + CUSTOMERS, key, poison, []))  # sealed, undecodable
    raw = await env.read_topic(CUSTOMERS, raw=True, until=lambda rs: any(k == key for k, _, _ in rs))
    result = await _processor(env, runtime).process(_incoming(env, CUSTOMERS, raw, key))
    assert [f.reason for f in result.failures] == ["unparseable"]

    dlq = "profile.deadletters.v1"
    letters = await env.read_topic(dlq, raw=True, until=lambda rs: any(k == key for k, _, _ in rs))
    [(_, value, headers)] = [r for r in letters if r[0] == key]
    assert value is not None
    assert b"Brennecke" not in value
    assert SEALED_HEADER in headers
    assert headers["dlq.reason"] == b"unparseable"
    assert headers["dlq.error"].startswith(b"sealed:")  # an error message may quote the record
    [(_, _, opened_headers)] = [r for r in await env.open_records(dlq, letters) if r[0] == key]
    assert opened_headers["dlq.error"].startswith(b"invalid envelope")
    assert [v for k, v, _ in await env.open_records(dlq, letters) if k == key] == [poison]  # the re-drive tool can

    async with runtime.pool.acquire() as conn:
        assert await shred(conn, [cid]) == 1
    assert [v for k, v, _ in await env.open_records(dlq, letters) if k == key] == [None]
    report: dict[str, int] = {}
    await redrive(bootstrap_servers=KAFKA, topic_prefix=env.topic_prefix, service="profile",
                  sealer=runtime.producer.sealer, report=report)  # fmt: skip
    assert report["erased"] >= 1


async def test_a_key_that_does_not_open_is_a_fault_not_an_erasure(env: TestEnv, runtime: ServiceRuntime) -> None:
    cid = f"cus-{uuid.uuid4().hex[:8]}"
    key = cid.encode()
    event = _snapshot(cid, "Bartholomäa", "Quirrenbach")
    await runtime.producer.send(
        OutgoingRecord(env.topic_prefix + CUSTOMERS, key, encode_envelope(event), event.headers())
    )
    raw = await env.read_topic(CUSTOMERS, raw=True, until=lambda rs: any(k == key for k, _, _ in rs))
    # A process configured with another master key (its data key does not unwrap there).
    wrong = Keyring(runtime.pool, MasterKeys([SecretStr(new_master_key())]))
    producer = EventProducer(
        bootstrap_servers=KAFKA, client_id="shred-test", sealer=RecordSealer(wrong, topic_prefix=env.topic_prefix)
    )
    await producer.start()
    try:
        result = await _processor(env, runtime, producer).process(_incoming(env, CUSTOMERS, raw, key))
    finally:
        await producer.stop()
    assert result.erased == 0
    assert result.processed == 0
    [failure] = result.failures
    assert failure.reason == "unsealable"
    assert "unusable here" in failure.error
    # The dead letter keeps the record sealed as it was: a fixed configuration opens it on re-drive.
    letters = await env.read_topic("profile.deadletters.v1", raw=True, until=lambda rs: any(k == key for k, _, _ in rs))
    [(_, value, _)] = [r for r in letters if r[0] == key]
    assert value == failure.record.value
    assert b"Quirrenbach" not in (value or b"")
    [opened] = await runtime.producer.sealer.open_values(  # type: ignore[union-attr]  # the runtime's has one
        [(env.topic_prefix + CUSTOMERS, key, value, list(failure.record.headers))]
    )
    assert decode_envelope(opened[0] or b"").event_id == event.event_id


async def test_trim_consumed_deletes_what_the_group_has_consumed(env: TestEnv) -> None:
    topic = env.topic_prefix + "booking.events.v1"
    group = f"trim-{uuid.uuid4().hex[:8]}"
    events = [builders.booking_created() for _ in range(3)]
    for e in events:
        await env.publish("booking.events.v1", e, partition=1)
    tp = TopicPartition(topic, 1)
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        end = await consumer.position(tp)
        await consumer.commit({tp: end - 1})  # consumed all but the last one
    finally:
        await consumer.stop()
    trimmed = await trim_consumed(bootstrap_servers=KAFKA, topic=topic, groups=[group])
    assert trimmed == {1: end - 1}
    assert await trim_consumed(bootstrap_servers=KAFKA, topic=topic, groups=[group, "never-consumed"]) == {}
    reader = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None, auto_offset_reset="earliest")
    await reader.start()
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        assert await reader.position(tp) == end - 1
        batch = await reader.getmany(tp, timeout_ms=2000)
        assert [decode_envelope(m.value).event_id for m in batch.get(tp, [])] == [events[-1].event_id]
    finally:
        await reader.stop()


async def test_an_event_sealed_twice_is_a_duplicate_not_a_conflict(env: TestEnv, runtime: ServiceRuntime) -> None:
    """A relay that crashed between producing and deleting publishes a row again: sealed anew (another
    nonce, other bytes), it must still count as the redelivery it is."""
    cid = f"cus-{uuid.uuid4().hex[:8]}"
    key = cid.encode()
    event = _snapshot(cid, "Gunhild", "Ostermeyer")
    record = OutgoingRecord(env.topic_prefix + CUSTOMERS, key, encode_envelope(event), event.headers())
    await runtime.producer.send_many([record, record])
    raw = await env.read_topic(CUSTOMERS, raw=True, until=lambda rs: sum(k == key for k, _, _ in rs) >= 2)
    first, second = [v for k, v, _ in raw if k == key]
    assert first != second
    result = await _processor(env, runtime).process(_incoming(env, CUSTOMERS, raw, key))
    assert (result.processed, result.duplicates, result.failures) == (1, 1, [])


async def test_a_master_key_is_rotated_by_rewrapping(env: TestEnv, runtime: ServiceRuntime) -> None:
    cid = f"cus-{uuid.uuid4().hex[:8]}"
    dev = MasterKeys([DEV_KEYRING_KEY])
    new = SecretStr(new_master_key())
    before = await Keyring(runtime.pool, dev, cache_seconds=0).keys([cid], create=True)
    async with connection(runtime.pool) as conn:
        with pytest.raises(KeyUnavailable):  # not yet: the old master key must stay until the rewrap
            MasterKeys([new]).unwrap(
                cid,
                dev.current_id,
                await conn.fetchval("SELECT wrapped_key FROM keyring.subject_keys WHERE subject = $1", cid),
            )
        assert await rewrap(conn, MasterKeys([new, DEV_KEYRING_KEY])) >= 1
        after = await Keyring(runtime.pool, MasterKeys([new]), cache_seconds=0).keys([cid], create=False)
        assert after[cid].key_id == before[cid].key_id
        assert after[cid].aead is not None
        sealed = seal_value(after[cid].aead, topic=CUSTOMERS, key=cid.encode(), value=b"x")
        assert before[cid].aead is not None
        assert open_value(before[cid].aead, topic=CUSTOMERS, key=cid.encode(), value=sealed) == b"x"  # the same key
        assert await rewrap(conn, MasterKeys([DEV_KEYRING_KEY, new])) >= 1  # back, for the other tests of the module


async def test_processes_creating_a_subjects_key_at_once_get_the_same_key(
    env: TestEnv, runtime: ServiceRuntime
) -> None:
    subjects = [f"cus-{uuid.uuid4().hex[:8]}" for _ in range(50)]
    rings = [Keyring(runtime.pool, MasterKeys([DEV_KEYRING_KEY]), cache_seconds=0) for _ in range(3)]
    results = await asyncio.gather(*(ring.keys(subjects, create=True) for ring in rings))
    for subject in subjects:
        assert len({r[subject].key_id for r in results}) == 1
        first, last = results[0][subject].aead, results[2][subject].aead
        assert first is not None
        assert last is not None
        sealed = seal_value(first, topic=CUSTOMERS, key=subject.encode(), value=b"x")
        assert open_value(last, topic=CUSTOMERS, key=subject.encode(), value=sealed) == b"x"
