"""Which trip a booking belongs to: pure rules, no I/O.

A trip is a traveller's bookings of one journey. A booking joins the trip that carries the same
trip reference (the booking system's own grouping, when it gives one); without a reference it joins
the traveller's trips whose travel overlaps its own or follows within `TRIP_GAP` (the flight out,
the hotel, the car, the flight home, whichever system booked them). Trips with two different
references never join. A booking that touches several trips merges them: the survivor is the one
travelling first (ties: the smaller id), so the outcome does not depend on arrival order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

TRIP_GAP = timedelta(days=1)
_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Span:
    """When a booking or a trip travels (UTC instants)."""

    start: datetime
    end: datetime

    def near(self, other: Span, gap: timedelta = TRIP_GAP) -> bool:
        """Overlapping, or one following the other within `gap`."""
        return self.start <= other.end + gap and other.start <= self.end + gap

    def union(self, other: Span) -> Span:
        return Span(min(self.start, other.start), max(self.end, other.end))


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else datetime.combine(parsed.date(), time(0), tzinfo=UTC)
    return None


def segment_span(segment: Mapping[str, Any]) -> Span | None:
    """A segment's travel time: departure to arrival, pick-up to drop-off, check-in to check-out day's end."""
    kind = segment.get("kind")
    if kind in ("flight", "rail"):
        start, end = _instant(segment.get("departure_at")), _instant(segment.get("arrival_at"))
    elif kind == "car":
        start, end = _instant(segment.get("pickup_at")), _instant(segment.get("dropoff_at"))
    elif kind == "hotel":
        start, end = _instant(segment.get("check_in")), _instant(segment.get("check_out"))
        end = None if end is None else end + timedelta(hours=23, minutes=59)
    else:
        return None
    if start is None or end is None:
        return None
    return Span(start, max(start, end))


def booking_span(segments: Iterable[Mapping[str, Any]]) -> Span | None:
    """From the first segment's start to the last one's end; None without dated segments."""
    spans = [s for s in (segment_span(seg) for seg in segments) if s is not None]
    if not spans:
        return None
    return Span(min(s.start for s in spans), max(s.end for s in spans))


@dataclass(frozen=True)
class TripFacts:
    """A trip of the traveller as grouping needs it."""

    trip_id: str
    trip_reference: str | None
    span: Span | None


@dataclass(frozen=True)
class Grouping:
    """Where a booking goes: `trip_id` (new when `create`), and the trips merged into it."""

    trip_id: str
    create: bool
    merged: tuple[str, ...] = ()


def new_trip_id(source_system: str, booking_id: str) -> str:
    """A trip's id from its first booking: the same stream gives the same ids."""
    digest = hashlib.sha256(f"{source_system}:{booking_id}".encode()).hexdigest()[:20]
    return f"trip_{digest}"


def _joins(reference: str | None, span: Span | None, trip: TripFacts) -> bool:
    if reference is not None and trip.trip_reference is not None:
        return reference == trip.trip_reference
    return span is not None and trip.span is not None and span.near(trip.span)


def group_booking(
    *, source_system: str, booking_id: str, reference: str | None, span: Span | None, trips: Sequence[TripFacts]
) -> Grouping:
    """The trip a new booking joins among the traveller's `trips` (or a new one), and the trips it merges."""
    touched = [t for t in trips if _joins(reference, span, t)]
    if not touched:
        return Grouping(new_trip_id(source_system, booking_id), create=True)
    ordered = sorted(touched, key=lambda t: (t.span.start if t.span else _FAR, t.trip_id))
    # References that differ never meet, even through a booking without one.
    survivor = ordered[0]
    merged = tuple(
        t.trip_id for t in ordered[1:]
        if t.trip_reference is None or survivor.trip_reference is None or t.trip_reference == survivor.trip_reference
    )  # fmt: skip
    return Grouping(survivor.trip_id, create=False, merged=merged)


def trip_span(spans: Iterable[Span | None]) -> Span | None:
    """The span of a trip's bookings."""
    known = [s for s in spans if s is not None]
    if not known:
        return None
    out = known[0]
    for s in known[1:]:
        out = out.union(s)
    return out


def trip_status(statuses: Iterable[str]) -> str:
    """A trip's status from its bookings': cancelled when all are, completed when every live one is."""
    live = [s for s in statuses if s != "cancelled"]
    if not live:
        return "cancelled"
    if all(s == "completed" for s in live):
        return "completed"
    if any(s in ("in_progress", "completed") for s in live):
        return "in_progress"
    return "planned"


def first_departure(segments: Iterable[Mapping[str, Any]]) -> tuple[datetime, str | None] | None:
    """The earliest flight or rail departure (instant, origin code); else the earliest segment start."""
    departures = [
        (_instant(s.get("departure_at")), s.get("origin"))
        for s in segments if s.get("kind") in ("flight", "rail")
    ]  # fmt: skip
    known = [(at, origin) for at, origin in departures if at is not None]
    if known:
        at, origin = min(known, key=lambda d: d[0])
        return at, origin if isinstance(origin, str) else None
    span = booking_span(segments)
    return None if span is None else (span.start, None)
