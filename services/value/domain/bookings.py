"""The booking ledger: what value is computed from, one fact per booking.

Booking events may arrive late, twice or out of order (several booking systems, redeliveries,
re-driven dead letters). The fact of a booking is therefore a pure function of the *set* of its
events: the state of the newest one (by `occurred_at`; on a tie a cancellation wins, then the
event id decides) and the date of the earliest, on which the booking's spend is converted. So
folding events in any order gives the same ledger, and recomputing value from the stored ledger
gives what the live stream gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

BookingStatus = Literal["active", "cancelled"]
StateKind = Literal["created", "changed", "cancelled"]
_KIND_RANK: Mapping[str, int] = {"created": 0, "changed": 1, "cancelled": 2}


@dataclass(frozen=True)
class BookingEvent:
    """The facts of one resolved booking event that value needs (no personal data)."""

    event_id: str
    kind: str  # created, changed, cancelled; trip_started/trip_completed change nothing here
    source_system: str
    booking_id: str
    customer_id: str
    company_id: str | None
    occurred_at: datetime
    starts_at: datetime | None  # first segment's start; None when the event carries no segments
    amounts: Mapping[str, Decimal]  # spend by currency; empty when the booking system sent no price


Order = tuple[datetime, int, str]


@dataclass(frozen=True)
class BookingFact:
    """One booking as value sees it: its status from the newest event, its trip from the newest
    event that described it (a cancellation carries no segments or price)."""

    source_system: str
    booking_id: str
    customer_id: str
    company_id: str | None
    status: BookingStatus
    starts_at: datetime | None
    amounts: Mapping[str, Decimal]
    first_event_at: datetime
    last_event_at: datetime
    last_kind: StateKind
    last_event_id: str
    data_order: Order | None  # the newest created/changed event; None while only a cancellation is known

    @property
    def key(self) -> tuple[str, str]:
        return self.source_system, self.booking_id

    @property
    def trip_at(self) -> datetime:
        """When the trip starts; a booking without segments has the time of its first event."""
        return self.starts_at or self.first_event_at

    @property
    def order(self) -> Order:
        return self.last_event_at, _KIND_RANK[self.last_kind], self.last_event_id


def apply_event(fact: BookingFact | None, event: BookingEvent) -> BookingFact | None:
    """The booking's fact after `event`, or None when the event changes nothing value depends on.

    Every part is a maximum or a minimum over the events seen, so the order of arrival does not matter.
    """
    if event.kind not in _KIND_RANK:
        return None
    kind: StateKind = event.kind  # type: ignore[assignment]  # checked against _KIND_RANK just above
    order: Order = (event.occurred_at, _KIND_RANK[kind], event.event_id)
    describes = kind != "cancelled"
    if fact is None:
        return BookingFact(
            source_system=event.source_system, booking_id=event.booking_id, customer_id=event.customer_id,
            company_id=event.company_id, status="cancelled" if kind == "cancelled" else "active",
            starts_at=event.starts_at if describes else None, amounts=dict(event.amounts) if describes else {},
            first_event_at=event.occurred_at, last_event_at=event.occurred_at, last_kind=kind,
            last_event_id=event.event_id, data_order=order if describes else None,
        )  # fmt: skip
    new = fact
    if order > fact.order:
        new = replace(new, status="cancelled" if kind == "cancelled" else "active", customer_id=event.customer_id,
                      last_event_at=event.occurred_at, last_kind=kind, last_event_id=event.event_id)  # fmt: skip
    if describes and (fact.data_order is None or order > fact.data_order):
        new = replace(new, starts_at=event.starts_at, amounts=dict(event.amounts), company_id=event.company_id,
                      data_order=order)  # fmt: skip
    elif fact.data_order is None and order > fact.order:  # only cancellations known: the newest one's company
        new = replace(new, company_id=event.company_id)
    if event.occurred_at < fact.first_event_at:
        new = replace(new, first_event_at=event.occurred_at)
    return None if new == fact else new
