"""The one place that wires the preferences service's handlers to real adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from services.kit.consumer import ConsumerSpec
from services.kit.db import connection
from services.kit.runtime import BackgroundJob, ServiceDefinition, ServiceRuntime
from services.preferences.adapters import repository as repo
from services.preferences.service_layer.handlers import (
    handle_customer_event,
    handle_customer_tombstone,
    handle_resolved_booking,
    handle_resolved_bookings,
    refresh_customers,
)
from services.preferences.settings import PreferencesSettings

log = logging.getLogger(__name__)

POLICY_CHUNK = 500


async def _refresh_chunk(pool: asyncpg.Pool) -> int:
    async with connection(pool, transaction=True) as conn:
        behind = await repo.customers_behind_policy(conn, limit=POLICY_CHUNK)
        if behind:
            changed = await refresh_customers(conn, behind)
            log.info("re-resolved %d travellers against a changed policy, %d snapshots changed", len(behind), changed)
    return len(behind)


def policy_job(interval: float) -> BackgroundJob:
    """Re-resolve travellers whose company policy changed, a chunk per transaction.

    Woken by the NOTIFY a policy write sends, and by a timer (so a missed notification,
    or a policy written by another process, is picked up anyway).
    """

    async def follow_policies(runtime: ServiceRuntime) -> None:
        wake = asyncio.Event()
        listener = await runtime.pool.acquire()

        def on_notify(*_: Any) -> None:
            wake.set()

        await listener.add_listener("preferences_policy", on_notify)
        try:
            while True:
                try:
                    while await _refresh_chunk(runtime.pool) == POLICY_CHUNK:
                        pass
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("policy refresh failed, retrying: %s", exc)
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=interval)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener("preferences_policy", on_notify)
            await runtime.pool.release(listener)

    return follow_policies


def build_definition(settings: PreferencesSettings | None = None) -> ServiceDefinition:
    s = settings or PreferencesSettings()
    return ServiceDefinition(
        settings=s,
        migrations="services.preferences.migrations",
        consumers=[
            # Coalesced: a fetched batch is handled in one call (one load/write per customer);
            # the per-record handler is the kit's fallback that isolates a bad record.
            ConsumerSpec(
                name="bookings",
                topics=("profile.bookings.v1",),
                handler=handle_resolved_booking,
                batch_handler=handle_resolved_bookings,
                event_types=frozenset({"booking.resolved"}),
                # The service's high-volume consumer: whole fetched batches from aiokafka, without
                # faust's per-record fetch path (about 0.1 ms of CPU per booking).
                batch_fetch=True,
            ),
            ConsumerSpec(
                name="customers",
                topics=("profile.customers.v1",),
                handler=handle_customer_event,
                tombstone_handler=handle_customer_tombstone,
            ),
        ],
        background=[policy_job(s.policy_refresh_interval)],
    )
