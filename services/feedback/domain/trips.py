"""Which state a booking's trip is in, and when it earns a post-trip survey.

Booking events can arrive late or twice. The rules here make the outcome depend on
what happened, not on the order it was heard:

- booked < in progress < completed: a trip never moves backwards along that line
  (a `changed` after completion, say an invoice correction, leaves it completed);
- a cancellation is final for `trip_started`/`trip_completed` (a cancelled booking
  never gets a survey), and only a *later* `created`/`changed` reinstates it;
- a cancellation of a trip that already completed leaves it completed (it happened).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

BookingKind = Literal["created", "changed", "cancelled", "trip_started", "trip_completed"]


class TripStatus(StrEnum):
    BOOKED = "booked"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


_TARGET: dict[BookingKind, TripStatus] = {
    "created": TripStatus.BOOKED,
    "changed": TripStatus.BOOKED,
    "cancelled": TripStatus.CANCELLED,
    "trip_started": TripStatus.IN_PROGRESS,
    "trip_completed": TripStatus.COMPLETED,
}
_PROGRESS = {TripStatus.BOOKED: 0, TripStatus.IN_PROGRESS: 1, TripStatus.COMPLETED: 2}


@dataclass(frozen=True)
class Trip:
    """One booking as the feedback service knows it."""

    source_system: str
    booking_id: str
    customer_id: str
    company_id: str | None
    status: TripStatus
    last_event_at: datetime


@dataclass(frozen=True)
class TripUpdate:
    trip: Trip
    survey_due: bool  # a post-trip survey should exist for this booking (creating it is idempotent)


def next_status(current: TripStatus | None, kind: BookingKind, *, stale: bool) -> TripStatus:
    """The trip status after a booking event; `stale` when it happened before the last one applied."""
    target = _TARGET[kind]
    if current is None:
        return target
    if current is TripStatus.CANCELLED:
        reinstated = kind in ("created", "changed") and not stale
        return TripStatus.BOOKED if reinstated else TripStatus.CANCELLED
    if target is TripStatus.CANCELLED:
        if current is TripStatus.COMPLETED or stale:
            return current
        return TripStatus.CANCELLED
    return target if _PROGRESS[target] > _PROGRESS[current] else current


def apply_booking_event(
    trip: Trip | None,
    *,
    source_system: str,
    booking_id: str,
    customer_id: str,
    company_id: str | None,
    kind: BookingKind,
    occurred_at: datetime,
) -> TripUpdate:
    """Fold one resolved booking event into the trip; says whether a survey is due."""
    if trip is None:
        status = next_status(None, kind, stale=False)
        new = Trip(source_system, booking_id, customer_id, company_id, status, occurred_at)
    else:
        stale = occurred_at < trip.last_event_at
        new = replace(
            trip,
            customer_id=customer_id,
            company_id=company_id or trip.company_id,
            status=next_status(trip.status, kind, stale=stale),
            last_event_at=max(trip.last_event_at, occurred_at),
        )
    return TripUpdate(new, survey_due=kind == "trip_completed" and new.status is TripStatus.COMPLETED)
