"""Value use cases: resolved bookings into the ledger, merges and erasure, due reviews, rates, account managers.

Handlers run inside the caller's transaction (a consumer's savepoint, an API request's
transaction, a job's batch) and take `now` from the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1, RailSegmentV1, Segment
from services.kit.contracts.customers import CustomerMergedV1, CustomerUnmergedV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.value import AccountManagerAssignedV1, AccountManagerV1
from services.kit.db import connection
from services.kit.outbox import enqueue, enqueue_tombstone
from services.kit.view import apply_view_tombstone, lookup
from services.value.adapters import batches
from services.value.adapters import repository as repo
from services.value.adapters.repository import Subject
from services.value.domain.assessment import describe_cause
from services.value.domain.bookings import BookingEvent, BookingFact, apply_event
from services.value.domain.money import Rate
from services.value.service_layer.evaluation import (
    CHANGES_TOPIC,
    CUSTOMERS_TOPIC,
    PRODUCER,
    LedgerStep,
    ValueConfig,
    evaluate_companies,
    evaluate_company,
    evaluate_customer,
    evaluate_customers,
)

log = logging.getLogger(__name__)


_STATE_KINDS = ("created", "changed", "cancelled")  # trip_started/trip_completed change nothing here


class UnknownSubjectError(LookupError):
    """Neither the customer view nor the ledger knows this customer or company."""


def _starts_at(segments: Sequence[Segment]) -> datetime | None:
    starts: list[datetime] = []
    for s in segments:
        if isinstance(s, FlightSegmentV1 | RailSegmentV1):
            starts.append(s.departure_at)
        elif isinstance(s, CarSegmentV1):
            starts.append(s.pickup_at)
        elif isinstance(s, HotelSegmentV1):
            starts.append(datetime.combine(s.check_in, datetime.min.time(), tzinfo=UTC))
    return min(starts, default=None)


def _amounts(p: ResolvedBookingV1) -> dict[str, Decimal]:
    """The booking's price by currency: its total, else the sum of its priced segments (a hotel: rate × nights)."""
    if p.total_price is not None and p.currency:
        return {p.currency: p.total_price}
    out: dict[str, Decimal] = {}
    for s in p.segments:
        price: Decimal | None
        if isinstance(s, HotelSegmentV1):
            nights = (s.check_out - s.check_in).days
            price = None if s.nightly_rate is None else s.nightly_rate * nights
        else:
            price = s.price
        currency = s.currency or p.currency
        if price is None or currency is None:
            continue
        out[currency] = out.get(currency, Decimal(0)) + price
    return out


async def _current_id(conn: asyncpg.Connection, customer_id: str) -> str:
    entry = await lookup(conn, "customer", customer_id)
    return customer_id if entry is None else entry.customer_id


def _booking_event(event: Envelope[Any], customer_id: str) -> BookingEvent:
    p: ResolvedBookingV1 = event.payload
    return BookingEvent(
        event_id=str(event.event_id), kind=p.kind, source_system=p.source_system, booking_id=p.booking_id,
        customer_id=customer_id, company_id=p.company_id, occurred_at=p.occurred_at,
        starts_at=_starts_at(p.segments), amounts=_amounts(p),
    )  # fmt: skip


async def handle_resolved_bookings(
    conn: asyncpg.Connection, events: Sequence[Envelope[Any]], *, config: ValueConfig, now: datetime
) -> None:
    """Fold a batch of bookings into the ledger; re-evaluate each traveller they touch once, now, and
    their companies a moment later (the review job coalesces a company's bookings).

    The same result as handling the events one by one in stream order: each booking's fact is folded
    event by event; only the travellers' evaluations are done once, after the last of their events
    (a tier change's reason names the traveller's last booking of the batch)."""
    bookings = [e for e in events if isinstance(e.payload, ResolvedBookingV1) and e.payload.kind in _STATE_KINDS]
    if not bookings:
        return
    views = await batches.view_customers(conn, {e.payload.customer_id for e in bookings})
    keys = {(e.payload.source_system, e.payload.booking_id) for e in bookings}
    stored: dict[tuple[str, str], BookingFact | None] = dict(await batches.bookings_for_update(conn, keys))
    changed: dict[tuple[str, str], tuple[BookingFact, str]] = {}  # key -> (fact, customer id profile resolved)
    customers: set[str] = set()
    causes: dict[str, str] = {}
    steps: list[LedgerStep] = []
    companies: set[str] = set()
    for event in bookings:
        p: ResolvedBookingV1 = event.payload
        key = (p.source_system, p.booking_id)
        customer_id = views[p.customer_id][0] if p.customer_id in views else p.customer_id
        before = stored.get(key)
        fact = apply_event(before, _booking_event(event, customer_id))
        if fact is None:
            continue
        stored[key] = fact
        changed[key] = (fact, p.customer_id)
        steps.append(LedgerStep(before, fact, describe_cause(fact)))
        customers.add(fact.customer_id)
        causes[fact.customer_id] = describe_cause(fact)
        companies.update(c for c in (fact.company_id, before.company_id if before else None) if c)
        if before is not None and before.customer_id != fact.customer_id:
            customers.add(before.customer_id)  # the booking left them
            causes.pop(before.customer_id, None)  # evaluated without a cause, as when handled alone
    await batches.save_bookings(conn, [changed[k] for k in sorted(changed)])
    await evaluate_customers(conn, customers, config=config, now=now, causes=causes, steps=steps)
    await batches.schedule_companies(
        conn, sorted(companies), now=now, delay_seconds=config.company_delay.total_seconds(),
        per_bookings=config.company_delay_bookings,
    )  # fmt: skip


async def handle_resolved_booking(
    conn: asyncpg.Connection, event: Envelope[Any], *, config: ValueConfig, now: datetime
) -> None:
    """One booking (the per-record path that isolates a bad record)."""
    await handle_resolved_bookings(conn, [event], config=config, now=now)


async def handle_customer_event(
    conn: asyncpg.Connection, event: Envelope[Any], *, config: ValueConfig, now: datetime
) -> None:
    """A merge moves the absorbed traveller's bookings to the survivor; an unmerge moves them back."""
    p = event.payload
    if isinstance(p, CustomerMergedV1):
        await repo.move_bookings(conn, from_id=p.absorbed_id, to_id=p.survivor_id)
        own = await repo.manager(conn, "customer", p.absorbed_id)
        if own is not None:  # the survivor's own manager stays, even one a supervisor is assigning right now
            await repo.inherit_manager(conn, "customer", p.survivor_id, own)
        if await repo.delete_customer(conn, p.absorbed_id):
            await enqueue_tombstone(conn, topic=CUSTOMERS_TOPIC, key=p.absorbed_id)
        await evaluate_customer(conn, p.survivor_id, config=config, now=now, cause=f"merged with {p.absorbed_id}")
    elif isinstance(p, CustomerUnmergedV1):
        await repo.restore_bookings(conn, restored_id=p.restored_id)
        for customer_id in (p.survivor_id, p.restored_id):
            await evaluate_customer(conn, customer_id, config=config, now=now, cause="merge undone")


async def handle_view_tombstone(conn: asyncpg.Connection, topic: str, key: str) -> None:
    """An erased traveller leaves the view and the ledger; their value snapshot is tombstoned."""
    await apply_view_tombstone(conn, topic, key)
    if topic != "profile.customers.v1":
        return
    companies = await repo.erase_bookings(conn, key)
    if await repo.delete_customer(conn, key):
        await enqueue_tombstone(conn, topic=CUSTOMERS_TOPIC, key=key)
    await repo.schedule(conn, "company", companies, datetime.now(UTC))


async def erase_customers(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
    """An erasure: the travellers' ledger and value go; their companies are evaluated again without them."""
    companies: set[str] = set()
    customers = 0
    for customer_id in ids:
        companies.update(await repo.erase_bookings(conn, customer_id))
        customers += await repo.delete_customer(conn, customer_id)
    await repo.schedule(conn, "company", sorted(companies), datetime.now(UTC))
    return {"customer_value": customers, "companies_to_review": len(companies)}


async def review_due(pool: asyncpg.Pool, *, config: ValueConfig, now: datetime, batch_size: int) -> int:
    """Re-evaluate everything due for review, one committed batch at a time; returns how many."""
    done = 0
    while True:
        async with connection(pool, transaction=True) as conn:
            due = await repo.take_due(conn, now=now, limit=batch_size)
            await _evaluate(conn, due, config=config, now=now)
        done += len(due)
        if len(due) < batch_size:
            return done


async def recompute_all(pool: asyncpg.Pool, *, config: ValueConfig, now: datetime, batch_size: int = 500) -> int:
    """Re-evaluate every customer and company from the stored ledger (after a change of cut-offs, say)."""
    async with connection(pool) as conn:
        customers, companies = await repo.all_subjects(conn)
    subjects: list[tuple[Subject, str]] = [("customer", c) for c in customers] + [("company", c) for c in companies]
    for start in range(0, len(subjects), batch_size):
        async with connection(pool, transaction=True) as conn:
            await _evaluate(conn, subjects[start : start + batch_size], config=config, now=now)
    return len(subjects)


async def _evaluate(
    conn: asyncpg.Connection, subjects: Sequence[tuple[Subject, str]], *, config: ValueConfig, now: datetime
) -> None:
    """Customers, then companies, each set at once (locks in the same order as the bookings consumer's)."""
    await evaluate_customers(conn, (i for s, i in subjects if s == "customer"), config=config, now=now)
    await evaluate_companies(conn, (i for s, i in subjects if s == "company"), config=config, now=now)


async def load_rates(
    conn: asyncpg.Connection, rates: Sequence[Rate], *, actor: str, now: datetime, config: ValueConfig
) -> int:
    """Store dated rates; everyone with spend in those currencies is re-evaluated (by the review job, at once)."""
    await repo.upsert_rates(conn, rates, loaded_by=actor)
    config.rates.invalidate()
    customers, companies = await repo.holders_of_currencies(conn, sorted({r.currency for r in rates}))
    await repo.schedule(conn, "customer", customers, now)
    await repo.schedule(conn, "company", companies, now)
    return len(customers)


async def known(conn: asyncpg.Connection, subject: Subject, subject_id: str) -> bool:
    if await repo.current_value(conn, subject, subject_id) is not None:
        return True
    if subject == "customer":
        return await lookup(conn, "customer", subject_id) is not None
    return bool(await repo.facts_of(conn, "company", subject_id))


async def assign_manager(
    conn: asyncpg.Connection, subject: Subject, subject_id: str, manager: AccountManagerV1 | None, *,
    config: ValueConfig, now: datetime,
) -> tuple[str, AccountManagerV1 | None]:  # fmt: skip
    """Assign (or with None remove) the account manager; the snapshots that show it are published again."""
    if subject == "customer":
        subject_id = await _current_id(conn, subject_id)
    if not await known(conn, subject, subject_id):
        raise UnknownSubjectError(f"no {subject} {subject_id!r} is known here")
    previous = await repo.manager(conn, subject, subject_id)
    await repo.set_manager(conn, subject, subject_id, manager)
    fact = AccountManagerAssignedV1(
        subject=subject, subject_id=subject_id, account_manager=manager, previous=previous, changed_at=now
    )
    await enqueue(conn, topic=CHANGES_TOPIC, envelope=Envelope.new(fact, producer=PRODUCER, subject_id=subject_id))
    if subject == "customer":
        await evaluate_customer(conn, subject_id, config=config, now=now)
    else:
        await evaluate_company(conn, subject_id, config=config, now=now)
        # Travellers without their own manager show the company's: they are reviewed at once.
        await repo.schedule(conn, "customer", await repo.customers_of_company(conn, subject_id), now)
    return subject_id, previous
