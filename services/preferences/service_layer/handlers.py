"""Preferences event handlers: resolved bookings, golden-record snapshots, merges, tombstones and policy refreshes.

Every handler runs inside the caller's transaction (a consumer batch or an API request)
and writes its events to the outbox in that same transaction. Bookings are handled a
batch at a time and coalesced per customer: one load, one write and at most one
snapshot per customer per batch, however many of its bookings the batch holds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.outbox import enqueue_tombstone
from services.kit.redirects import MAX_REDIRECTS, follow_one, follow_redirects
from services.preferences.adapters import repository as repo
from services.preferences.adapters.repository import CustomerRow
from services.preferences.domain.model import CustomerPreferences
from services.preferences.service_layer.publishing import SNAPSHOTS_TOPIC, Outgoing, refresh, write

log = logging.getLogger(__name__)

# A batch of a thousand bookings is a few hundred milliseconds of CPU between two awaits. The
# previous batch's events are published meanwhile by a background task of the same event loop,
# which only moves on when the loop gets a turn: handing the loop over every this many bookings
# (a few milliseconds) lets it, instead of holding those events back for the whole batch.
YIELD_EVERY = 32


class UnknownCustomerError(LookupError):
    """No preferences are known for this customer id."""


def _blank(row: CustomerRow) -> bool:
    """A customer row holding nothing yet (as `repo.load_or_create_for_update` creates it)."""
    return row.version == 0 and row.prefs.to_json() == CustomerPreferences(customer_id=row.prefs.customer_id).to_json()


async def load_following_merges(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> dict[str, CustomerRow]:
    """Rows for the given ids and for the customers merged ones now live in (keyed by the given id)."""
    rows = await repo.load_or_create_for_update(conn, customer_ids)

    async def read(ids: list[str]) -> dict[str, str | None]:
        if missing := [i for i in ids if i not in rows]:
            rows.update(await repo.load_for_update(conn, missing))
        return {i: (row.merged_into or None) if row.status == "merged" else None for i in ids if (row := rows.get(i))}

    followed = await follow_redirects(customer_ids, read, max_hops=MAX_REDIRECTS + 1)
    ends: dict[str, str] = {}
    for cid in customer_ids:
        f = followed[cid]
        # A chain still redirecting after its hops ends at the last row read.
        ends[cid] = f.chain[-2] if f.end == "too-long" and len(f.chain) > 1 else f.current
    if unknown := [at for at in ends.values() if at not in rows]:  # a survivor this service never saw
        rows.update(await repo.load_or_create_for_update(conn, unknown))
    return {cid: rows[at] for cid, at in ends.items()}


async def handle_resolved_bookings(
    conn: asyncpg.Connection, events: Sequence[Envelope[Any]], *, now: datetime | None = None
) -> None:
    """Record what a batch of resolved bookings reveals and publish one snapshot per changed customer."""
    now = now or datetime.now(UTC)
    bookings = [e for e in events if isinstance(e.payload, ResolvedBookingV1)]
    if not bookings:
        return
    rows = await load_following_merges(conn, [e.payload.customer_id for e in bookings])
    touched: dict[str, tuple[CustomerRow, Envelope[Any]]] = {}
    for n, event in enumerate(bookings, 1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # see YIELD_EVERY
        p: ResolvedBookingV1 = event.payload
        row = rows[p.customer_id]
        if p.company_id:
            row.prefs.company_id = p.company_id
        row.prefs.record_booking(
            booking=f"{p.source_system}:{p.booking_id}", kind=p.kind, segments=p.segments, at=p.occurred_at
        )
        touched[row.prefs.customer_id] = (row, event)
    policies = await repo.load_policies(conn, (row.prefs.company_id for row, _ in touched.values()))
    outgoing = Outgoing()
    for n, (row, last_event) in enumerate(touched.values(), 1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        outgoing.extend(refresh(row, policies.get(row.prefs.company_id or ""), now=now, caused_by=last_event))
    await write(conn, [row for row, _ in touched.values()], outgoing, now=now)


async def handle_resolved_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """One resolved booking (the per-record path of the kit consumer)."""
    await handle_resolved_bookings(conn, [event])


async def handle_customer_event(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """Follow the profile's golden records: company changes, and merges (redirects)."""
    p = event.payload
    now = datetime.now(UTC)
    if isinstance(p, CustomerSnapshotV1):
        rows = await repo.load_for_update(conn, [p.customer_id])
        row = rows.get(p.customer_id)
        if row is None:
            return  # nothing known yet; the first booking brings the company along
        if row.status == "merged":
            row.status, row.merged_into = "active", None  # an unmerge restored this customer
        if p.company_id == row.prefs.company_id and row.status == "active" and row.published is not None:
            return
        row.prefs.company_id = p.company_id or row.prefs.company_id
        policies = await repo.load_policies(conn, [row.prefs.company_id])
        out = refresh(row, policies.get(row.prefs.company_id or ""), now=now, caused_by=event)
        await write(conn, [row], out, now=now)
    elif isinstance(p, CustomerRedirectV1):
        await merge_customers(conn, absorbed_id=p.customer_id, survivor_id=p.merged_into, caused_by=event, now=now)


async def handle_customer_events(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    """A run of golden-record events: every customer they touch is locked first, in key order, then each
    event is handled in stream order. Locking one by one in stream order, while a bookings batch of
    another process locks its sorted set, is how two workers deadlocked."""
    ids: set[str] = set()
    for event in events:
        p = event.payload
        if isinstance(p, CustomerSnapshotV1):
            ids.add(p.customer_id)
        elif isinstance(p, CustomerRedirectV1):
            ids.update((p.customer_id, p.merged_into))
    await repo.load_for_update(conn, ids)
    for event in events:
        await handle_customer_event(conn, event)


async def merge_customers(
    conn: asyncpg.Connection, *, absorbed_id: str, survivor_id: str, caused_by: Envelope[Any] | None, now: datetime
) -> None:
    """The absorbed customer's preferences join the survivor's; its snapshot is tombstoned."""
    rows = await repo.load_for_update(conn, [absorbed_id, survivor_id])
    if absorbed_id not in rows:  # created now: a first booking of the absorbed id in flight is waited for
        rows.update(await repo.load_or_create_for_update(conn, [absorbed_id]))
    absorbed = rows[absorbed_id]
    if absorbed.status == "merged" or _blank(absorbed):
        absorbed.status, absorbed.merged_into = "merged", survivor_id
        await repo.save_many(conn, [absorbed])
        return
    if survivor_id not in rows:  # created now, so a first booking of the survivor's in flight waits for it
        rows.update(await repo.load_or_create_for_update(conn, [survivor_id]))
    survivor = rows[survivor_id]
    survivor.prefs.absorb(absorbed.prefs)
    absorbed.status, absorbed.merged_into = "merged", survivor_id
    policies = await repo.load_policies(conn, [survivor.prefs.company_id])
    out = refresh(survivor, policies.get(survivor.prefs.company_id or ""), now=now, caused_by=caused_by)
    await write(conn, [survivor, absorbed], out, now=now)
    if absorbed.version > 0:
        await enqueue_tombstone(conn, topic=SNAPSHOTS_TOPIC, key=absorbed_id)


async def handle_customer_tombstone(conn: asyncpg.Connection, topic: str, key: str) -> None:
    """An erased customer: forget everything about them and tombstone their snapshot."""
    if topic != "profile.customers.v1":
        return
    deleted = await conn.fetchval("DELETE FROM customers WHERE customer_id = $1 RETURNING version", key)
    await conn.execute("DELETE FROM confirmation_requests WHERE customer_id = $1", key)
    if deleted:
        await enqueue_tombstone(conn, topic=SNAPSHOTS_TOPIC, key=key)


async def resolve_id(conn: asyncpg.Connection, customer_id: str) -> str:
    """The id a customer's preferences live under now (following merges)."""
    current = (await follow_one(customer_id, functools.partial(repo.merged_into, conn))).found
    if current is None:
        raise UnknownCustomerError(customer_id)
    return current


async def refresh_customers(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> int:
    """Re-resolve customers against their company's current policy; returns how many snapshots changed."""
    now = datetime.now(UTC)
    rows = await repo.load_for_update(conn, customer_ids)
    policies = await repo.load_policies(conn, (r.prefs.company_id for r in rows.values()))
    outgoing = Outgoing()
    for row in rows.values():
        outgoing.extend(refresh(row, policies.get(row.prefs.company_id or ""), now=now, caused_by=None))
    await write(conn, list(rows.values()), outgoing, now=now)
    return sum(1 for topic, _ in outgoing.events if topic == SNAPSHOTS_TOPIC)
