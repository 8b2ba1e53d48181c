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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
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
    survey_due: bool  # the booking completed: its trip may call for a survey (one per trip)
    trip_may_be_over: bool = False  # completed or cancelled: see whether the booking's trip is over


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
    completed = kind == "trip_completed" and new.status is TripStatus.COMPLETED
    # A cancelled part may have been the last thing the rest of its trip waited for.
    cancelled = kind == "cancelled" and new.status is TripStatus.CANCELLED
    return TripUpdate(new, survey_due=completed, trip_may_be_over=completed or cancelled)


# One survey per trip: bookings of one traveller whose travel overlaps (or follows within
# TRIP_GAP) are one trip - the flight out, the hotel, the rental car and the flight home,
# whichever systems booked them.

TRIP_GAP = timedelta(days=1)


@dataclass(frozen=True)
class Booking:
    """A booking as one part of a trip: its status, when it travels, and the survey it is covered by."""

    source_system: str
    booking_id: str
    status: TripStatus
    start: datetime | None
    end: datetime | None
    survey_id: str | None = None
    last_event_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_system, self.booking_id)


def trip_of(anchor: Booking, bookings: Iterable[Booking]) -> list[Booking]:
    """The bookings travelling together with `anchor` (itself included), in order of travel.

    Cancelled bookings join no trip; a booking without known dates is a trip of its own.
    """
    if anchor.start is None or anchor.end is None:
        return [anchor]
    others = [
        b for b in bookings
        if b.key != anchor.key and b.status is not TripStatus.CANCELLED and b.start is not None and b.end is not None
    ]  # fmt: skip
    members = [anchor]
    start, end = anchor.start, anchor.end
    # Chain through neighbours: flight out, then hotel, then flight home.
    grew = True
    while grew:
        grew = False
        for b in list(others):
            b_start, b_end = b.start or start, b.end or end  # both known: filtered above
            if b_start <= end + TRIP_GAP and b_end >= start - TRIP_GAP:
                members.append(b)
                others.remove(b)
                start, end = min(start, b_start), max(end, b_end)
                grew = True
    return sorted(members, key=lambda b: (b.start or datetime.max.replace(tzinfo=UTC), b.key))


@dataclass(frozen=True)
class SurveyDecision:
    """What a trip calls for now: a new survey, joining the trip's survey, or waiting."""

    create: bool
    existing_survey_id: str | None
    members: tuple[Booking, ...]


def survey_for_trip(trip: Sequence[Booking], *, now: datetime, settle: timedelta) -> SurveyDecision:
    """One survey per trip, once the trip is over.

    A trip that already has a survey gets no other (bookings completing later join it). A trip
    is over when a booking of it completed and every other one completed too, was cancelled, or
    ended more than `settle` ago without a word (not every booking system reports completion).
    """
    members = tuple(trip)
    existing = next((b.survey_id for b in members if b.survey_id), None)
    if existing is not None:
        return SurveyDecision(False, existing, members)
    if not any(b.status is TripStatus.COMPLETED for b in members):
        return SurveyDecision(False, None, members)
    for b in members:
        if b.status in (TripStatus.COMPLETED, TripStatus.CANCELLED):
            continue
        if b.end is None or b.end + settle > now:
            return SurveyDecision(False, None, members)
    return SurveyDecision(True, None, members)
