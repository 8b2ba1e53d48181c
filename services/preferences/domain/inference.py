"""What a booking reveals about its traveller, and what a run of bookings lets us infer.

Every segment of a resolved booking yields *observations*: one observed value per
preference dimension ("this short flight was in an aisle seat"). A customer keeps the
last `WINDOW` observations per dimension, ordered by when the travel happens, so an
inference follows behaviour when it changes: the old habit slides out of the window
and the confidence of the old value falls with it.

Confidence is the lower bound of the Wilson score interval (z = 1) of the winning
value's share: 8 aisle seats out of 10 short flights give 0.65, 10 out of 10 give
0.91, a single observation 0.5. Older observations weigh less (half-life
`HALF_LIFE_DAYS`, counted back from the newest observation of the dimension, so the
result depends only on the evidence, never on the wall clock).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple

from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1, RailSegmentV1

Observed = str | int

WINDOW = 10
HALF_LIFE_DAYS = 365.0
Z = 1.0
MIN_CONFIDENCE = 0.3  # below this an inference is kept for `explain` but not used

SHORT_HAUL_MAX = timedelta(hours=3)
MEDIUM_HAUL_MAX = timedelta(hours=6)

# Seat letters by position. Narrow-bodies (short and medium haul) are laid out ABC-DEF;
# wide-bodies (long haul) ABC-DEF(G)-HJK. Letters outside the layout fall back to the
# wide-body table. A heuristic, documented as such in `explain`.
_NARROW = {"A": "window", "F": "window", "C": "aisle", "D": "aisle", "B": "middle", "E": "middle"}
_WIDE = {"A": "window", "K": "window", "C": "aisle", "D": "aisle", "G": "aisle", "H": "aisle"}

# ACRISS (car classification) first letter: category; third letter: transmission.
ACRISS_CATEGORY = {
    "M": "mini", "N": "mini_elite", "E": "economy", "H": "economy_elite", "C": "compact", "D": "compact_elite",
    "I": "intermediate", "J": "intermediate_elite", "S": "standard", "R": "standard_elite", "F": "fullsize",
    "G": "fullsize_elite", "P": "premium", "U": "premium_elite", "L": "luxury", "W": "luxury_elite",
    "O": "oversize", "X": "special",
}  # fmt: skip
ACRISS_AUTOMATIC = frozenset("ABD")
ACRISS_MANUAL = frozenset("MNC")

_ROOM_TYPES = ("suite", "studio", "deluxe", "executive", "superior", "standard")
_BED_TYPES = (("king", "king"), ("queen", "queen"), ("twin", "twin"), ("double", "double"), ("single", "single"))

DEPARTURE_WINDOWS: dict[str, tuple[str, str]] = {
    "early_morning": ("00:00", "06:59"),
    "morning": ("07:00", "11:59"),
    "afternoon": ("12:00", "17:59"),
    "evening": ("18:00", "23:59"),
}


class Observation(NamedTuple):
    """One observed value of one preference dimension, from one segment of one booking.

    Immutable; a named tuple rather than a dataclass because a customer's state holds many of
    them and they are rebuilt whenever it is loaded (several times cheaper to create).
    """

    dimension: str
    value: Observed
    booking: str  # "<source_system>:<booking_id>"
    at: datetime  # when the travel happens (departure, check-in, pick-up)
    detail: str  # human-readable evidence for `explain`


class Inference(NamedTuple):
    """The value a window of observations points to, and how sure we are (immutable)."""

    dimension: str
    value: Observed
    confidence: float
    evidence_count: int  # observations supporting `value`
    observed_count: int  # observations in the window
    share: float
    first_seen: datetime
    last_seen: datetime
    alternatives: tuple[tuple[Observed, int], ...]  # other values seen, with counts


def haul(duration: timedelta) -> str:
    """Short (< 3 h), medium (3-6 h) or long haul (>= 6 h) by block time."""
    if duration < SHORT_HAUL_MAX:
        return "short_haul"
    if duration < MEDIUM_HAUL_MAX:
        return "medium_haul"
    return "long_haul"


def seat_position(seat: str, haul_name: str) -> str:
    """Window, aisle or middle from the seat letter (heuristic per aircraft type)."""
    letter = seat[-1].upper()
    if haul_name != "long_haul" and letter in _NARROW:
        return _NARROW[letter]
    return _WIDE.get(letter, "middle")


_WINDOW_ENDS = tuple((name, time.fromisoformat(latest)) for name, (_, latest) in DEPARTURE_WINDOWS.items())


def departure_window(at: datetime) -> str:
    """The part of the day a flight leaves, in the departure's local time as sent."""
    local = at.time()  # the wall-clock time as sent, without its zone
    for name, latest in _WINDOW_ENDS:
        if local <= latest:
            return name
    return "evening"


def _room(text: str) -> tuple[str | None, str | None, str | None]:
    lowered = text.lower()
    room = next((r for r in _ROOM_TYPES if r in lowered), None)
    bed = next((b for word, b in _BED_TYPES if word in lowered), None)
    smoking = (
        "non_smoking"
        if ("non-smoking" in lowered or "non smoking" in lowered or "nonsmoking" in lowered)
        else ("smoking" if "smoking" in lowered else None)
    )
    return room, bed, smoking


def _date(at: datetime) -> str:
    """`f"{at:%Y-%m-%d}"` without strftime (several times slower); years are not zero-padded either."""
    return f"{at.year}-{at.month:02d}-{at.day:02d}"


def _day(d: object) -> datetime:
    return datetime.combine(d, time(12), tzinfo=UTC)  # type: ignore[arg-type]  # a date from the contract


def observe(segments: Sequence[object], *, booking: str) -> list[Observation]:
    """Everything a booking's segments reveal, dimension by dimension."""
    out: list[Observation] = []

    def add(dimension: str, value: Observed | None, at: datetime, detail: str) -> None:
        if value is not None and value != "":
            out.append(Observation(dimension, value, booking, at, detail))

    for seg in segments:
        if isinstance(seg, FlightSegmentV1):
            h = haul(seg.arrival_at - seg.departure_at)
            at = seg.departure_at
            flight = f"{seg.carrier}{seg.flight_number} {seg.origin}-{seg.destination} {_date(at)}"
            add(f"air.cabin.{h}", seg.cabin, at, f"{flight}: {seg.cabin}")
            if seg.seat:
                add(f"air.seat.{h}", seat_position(seg.seat, h), at, f"{flight}: seat {seg.seat}")
            if seg.meal:
                add("air.meal", seg.meal.upper(), at, f"{flight}: meal {seg.meal.upper()}")
            add("air.airlines.preferred", seg.carrier, at, flight)
            add("air.stops.max", seg.stops, at, f"{flight}: {seg.stops} stop(s)")
            if seg.fare_type:
                add("air.fare_types", seg.fare_type, at, f"{flight}: {seg.fare_type} fare")
            add("air.departure_window", departure_window(at), at, f"{flight}: departs {at.hour:02d}:{at.minute:02d}")
        elif isinstance(seg, HotelSegmentV1):
            at = _day(seg.check_in)
            stay = f"{seg.hotel_name}, {seg.city} {seg.check_in.isoformat()}"
            if seg.chain_code:
                add("hotel.chains.preferred", seg.chain_code, at, stay)
            if seg.star_rating:
                add("hotel.star_min", seg.star_rating, at, f"{stay}: {seg.star_rating}*")
            if seg.room_type:
                room, bed, smoking = _room(seg.room_type)
                add("hotel.room_type", room, at, f"{stay}: {seg.room_type}")
                add("hotel.bed_type", bed, at, f"{stay}: {seg.room_type}")
                add("hotel.smoking", smoking, at, f"{stay}: {seg.room_type}")
        elif isinstance(seg, CarSegmentV1):
            at = seg.pickup_at
            rental = f"{seg.vendor} {seg.pickup_location} {_date(at)}"
            add("car.vendors.preferred", seg.vendor, at, rental)
            if seg.car_class:
                add("car.class", ACRISS_CATEGORY.get(seg.car_class[0]), at, f"{rental}: {seg.car_class}")
                letter = seg.car_class[2]
                transmission = (
                    "automatic" if letter in ACRISS_AUTOMATIC else "manual" if letter in ACRISS_MANUAL else None
                )
                add("car.transmission", transmission, at, f"{rental}: {seg.car_class}")
        elif isinstance(seg, RailSegmentV1):
            at = seg.departure_at
            trip = f"{seg.operator} {seg.origin}-{seg.destination} {_date(at)}"
            add("rail.class", seg.travel_class, at, f"{trip}: {seg.travel_class}")
            add("rail.operators.preferred", seg.operator, at, trip)
    return out


def wilson_lower(share: float, n: float, z: float = Z) -> float:
    """Lower bound of the Wilson score interval: how low the true share plausibly is."""
    if n <= 0:
        return 0.0
    denominator = 1 + z * z / n
    centre = share + z * z / (2 * n)
    margin = z * math.sqrt(max(share * (1 - share) / n + z * z / (4 * n * n), 0.0))
    return max(0.0, min(1.0, (centre - margin) / denominator))


_ONE_OBSERVATION_CONFIDENCE = round(wilson_lower(1.0, 1), 4)


def window_order(o: Observation) -> tuple[datetime, str, str]:
    """The order of a window: time, then booking, then value."""
    return (o.at, o.booking, str(o.value))


def window(observations: Iterable[Observation], size: int = WINDOW) -> list[Observation]:
    """The last `size` observations, oldest first (ties broken by booking for determinism)."""
    ordered = sorted(observations, key=window_order)
    return ordered[-size:]


def _alternative_order(vc: tuple[Observed, int]) -> tuple[int, str]:
    return (-vc[1], str(vc[0]))


def infer(dimension: str, observations: Sequence[Observation]) -> Inference | None:
    """The value the recent observations of one dimension point to, if any."""
    return infer_window(dimension, window(observations))


def infer_window(dimension: str, recent: Sequence[Observation]) -> Inference | None:
    """`infer` of observations that already are a window: at most `WINDOW`, in `window`'s order."""
    n = len(recent)
    if n <= 1:
        if not recent:
            return None
        only = recent[0]  # weight 1, share 1
        return Inference(dimension, only.value, _ONE_OBSERVATION_CONFIDENCE, 1, 1, 1.0, only.at, only.at, ())
    newest = recent[-1].at
    # Per value: [summed weight, count, first and last time seen] (`recent` is in time order; the
    # weights are summed in the same order as ever, so the floats come out the same).
    stats: dict[Observed, list[Any]] = {}
    for o in recent:
        value = o.value
        at = o.at
        if at == newest:
            weight = 1.0  # 0.5 ** 0.0
        else:
            age_seconds = (newest - at).total_seconds()
            age_days = (age_seconds if age_seconds > 0.0 else 0.0) / 86400
            weight = 0.5 ** (age_days / HALF_LIFE_DAYS)
        entry = stats.get(value)
        if entry is None:
            stats[value] = [weight, 1, at, at]
        else:
            entry[0] += weight
            entry[1] += 1
            entry[3] = at
    if len(stats) == 1:
        winner = value
        best = stats[winner]
        share = best[0] / best[0]
        alternatives: tuple[tuple[Observed, int], ...] = ()
    else:
        total = sum(entry[0] for entry in stats.values())
        # The heaviest value wins; on a tie the one seen most recently.
        winner = max(stats, key=lambda v: (round(stats[v][0], 9), stats[v][3], str(v)))
        best = stats[winner]
        share = best[0] / total
        alternatives = tuple(
            sorted(((v, entry[1]) for v, entry in stats.items() if v != winner), key=_alternative_order)
        )
    return Inference(
        dimension, winner, round(wilson_lower(share, n), 4), best[1], n, round(share, 4), best[2], best[3], alternatives
    )
