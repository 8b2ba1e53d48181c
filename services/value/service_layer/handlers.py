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
from services.value.adapters import repository as repo
from services.value.adapters.repository import Subject
from services.value.domain.assessment import describe_cause
from services.value.domain.bookings import BookingEvent, apply_event
from services.value.domain.money import Rate
from services.value.service_layer.evaluation import (
    CHANGES_TOPIC,
    CUSTOMERS_TOPIC,
    PRODUCER,
    ValueConfig,
    evaluate_company,
    evaluate_customer,
)

log = logging.getLogger(__name__)


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


async def handle_resolved_booking(
    conn: asyncpg.Connection, event: Envelope[Any], *, config: ValueConfig, now: datetime
) -> None:
    """Fold the booking into the ledger; re-evaluate its traveller now and its company a moment later."""
    p = event.payload
    if not isinstance(p, ResolvedBookingV1) or p.kind not in ("created", "changed", "cancelled"):
        return
    customer_id = await _current_id(conn, p.customer_id)
    booking = BookingEvent(
        event_id=str(event.event_id), kind=p.kind, source_system=p.source_system, booking_id=p.booking_id,
        customer_id=customer_id, company_id=p.company_id, occurred_at=p.occurred_at,
        starts_at=_starts_at(p.segments), amounts=_amounts(p),
    )  # fmt: skip
    existing = await repo.booking_for_update(conn, p.source_system, p.booking_id)
    fact = apply_event(existing, booking)
    if fact is None:
        return
    await repo.save_booking(conn, fact, resolved_customer_id=p.customer_id)
    await evaluate_customer(conn, fact.customer_id, config=config, now=now, cause=describe_cause(fact))
    companies = {c for c in (fact.company_id, existing.company_id if existing else None) if c}
    await repo.schedule(conn, "company", sorted(companies), now + config.company_delay)
    if existing is not None and existing.customer_id != fact.customer_id:
        await evaluate_customer(conn, existing.customer_id, config=config, now=now)


async def handle_customer_event(
    conn: asyncpg.Connection, event: Envelope[Any], *, config: ValueConfig, now: datetime
) -> None:
    """A merge moves the absorbed traveller's bookings to the survivor; an unmerge moves them back."""
    p = event.payload
    if isinstance(p, CustomerMergedV1):
        await repo.move_bookings(conn, from_id=p.absorbed_id, to_id=p.survivor_id)
        own = await repo.manager(conn, "customer", p.absorbed_id)
        if own is not None and await repo.manager(conn, "customer", p.survivor_id) is None:
            await repo.set_manager(conn, "customer", p.survivor_id, own)
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


async def review_due(pool: asyncpg.Pool, *, config: ValueConfig, now: datetime, batch_size: int) -> int:
    """Re-evaluate everything due for review, one committed batch at a time; returns how many."""
    done = 0
    while True:
        async with connection(pool, transaction=True) as conn:
            due = await repo.take_due(conn, now=now, limit=batch_size)
            for subject, subject_id in due:
                if subject == "customer":
                    await evaluate_customer(conn, subject_id, config=config, now=now)
                else:
                    await evaluate_company(conn, subject_id, config=config, now=now)
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
            for subject, subject_id in subjects[start : start + batch_size]:
                if subject == "customer":
                    await evaluate_customer(conn, subject_id, config=config, now=now)
                else:
                    await evaluate_company(conn, subject_id, config=config, now=now)
    return len(subjects)


async def load_rates(conn: asyncpg.Connection, rates: Sequence[Rate], *, actor: str, now: datetime) -> int:
    """Store dated rates; everyone with spend in those currencies is re-evaluated (by the review job, at once)."""
    await repo.upsert_rates(conn, rates, loaded_by=actor)
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
