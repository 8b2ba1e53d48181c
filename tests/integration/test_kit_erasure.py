"""The kit's part of an erasure on a real schema: view rows, unsent outbox rows, audit details, late events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest

from services.kit.contracts.envelope import Envelope
from services.kit.db import apply_migrations, create_pool
from services.kit.erasure import erase_kit_rows, exclude_consumers, finish_erasure, skip_erased_batch
from services.value.settings import ValueSettings
from tests.harness import TestEnv, wait_until
from tests.integration.test_preferences_service import flight, new_customer, resolved

pytestmark = pytest.mark.integration

KEY = b"test-erasure-key"


@pytest.fixture(scope="module")
async def pool(env: TestEnv) -> AsyncIterator[asyncpg.Pool]:
    settings = env.settings(ValueSettings)
    p = await create_pool(settings)
    await apply_migrations(
        p, schema=settings.db_schema, packages=["services.kit.migrations", "services.value.migrations"]
    )
    try:
        yield p
    finally:
        await p.close()


@asynccontextmanager
async def rolled_back(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction that is rolled back at the end."""
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            yield cast(asyncpg.Connection, conn)
        finally:
            await transaction.rollback()


async def _outbox(conn: asyncpg.Connection, topic: str, key: str, value: bytes | None) -> None:
    await conn.execute("INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3)", topic, key.encode(), value)


async def test_unsent_rows_go_but_not_those_a_tombstone_must_follow_and_audit_details_are_blanked(
    pool: asyncpg.Pool,
) -> None:
    erased, other = new_customer(), new_customer()
    async with rolled_back(pool) as conn:  # the relay never sees these rows, and nothing is left behind
        await _outbox(conn, "value.changes.v1", erased, b'{"name": "Zelda Quorn"}')
        await _outbox(conn, "value.customers.v1", erased, b'{"snapshot": 1}')
        await _outbox(conn, "value.customers.v1", erased, None)
        await _outbox(conn, "value.changes.v1", other, b"{}")
        await conn.execute(
            "INSERT INTO customer_view (kind, customer_id, version, snapshot, occurred_at) VALUES"
            " ('customer', $1, 1, '{}', now()), ('customer', $2, 1, '{}', now())",
            erased, other,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO audit_log (principal, role, action, subject_id, detail) VALUES"
            " ('a', 'agent', 'customer.read', $1, '{\"fields\": 2}'),"
            " ('a', 'agent', 'customers.search', NULL, '{\"q\": \"zelda quorn\"}'),"
            " ('a', 'agent', 'customer.read', $2, '{\"fields\": 3}')",
            erased, other,
        )  # fmt: skip
        rows = await erase_kit_rows(conn, [erased], ["Zelda Quorn"])
        assert rows == {"customer_view": 1, "outbox": 1, "audit_log": 2}
        left = await conn.fetch("SELECT topic, key, value FROM outbox WHERE key = ANY($1::bytea[])",
                                [erased.encode(), other.encode()])  # fmt: skip
        assert {(r["topic"], r["key"].decode(), r["value"]) for r in left} == {
            ("value.customers.v1", erased, b'{"snapshot": 1}'), ("value.customers.v1", erased, None),
            ("value.changes.v1", other, b"{}"),
        }  # fmt: skip
        audit = {(r["subject_id"], str(r["detail"])) for r in await conn.fetch(
            "SELECT subject_id, detail FROM audit_log WHERE principal = 'a'"
        )}  # fmt: skip
        redacted = "{'redacted': 'erasure'}"
        assert audit == {(erased, redacted), (None, redacted), (other, "{'fields': 3}")}


async def test_events_about_erased_ids_are_dropped_from_a_batch(pool: asyncpg.Pool) -> None:
    erased, other = new_customer(), new_customer()
    handled: list[str] = []

    async def handler(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        handled.extend(e.subject_id for e in events)

    guarded = skip_erased_batch(handler, key=KEY)
    async with rolled_back(pool) as conn:
        await finish_erasure(
            conn, service="value", erasure_id=f"era_{uuid.uuid4().hex}", subjects=[erased], key=KEY, rows={},
            now=datetime.now(UTC), report=False,
        )  # fmt: skip
        await guarded(conn, [resolved(erased, flight()), resolved(other, flight()), resolved(erased, flight())])
        assert handled == [other]
        await guarded(conn, [resolved(erased, flight())])
        assert handled == [other]  # an all-erased batch calls nothing


async def _waiting_for_a_lock(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        waiting = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"
        return bool(await conn.fetchval(waiting))


async def _erase(pool: asyncpg.Pool, customer_id: str) -> None:
    """What a service's erasure does with the kit's tables, in its own transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await exclude_consumers(conn)
        await erase_kit_rows(conn, [customer_id], [])
        await finish_erasure(
            conn, service="value", erasure_id=f"era_{uuid.uuid4().hex}", subjects=[customer_id], key=KEY, rows={},
            now=datetime.now(UTC), report=False,
        )  # fmt: skip


async def _remember_in_view(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    for e in events:
        await conn.execute(
            "INSERT INTO customer_view (kind, customer_id, version, snapshot, occurred_at)"
            " VALUES ('customer', $1, 1, '{}', now())",
            e.subject_id,
        )


async def test_a_batch_in_flight_when_the_erasure_starts_commits_first_and_is_erased_with_the_rest(
    pool: asyncpg.Pool,
) -> None:
    customer_id = new_customer()
    guarded = skip_erased_batch(_remember_in_view, key=KEY)
    async with pool.acquire() as batch:
        transaction = batch.transaction()
        await transaction.start()
        await guarded(batch, [resolved(customer_id, flight())])  # written, not yet committed
        erasure = asyncio.create_task(_erase(pool, customer_id))
        await wait_until(lambda: _waiting_for_a_lock(pool), timeout=30)  # the erasure waits for the batch
        await transaction.commit()
    await erasure
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM customer_view WHERE customer_id = $1", customer_id) == 0


async def test_a_batch_arriving_while_an_erasure_runs_waits_and_then_drops_the_erased_id(pool: asyncpg.Pool) -> None:
    customer_id = new_customer()
    handled: list[str] = []

    async def handler(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        handled.extend(e.subject_id for e in events)

    async def batch() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await skip_erased_batch(handler, key=KEY)(conn, [resolved(customer_id, flight())])

    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await exclude_consumers(conn)
        await finish_erasure(
            conn, service="value", erasure_id=f"era_{uuid.uuid4().hex}", subjects=[customer_id], key=KEY, rows={},
            now=datetime.now(UTC), report=False,
        )  # fmt: skip
        running = asyncio.create_task(batch())
        await wait_until(lambda: _waiting_for_a_lock(pool), timeout=30)  # the batch waits for the erasure
        await transaction.commit()
    await running
    assert handled == []
