"""What an itinerary tells the messages: places and their time zones, where the traveller is, what changed.

Segments arrive as the booking system sent them (`ResolvedBookingV1.segments` in JSON form).
When a booking is planned, each segment is annotated with its places - the airport's or
station's city, the hotel's city - and their IANA zones, from a `PlaceDirectory` (the
service wires a maintained IATA airport table). The annotations feed both the emails
(times shown in the zone of the airport they happen at) and the traveller's whereabouts
(quiet hours in the zone they are in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal, Protocol

from services.notifications.domain.zones import STAY_LIMIT, Mark, zone_named

# When a hotel stay puts the traveller in its city, in the hotel's local time.
CHECK_IN_TIME = time(15, 0)
CHECK_OUT_TIME = time(11, 0)

# Annotated keys: the place a segment's time is read at, per kind.
_PLACE_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "flight": (("origin", "origin_place"), ("destination", "destination_place")),
    "rail": (("origin", "origin_place"), ("destination", "destination_place")),
    "car": (("pickup_location", "pickup_place"), ("dropoff_location", "dropoff_place")),
}


@dataclass(frozen=True)
class Place:
    """A city (or airport) and its IANA time zone."""

    name: str
    zone: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "zone": self.zone}


class PlaceDirectory(Protocol):
    """Finds the place of an airport code, a city, or a location typed in a booking system."""

    def airport(self, code: str) -> Place | None: ...

    def locate(self, text: str, *, country: str | None = None) -> Place | None: ...


def annotate_segments(segments: Iterable[Mapping[str, Any]], directory: PlaceDirectory) -> list[dict[str, Any]]:
    """Copies of `segments` with the places the directory knows (`origin_place`, `place`, ...)."""
    out: list[dict[str, Any]] = []
    for segment in segments:
        s = dict(segment)
        kind = s.get("kind")
        if kind == "flight":
            for code_key, place_key in _PLACE_FIELDS["flight"]:
                place = directory.airport(str(s.get(code_key) or ""))
                if place is not None:
                    s[place_key] = place.as_json()
        elif kind in ("rail", "car"):
            for text_key, place_key in _PLACE_FIELDS[str(kind)]:
                place = directory.locate(str(s.get(text_key) or ""))
                if place is not None:
                    s[place_key] = place.as_json()
        elif kind == "hotel":
            place = directory.locate(str(s.get("city") or ""), country=s.get("country"))
            if place is not None:
                s["place"] = place.as_json()
        out.append(s)
    return out


def place_of(segment: Mapping[str, Any], key: str) -> Place | None:
    """An annotated place of a segment (`origin_place`, `place`, ...), if it was found."""
    value = segment.get(key)
    if isinstance(value, Mapping) and isinstance(value.get("zone"), str) and zone_named(value["zone"]) is not None:
        return Place(str(value.get("name") or ""), value["zone"])
    return None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def _day(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _mark(at: datetime | None, place: Place | None) -> list[Mark]:
    if at is None or place is None:
        return []
    return [Mark(at=at, zone=place.zone, until=at + STAY_LIMIT, place=place.name)]


def marks_of(segments: Iterable[Mapping[str, Any]]) -> list[Mark]:
    """Where an (annotated) itinerary puts the traveller, and from when."""
    marks: list[Mark] = []
    for s in segments:
        kind = s.get("kind")
        if kind in ("flight", "rail"):
            marks += _mark(_instant(s.get("departure_at")), place_of(s, "origin_place"))
            marks += _mark(_instant(s.get("arrival_at")), place_of(s, "destination_place"))
        elif kind == "car":
            marks += _mark(_instant(s.get("pickup_at")), place_of(s, "pickup_place"))
            marks += _mark(_instant(s.get("dropoff_at")), place_of(s, "dropoff_place"))
        elif kind == "hotel":
            place, check_in, check_out = place_of(s, "place"), _day(s.get("check_in")), _day(s.get("check_out"))
            zone = zone_named(place.zone) if place is not None else None
            if place is None or zone is None or check_in is None or check_out is None:
                continue
            arrive = datetime.combine(check_in, CHECK_IN_TIME, tzinfo=zone)
            leave = datetime.combine(check_out, CHECK_OUT_TIME, tzinfo=zone)
            if leave <= arrive:
                continue
            # The whole stay, however long, then as any other mark after check-out.
            marks.append(Mark(at=arrive, zone=place.zone, until=leave + STAY_LIMIT, place=place.name))
            marks.append(Mark(at=leave, zone=place.zone, until=leave + STAY_LIMIT, place=place.name))
    return marks


def span_of(segments: Iterable[Mapping[str, Any]]) -> tuple[datetime, datetime] | None:
    """The first and last instant an itinerary's marks speak of (None without any)."""
    marks = marks_of(segments)
    if not marks:
        return None
    return min(m.at for m in marks), max(m.until for m in marks)


# Comparing a booking before and after a change.

Change = Literal["unchanged", "changed", "added", "removed"]


def _route(s: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two segments "the same part of the trip", changed or not."""
    kind = s.get("kind")
    if kind in ("flight", "rail"):
        return (kind, s.get("origin"), s.get("destination"))
    if kind == "hotel":
        return (kind, s.get("city"))
    if kind == "car":
        return (kind, s.get("pickup_location"))
    return (kind,)


_ANNOTATIONS = ("origin_place", "destination_place", "pickup_place", "dropoff_place", "place")


def _facts(s: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if k not in _ANNOTATIONS}


def compare_segments(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The old → new comparison of a booking's segments, in the new itinerary's order.

    Each row is `{"change": ..., "before": segment | None, "after": segment | None}`: equal
    segments are `unchanged`; a segment of the same kind and route (or, failing that, the
    same kind) that differs is `changed` (a later flight, another hotel in the same city);
    what is left is `added` or `removed`.
    """
    old = list(before)
    rows: list[dict[str, Any] | None] = [None] * len(after)
    for matcher in (_facts, _route, lambda s: s.get("kind")):
        for i, new in enumerate(after):
            if rows[i] is not None:
                continue
            j = next((j for j, o in enumerate(old) if matcher(o) == matcher(new)), None)
            if j is None:
                continue
            previous = old.pop(j)
            change: Change = "unchanged" if _facts(previous) == _facts(new) else "changed"
            rows[i] = {"change": change, "before": previous, "after": dict(new)}
    out = [row or {"change": "added", "before": None, "after": dict(after[i])} for i, row in enumerate(rows)]
    out += [{"change": "removed", "before": dict(o), "after": None} for o in old]
    return out
