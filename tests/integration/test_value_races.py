"""Two writers of one new value row at once, on the real database.

- A merge gives the survivor the absorbed traveller's account manager when it has none; it read
  "none" while a supervisor's assignment to the survivor was still uncommitted, and its whole-row
  upsert then replaced the supervisor's choice.
- A booking's events resolved to two travellers (re-resolved, merged) arrive on two partitions;
  the ledger row did not exist yet, so locking it locked nothing and the later commit (an older
  event) replaced the newer one's fact: a cancelled booking counted as active again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.kit.contracts.customers import CustomerMergedV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.value import AccountManagerV1
from services.kit.db import apply_migrations, create_pool
from services.value.adapters import repository as repo
from services.value.bootstrap import build_definition
from services.value.service_layer import handlers
from services.value.service_layer.evaluation import ValueConfig
from services.value.settings import ValueSettings
from tests.harness import TestEnv
from tests.integration.test_value_batches import NOW, booking
from tests.integration.waiting import until_blocked

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def setup(env: TestEnv) -> AsyncIterator[tuple[asyncpg.Pool, ValueConfig]]:
    """A pool on the value schema, migrated as the service migrates it, and the service's config."""
    settings = env.settings(ValueSettings)
    config = build_definition(settings).extras["config"]
    assert isinstance(config, ValueConfig)
    p = await create_pool(settings)
    await apply_migrations(
        p, schema=settings.db_schema, packages=["services.kit.migrations", "services.value.migrations"]
    )
    try:
        yield p, config
    finally:
        await p.close()


def merged(absorbed: str, survivor: str) -> Envelope[CustomerMergedV1]:
    payload = CustomerMergedV1(survivor_id=survivor, absorbed_id=absorbed, merge_id=f"mrg_{uuid.uuid4().hex}",
                               reason="review", actor="dev-supervisor")  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=survivor)


async def test_a_merge_does_not_replace_a_manager_a_supervisor_is_assigning_to_the_survivor(
    setup: tuple[asyncpg.Pool, ValueConfig],
) -> None:
    pool, config = setup
    p = f"race-{uuid.uuid4().hex[:8]}-"
    survivor, absorbed = f"{p}survivor", f"{p}absorbed"
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        first_trip = booking("created", customer=survivor, booking=f"{p}1", company=None, days_ago=3, at=1)
        await handlers.handle_resolved_bookings(conn, [first_trip], config=config, now=NOW)
        old = AccountManagerV1(kind="agent", id="old-agent", assigned_by="sup", assigned_at=now)
        await repo.set_manager(conn, "customer", absorbed, old)
    chosen = AccountManagerV1(kind="team", id=f"{p}team", assigned_by="dev-supervisor", assigned_at=now)
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            await handlers.assign_manager(first, "customer", survivor, chosen, config=config, now=now)

            async def merge() -> None:
                async with second.transaction():
                    await handlers.handle_customer_event(second, merged(absorbed, survivor), config=config, now=now)

            worker = asyncio.create_task(merge())
            await until_blocked(pool, second, worker)  # the merge is at its write while the assignment is open
        await asyncio.wait_for(worker, timeout=30)
        kept = await repo.manager(first, "customer", survivor)
    assert kept is not None
    assert (kept.kind, kept.id) == ("team", f"{p}team"), "the supervisor's assignment was replaced by the merge"


async def test_an_older_event_of_a_new_booking_does_not_undo_a_newer_one_handled_at_once(
    setup: tuple[asyncpg.Pool, ValueConfig],
) -> None:
    pool, config = setup
    p = f"race-{uuid.uuid4().hex[:8]}-"
    created = booking("created", customer=f"{p}a", booking=f"{p}1", company=None, days_ago=3, at=1)
    cancelled = booking("cancelled", customer=f"{p}b", booking=f"{p}1", company=None, days_ago=0, at=2)
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            await handlers.handle_resolved_bookings(first, [cancelled], config=config, now=NOW)

            async def book() -> None:
                async with second.transaction():
                    await handlers.handle_resolved_bookings(second, [created], config=config, now=NOW)

            worker = asyncio.create_task(book())
            await until_blocked(pool, second, worker)
        await asyncio.wait_for(worker, timeout=30)
        row = await first.fetchrow("SELECT customer_id, status, amounts FROM bookings WHERE booking_id = $1", f"{p}1")
    assert row is not None
    assert row["status"] == "cancelled", "the cancellation was undone by the older creation"
    assert row["customer_id"] == f"{p}b"
    assert row["amounts"] == {"EUR": "900"}, "the creation's price was lost"
