"""The one place that wires the preferences service's handlers to real adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from services.kit import sealing
from services.kit.consumer import ConsumerSpec
from services.kit.db import connection
from services.kit.erasure import erasure_consumer, skip_erased, skip_erased_batch
from services.kit.runtime import BackgroundJob, ServiceDefinition, ServiceRuntime
from services.preferences.adapters import repository as repo
from services.preferences.adapters.erasure import erase_customers
from services.preferences.service_layer.handlers import (
    handle_customer_event,
    handle_customer_events,
    handle_customer_tombstone,
    handle_resolved_booking,
    handle_resolved_bookings,
    refresh_customers,
)
from services.preferences.service_layer.stays import handle_stays
from services.preferences.settings import PreferencesSettings

log = logging.getLogger(__name__)

POLICY_CHUNK = 500
# After a company's policy changes, its travellers are checked on every wake-up for this long: a
# booking batch that read the old version may commit a moment after the first check. Every company
# is checked once when the job starts and again every FULL_CHECK_SECONDS, should anything have
# been missed.
SETTLE_SECONDS = 30.0
FULL_CHECK_SECONDS = 900.0


class PolicyFollower:
    """Which companies' travellers to check against their policy: only those whose policy changed
    lately. Checking every customer against every policy on each wake-up would read the whole
    customer table every second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, tuple[int, float]] = {}  # company -> (version, checked until)
        self._full_check_at = clock() + FULL_CHECK_SECONDS

    def to_check(self, versions: Mapping[str, int]) -> list[tuple[str, int]]:
        """The companies (and their current policy version) whose travellers may be behind."""
        now = self._clock()
        if now >= self._full_check_at:
            self._seen.clear()
            self._full_check_at = now + FULL_CHECK_SECONDS
        first_pass = not self._seen  # at start (or a full check): every company once
        out = []
        for company, version in sorted(versions.items()):
            seen = self._seen.get(company)
            if seen is None and first_pass:
                self._seen[company] = (version, now)
            elif seen is None or seen[0] != version:  # a new or changed policy: checked for a while
                self._seen[company] = (version, now + SETTLE_SECONDS)
            elif now >= seen[1]:
                continue
            out.append((company, version))
        return out


async def _refresh_company(pool: asyncpg.Pool, company_id: str, version: int) -> int:
    async with connection(pool, transaction=True) as conn:
        behind = await repo.company_customers_behind(conn, company_id, version, limit=POLICY_CHUNK)
        if behind:
            changed = await refresh_customers(conn, behind)
            log.info(
                "re-resolved %d travellers of %s against policy version %d, %d snapshots changed",
                len(behind), company_id, version, changed,
            )  # fmt: skip
    return len(behind)


async def refresh_behind_policies(pool: asyncpg.Pool, follower: PolicyFollower) -> None:
    """Re-resolve the travellers of the companies `follower` names, a chunk per transaction."""
    async with connection(pool) as conn:
        versions = await repo.policy_versions(conn)
    for company_id, version in follower.to_check(versions):
        while await _refresh_company(pool, company_id, version) == POLICY_CHUNK:
            pass


def policy_job(interval: float) -> BackgroundJob:
    """Re-resolve travellers whose company policy changed, a chunk per transaction.

    Woken by the NOTIFY a policy write sends, and by a timer (so a missed notification,
    or a policy written by another process, is picked up anyway). A wake-up reads the policies'
    versions, then checks only the travellers of companies whose policy changed lately.
    """

    follower = PolicyFollower()  # kept across restarts of the job: what it has seen stays seen

    async def follow_policies(runtime: ServiceRuntime) -> None:
        # A fault ends this run; the runtime's supervisor starts it again with backoff, with a fresh
        # listening connection (after a database restart the old one hears nothing).
        worker = runtime.health.worker("follow_policies")
        wake = asyncio.Event()
        listener = await runtime.pool.acquire()

        def on_notify(*_: Any) -> None:
            wake.set()

        try:
            await listener.add_listener("preferences_policy", on_notify)
            while True:
                worker.busy()
                await refresh_behind_policies(runtime.pool, follower)
                worker.progressed()
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=interval)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener("preferences_policy", on_notify)
            with contextlib.suppress(Exception):
                await runtime.pool.release(listener)

    return follow_policies


def build_definition(settings: PreferencesSettings | None = None) -> ServiceDefinition:
    s = settings or PreferencesSettings()
    sealing.configure(s.link_keys)  # survey and answer links travel sealed on topics
    digest_key = s.erasure_key.get_secret_value().encode()
    return ServiceDefinition(
        settings=s,
        migrations="services.preferences.migrations",
        consumers=[
            # Coalesced: a fetched batch is handled in one call (one load/write per customer);
            # the per-record handler is the kit's fallback that isolates a bad record.
            ConsumerSpec(
                name="bookings",
                topics=("profile.bookings.v1",),
                # A booking of an erased traveller still in flight is dropped (it would bring them back).
                handler=skip_erased(handle_resolved_booking, key=digest_key),
                batch_handler=skip_erased_batch(handle_resolved_bookings, key=digest_key),
                event_types=frozenset({"booking.resolved"}),
                # The service's high-volume consumer: whole fetched batches from aiokafka, without
                # faust's per-record fetch path (about 0.1 ms of CPU per booking).
                batch_fetch=True,
            ),
            # Hotel stays for next best actions: its own group, so it can be added and replayed apart.
            ConsumerSpec(
                name="stays",
                topics=("profile.bookings.v1",),
                handler=handle_stays,
                event_types=frozenset({"booking.resolved"}),
            ),
            ConsumerSpec(
                name="customers",
                topics=("profile.customers.v1",),
                handler=skip_erased(handle_customer_event, key=digest_key),
                batch_handler=skip_erased_batch(handle_customer_events, key=digest_key),
                tombstone_handler=handle_customer_tombstone,
            ),
            erasure_consumer(
                service="preferences",
                erase_rows=erase_customers,
                compacted_topics=("preferences.snapshots.v1",),
                digest_key=digest_key,
            ),
        ],
        background=[policy_job(s.policy_refresh_interval)],
    )
