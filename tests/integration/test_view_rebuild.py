"""The shared customer view: live reader vs a rebuild from the compacted topics; merges and erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest

from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1
from services.kit.contracts.envelope import Envelope
from services.kit.db import apply_migrations, create_pool
from services.kit.runtime import ServiceDefinition
from services.kit.settings import ServiceSettings
from services.kit.view import customer_view_consumer, freshness, lookup, lookup_kinds, rebuild, view_rows
from services.preferences.bootstrap import build_definition
from services.preferences.settings import PreferencesSettings
from tests.harness import TestEnv, wait_until
from tests.integration.test_preferences_service import flight, new_customer, resolved

pytestmark = pytest.mark.integration


def customer_snapshot(customer_id: str, version: int, name: str) -> Envelope[CustomerSnapshotV1]:
    snap = CustomerSnapshotV1(customer_id=customer_id, version=version, display_name=name, updated_at=datetime.now(UTC))
    return Envelope.new(snap, producer="profile", subject_id=customer_id)


def redirect(absorbed: str, survivor: str) -> Envelope[CustomerRedirectV1]:
    payload = CustomerRedirectV1(customer_id=absorbed, merged_into=survivor, merged_at=datetime.now(UTC))
    return Envelope.new(payload, producer="profile", subject_id=absorbed)


async def reader_schema(env: TestEnv, name: str) -> ServiceSettings:
    """A schema of its own for a view reader (owned by a service role) in this session's database."""
    admin = await env.admin_connect()
    try:
        await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}" AUTHORIZATION itinera_preferences')
    finally:
        await admin.close()
    return env.settings(ServiceSettings, service_name=name, pg_user="itinera_preferences")


async def test_rebuilt_view_equals_live_view_through_merges_and_erasure(env: TestEnv) -> None:
    survivor, absorbed, erased = new_customer(), new_customer(), new_customer()
    live_settings = await reader_schema(env, f"viewlive_{uuid.uuid4().hex[:6]}")
    # A reader has no migrations of its own ("services.kit" holds no .sql): the view table is the kit's.
    reader = ServiceDefinition(settings=live_settings, migrations="services.kit", consumers=[customer_view_consumer()])
    async with (
        env.running(build_definition(env.settings(PreferencesSettings))),
        env.running(reader) as live,
    ):
        for cid, name in ((survivor, "Ann Lee"), (absorbed, "Ann Lee (dup)"), (erased, "Bob Roe")):
            await env.publish("profile.customers.v1", customer_snapshot(cid, 1, name))
        for day in range(3):
            await env.publish("profile.bookings.v1", resolved(survivor, flight(seat="3C", days=day)))
            await env.publish("profile.bookings.v1", resolved(absorbed, flight(seat="3D", days=10 + day)))
            await env.publish("profile.bookings.v1", resolved(erased, flight(seat="3A", days=day)))

        async def prefs_evidence(conn: asyncpg.Connection, cid: str) -> int:
            entry = await lookup(conn, "preferences", cid)
            if entry is None:
                return 0
            seat = [p for p in entry.snapshot["preferences"] if p["key"] == "air.seat.short_haul"]
            return int(seat[0]["evidence_count"]) if seat else 0

        async with live.pool.acquire() as proxy:
            conn = cast(asyncpg.Connection, proxy)
            await wait_until(lambda: _all_at_least(conn, prefs_evidence, [survivor, absorbed, erased], 3))

            # Profile merges the duplicate and erases the other customer.
            await env.publish("profile.customers.v1", redirect(absorbed, survivor))
            await env.publish("profile.customers.v1", customer_snapshot(survivor, 2, "Ann Lee"))
            producer = await env.producer()
            await producer.send_and_wait(env.topic_prefix + "profile.customers.v1", value=None, key=erased.encode())

            async def merged_and_erased() -> bool:
                if await prefs_evidence(conn, survivor) < 6:
                    return False
                gone = (
                    await lookup(conn, "customer", erased) is None and await lookup(conn, "preferences", erased) is None
                )
                stale = await conn.fetchval(
                    "SELECT count(*) FROM customer_view WHERE kind = 'preferences' AND customer_id = $1", absorbed
                )
                return gone and stale == 0

            await wait_until(merged_and_erased)
            via_absorbed = await lookup(conn, "preferences", absorbed)
            assert via_absorbed is not None
            assert via_absorbed.customer_id == survivor
            customer = await lookup(conn, "customer", absorbed)
            assert customer is not None
            assert customer.customer_id == survivor
            assert customer.version == 2
            both = await lookup_kinds(conn, absorbed, ("customer", "preferences"))
            assert both["customer"] == customer
            assert both["preferences"] == via_absorbed
            fresh = await freshness(conn)
            assert fresh["preferences"]["entries"] >= 1
            assert fresh["preferences"]["lag_seconds"] is not None

        # A second reader rebuilt from the start of the compacted topics.
        rebuilt_settings = await reader_schema(env, f"viewrebuilt_{uuid.uuid4().hex[:6]}")
        pool = await create_pool(rebuilt_settings)
        try:
            await apply_migrations(pool, schema=rebuilt_settings.db_schema, packages=["services.kit.migrations"])
            applied = await rebuild(  # the snapshots are sealed: opened with the keyring, as the live reader does
                pool, bootstrap_servers=env_kafka(env), topic_prefix=env.topic_prefix, sealer=live.producer.sealer
            )
            assert applied > 0
            async with pool.acquire() as proxy:
                rebuilt = await view_rows(cast(asyncpg.Connection, proxy))
        finally:
            await pool.close()

        async def live_matches() -> bool:
            async with live.pool.acquire() as proxy:
                return await view_rows(cast(asyncpg.Connection, proxy)) == rebuilt

        await wait_until(live_matches)
    mine = [r for r in rebuilt if r[1] in {survivor, absorbed, erased}]
    assert {(r[0], r[1]) for r in mine} == {("customer", survivor), ("customer", absorbed), ("preferences", survivor)}


def env_kafka(env: TestEnv) -> str:
    return env.settings(ServiceSettings).kafka_bootstrap_servers


async def _all_at_least(conn: asyncpg.Connection, measure: Any, ids: list[str], n: int) -> bool:
    for cid in ids:
        if await measure(conn, cid) < n:
            return False
    return True
