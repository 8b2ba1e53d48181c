"""Profile use cases: turn what arrives (booking events, HTTP records, bounces) into resolutions.

Each handler runs inside the caller's transaction (the consumer's batch, a savepoint,
or an API request's transaction) and writes its events to the outbox in that same
transaction.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from services.kit.contracts.bookings import (
    BookingCancelledV1,
    BookingChangedV1,
    BookingCreatedV1,
    TripCompletedV1,
    TripStartedV1,
)
from services.kit.contracts.customers import BookingKind
from services.kit.contracts.envelope import Envelope
from services.kit.db import Connection
from services.kit.outbox import enqueue_many
from services.profile.domain.companies import company_key
from services.profile.domain.reading import source_record_from_traveller
from services.profile.domain.resolution import BookingInput, CompanyInput, Incoming, Outcome, ProfileConfig
from services.profile.service_layer.deliverability import handle_delivery_failed
from services.profile.service_layer.events import (
    CUSTOMER_EVENTS_TOPIC,
    CUSTOMERS_TOPIC,
    PRODUCER,
    RESOLVED_BOOKINGS_TOPIC,
)
from services.profile.service_layer.resolver import resolve_batch

__all__ = [
    "CUSTOMERS_TOPIC",
    "CUSTOMER_EVENTS_TOPIC",
    "PRODUCER",
    "RESOLVED_BOOKINGS_TOPIC",
    "ProfileConfig",
    "handle_booking_event",
    "handle_booking_events",
    "handle_delivery_failed",
    "incoming_from_booking",
    "incoming_from_traveller",
    "resolve_records",
]

log = logging.getLogger(__name__)

_KIND: dict[type, BookingKind] = {
    BookingCreatedV1: "created",
    BookingChangedV1: "changed",
    BookingCancelledV1: "cancelled",
    TripStartedV1: "trip_started",
    TripCompletedV1: "trip_completed",
}


def incoming_from_traveller(
    *,
    source_system: str,
    source_id: str,
    traveller: Mapping[str, Any],
    company: Mapping[str, Any] | None,
    seen_at: datetime,
    config: ProfileConfig,
    caused_by: Envelope[Any] | None = None,
    booking: BookingInput | None = None,
) -> Incoming:
    """Normalise one traveller as a source sent it (TravellerV1-shaped dict) into a record to resolve."""
    record = source_record_from_traveller(
        source_system=source_system,
        source_id=source_id,
        traveller=traveller,
        company_name=company.get("name") if company else None,
        seen_at=seen_at,
        phone_region=config.phone_region,
        passport_pepper=config.passport_pepper,
    )
    company_input = (
        CompanyInput(
            name=str(company["name"]),
            source_system=source_system,
            source_company_id=company.get("source_company_id"),
            email_domain=company.get("email_domain"),
            key=company_key(str(company["name"])),
            country=company.get("country"),
        )
        if company and company.get("name")
        else None
    )
    return Incoming(record=record, company=company_input, booking=booking, caused_by=caused_by)


def incoming_from_booking(event: Envelope[Any], *, config: ProfileConfig) -> Incoming:
    p = event.payload
    company = getattr(p, "company", None)
    booking = BookingInput(
        source_event=event,
        kind=_KIND[type(p)],
        booking_id=p.booking_id,
        segments=tuple(getattr(p, "segments", ())),
        total_price=getattr(p, "total_price", None),
        currency=getattr(p, "currency", None),
        trip_purpose=getattr(p, "trip_purpose", None),
    )
    return incoming_from_traveller(
        source_system=p.source_system,
        source_id=p.source_traveller_id,
        traveller=p.traveller.model_dump(mode="json"),
        company=company.model_dump(mode="json") if company else None,
        seen_at=event.occurred_at,
        config=config,
        caused_by=event,
        booking=booking,
    )


async def resolve_records(
    conn: Connection, items: Sequence[Incoming], *, config: ProfileConfig, now: datetime | None = None
) -> list[Outcome]:
    """Resolve records and enqueue their events in the caller's transaction."""
    outcomes, outgoing = await resolve_batch(conn, items, config=config, now=now)
    await enqueue_many(conn, outgoing)
    return outcomes


async def handle_booking_events(conn: Connection, events: Sequence[Envelope[Any]], *, config: ProfileConfig) -> None:
    """Resolve the travellers of a batch of booking events and re-publish each booking with its customer id."""
    with no_cyclic_gc():
        items = [incoming_from_booking(e, config=config) for e in events if type(e.payload) in _KIND]
        outcomes = await resolve_records(conn, items, config=config)
    for o in outcomes:
        log.debug("traveller %s:%s resolved to %s (%s)", o.source_system, o.source_id, o.customer_id, o.rule)


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection while a batch resolves (its objects are short-lived and acyclic;
    what the batch leaves is collected after it, in one pass, instead of in dozens during it)."""
    collect = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collect:
            gc.enable()


async def handle_booking_event(conn: Connection, event: Envelope[Any], *, config: ProfileConfig) -> None:
    """Resolve the traveller of one booking event (the per-record path of the consumer)."""
    await handle_booking_events(conn, [event], config=config)
