"""The facts a journey's conditions and messages read, from bookings and answers. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from services.trips.domain.grouping import first_departure

# The booking system's reason, in words, read for its kind (hand-written: reasons are free text).
_REASON_KINDS = (
    ("carrier_cancellation", re.compile(r"cancel|annul|storn|取消", re.IGNORECASE)),
    ("delay", re.compile(r"delay|late|versp[äa]t|延误", re.IGNORECASE)),
    ("schedule_change", re.compile(r"schedule|retim|flugplan|zeit.*änder|时刻|变更", re.IGNORECASE)),
)


def reason_kind(reason: str | None) -> str | None:
    """`carrier_cancellation`, `delay`, `schedule_change` or `other`; None without a reason."""
    if not reason:
        return None
    return next((kind for kind, pattern in _REASON_KINDS if pattern.search(reason)), "other")


def _when(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def compare(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Old → new for what a traveller acts on, segment by segment (a segment dropped: new is None)."""
    changes: list[dict[str, Any]] = []
    fields = ("departure_at", "arrival_at", "flight_number", "origin", "destination", "seat", "pickup_at",
              "check_in", "check_out", "hotel_name")  # fmt: skip
    for index, before in enumerate(old):
        after = new[index] if index < len(new) else None
        label = _label(before)
        if after is None:
            changes.append({"segment": label, "field": "segment", "old": label, "new": None})
            continue
        changes.extend(
            {"segment": label, "field": name, "old": before.get(name), "new": after.get(name)}
            for name in fields
            if before.get(name) != after.get(name)
        )
    return changes


def _label(segment: Mapping[str, Any]) -> str:
    kind = segment.get("kind")
    if kind == "flight":
        flight = f"{segment.get('carrier')}{segment.get('flight_number')}"
        return f"{flight} {segment.get('origin')}-{segment.get('destination')}"
    if kind == "hotel":
        return str(segment.get("hotel_name"))
    if kind == "car":
        return f"car {segment.get('vendor')} {segment.get('pickup_location')}"
    return f"{segment.get('operator')} {segment.get('origin')}-{segment.get('destination')}"


def delay_minutes(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> int | None:
    """How much later the booking now leaves (negative: earlier); None without departures before and after."""
    before, after = first_departure(old), first_departure(new)
    if before is None or after is None:
        return None
    return int((after[0] - before[0]).total_seconds() // 60)


def local_text(at: datetime, zone: tzinfo) -> str:
    """'2026-03-30 10:00 (Europe/Berlin)': the local wall-clock time and the zone it is read in."""
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M} ({zone})"


def readiness(segments: Iterable[Mapping[str, Any]], preferences: Mapping[str, Any]) -> dict[str, Any]:
    """What Itinera knows for the trip (seat, meal, hotel chain) and what is still missing."""
    segs = list(segments)
    flights = [s for s in segs if s.get("kind") == "flight"]
    hotels = [s for s in segs if s.get("kind") == "hotel"]
    known: dict[str, Any] = {}
    missing: list[str] = []
    seats = [f"{s.get('carrier')}{s.get('flight_number')}: {s['seat']}" for s in flights if s.get("seat")]
    if seats:
        known["seats"] = seats
    if flights and len(seats) < len(flights):
        missing.append("seat")
    meals = sorted({str(s["meal"]) for s in flights if s.get("meal")})
    if meals:
        known["meal"] = ", ".join(meals)
    elif flights:
        missing.append("meal")
    chains = sorted({str(h["chain_code"]) for h in hotels if h.get("chain_code")})
    if chains:
        known["hotel_chain"] = ", ".join(chains)
    elif hotels:
        missing.append("hotel_chain")
    elif flights:
        missing.append("hotel")
    stated_seat = preferences.get("air.seat")
    if stated_seat is not None:
        known["seat_preference"] = stated_seat
    return {"known": known, "missing": missing}
