"""A fixed booking stream: the same events, with the same ids, every time for a given seed.

Travellers come from one to three booking systems (flight, hotel and car desks, each with its
own spelling of the same person, as the demo feed sends them), so profile must resolve them to
one customer; every fourth flies the same flight twice (preferences asks her to confirm a
habit, notifications emails the question); some bookings change, some are cancelled, and
about half of the trips complete (feedback sends a survey). Each booking's events share a
Kafka key, so they stay in order; travellers are interleaved.

Event ids and correlation ids are derived from the seed (UUID 5), and `occurred_at` is the
run's anchor plus the event's position in the stream, so every run of a harness invocation
publishes byte-identical events and a profile's "most recent value" is the same in every run.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from faker import Faker

from services.kit.contracts.bookings import (
    BookingCancelledV1,
    BookingChangedV1,
    BookingCreatedV1,
    CarSegmentV1,
    FlightSegmentV1,
    HotelSegmentV1,
    TravellerV1,
    TripCompletedV1,
    TripStartedV1,
    booking_subject,
)
from services.kit.contracts.envelope import Envelope, encode_envelope

NAMESPACE = uuid.UUID("5b0f6a52-3c47-4d8e-9a51-1f0c2e7d9b44")
ROUTES = [("FRA", "JFK", 8.7, "LH"), ("MUC", "LHR", 1.9, "LH"), ("BER", "CDG", 1.8, "AF"), ("LHR", "SIN", 13.2, "BA")]
HOTELS = [("Marriott Marquis", "MC", "New York", "US", 4), ("Hilton Paddington", "HH", "London", "GB", 4)]
SOURCES = ("flight-desk", "hotel-desk", "car-desk")
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


@dataclass(frozen=True)
class StreamEvent:
    """One event of the stream in its wire form."""

    event: Envelope[Any]
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def event_id(self) -> str:
        return str(self.event.event_id)


def _mailbox(given: str, family: str) -> str:
    local = f"{given}.{family}".translate(_ASCII).lower().replace(" ", "")
    return local.encode("ascii", "ignore").decode()


def _traveller(person: dict[str, str], variant: int) -> TravellerV1:
    """How each desk spells the same person (the demo feed's three styles)."""
    if variant == 0:
        return TravellerV1(
            given_name=person["given"],
            family_name=person["family"],
            email=person["email"],
            phone=person["phone"],
            date_of_birth=person["dob"],
            nationality="DE",
            language="en",
        )
    if variant == 1:  # airline style: FAMILY/GIVEN, upper-case email, local phone format
        return TravellerV1(
            full_name=f"{person['family'].upper()}/{person['given'].upper()}",
            email=person["email"].upper(),
            phone=person["local_phone"],
            nationality="Germany",
        )
    return TravellerV1(full_name=f"Dr. {person['given']} {person['family']}", email=person["email"])


def _segment(source: str, rnd: random.Random, departure: datetime) -> FlightSegmentV1 | HotelSegmentV1 | CarSegmentV1:
    if source == "flight-desk":
        origin, destination, hours, carrier = rnd.choice(ROUTES)
        return FlightSegmentV1(
            carrier=carrier,
            flight_number=str(rnd.randint(100, 999)),
            origin=origin,
            destination=destination,
            departure_at=departure,
            arrival_at=departure + timedelta(hours=hours),
            cabin="business" if hours > 6 else "economy",
            seat=f"{rnd.randint(1, 40)}{rnd.choice('ACDF')}",
            price=Decimal(rnd.randint(150, 3000)),
            currency="EUR",
        )
    if source == "hotel-desk":
        name, chain, city, country, stars = rnd.choice(HOTELS)
        return HotelSegmentV1(
            hotel_name=name,
            chain_code=chain,
            city=city,
            country=country,
            check_in=departure.date(),
            check_out=departure.date() + timedelta(days=2),
            star_rating=stars,
            nightly_rate=Decimal(240),
            currency="EUR",
        )
    return CarSegmentV1(
        vendor="ZE",
        pickup_location="FRA",
        dropoff_location="FRA",
        pickup_at=departure,
        dropoff_at=departure + timedelta(days=2),
        car_class="CDMR",
        price=Decimal(180),
        currency="EUR",
    )


def _names(fake: Faker, count: int) -> list[tuple[str, str]]:
    """`count` different (given, family) names. Two colleagues of the same name make identity
    resolution depend on which of their records arrives first (a record that names only the person
    may be linked to the namesake, and its booking's email go to them): a finding of its own, not a
    fault's doing, so the stream has none."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(out) < count:
        given, family = fake.first_name(), fake.last_name()
        if _mailbox(given, family) not in seen:
            seen.add(_mailbox(given, family))
            out.append((given, family))
    return out


def _traveller_events(i: int, name: tuple[str, str], fake: Faker, rnd: random.Random, anchor: datetime) -> list[Any]:
    """The payloads one traveller's booking systems send, in the order they send them."""
    given, family = name
    local = f"030 {rnd.randint(1000000, 9999999)}"
    person = {
        "given": given,
        "family": family,
        "email": f"{_mailbox(given, family)}.{i}@globex.example",
        "phone": "+49 " + local[1:],
        "local_phone": local,
        "dob": fake.date_of_birth(minimum_age=25, maximum_age=65).isoformat(),
    }
    out: list[Any] = []
    for variant, source in enumerate(SOURCES[: 1 + i % 3]):
        # Each desk's booking travels in its own ten weeks, so no two of a traveller's bookings make
        # one trip: when a trip of several bookings gets its survey depends on which of them is heard
        # of first (two keys, two partitions), and that differs between any two runs.
        start = anchor + timedelta(days=70 * variant)
        departure = start + timedelta(days=rnd.randint(3, 40), hours=rnd.randint(6, 20))
        segment = _segment(source, rnd, departure)
        booking_id = f"{source[:2].upper()}-{i:05d}"
        created = BookingCreatedV1(
            source_system=source,
            booking_id=booking_id,
            source_traveller_id=f"{source}-T{i:05d}",
            traveller=_traveller(person, variant),
            company={"name": "Globex GmbH", "email_domain": "globex.example"},
            segments=(segment,),
            trip_purpose="business",
        )
        out.append(created)
        ref = {
            "source_system": source,
            "booking_id": booking_id,
            "source_traveller_id": created.source_traveller_id,
            "traveller": created.traveller,
        }
        if isinstance(segment, FlightSegmentV1) and i % 4 == 0:
            # A frequent traveller: the same flight two weeks later, the same side of the cabin.
            assert segment.seat is not None
            again = segment.model_copy(
                update={
                    "departure_at": segment.departure_at + timedelta(days=14),
                    "arrival_at": segment.arrival_at + timedelta(days=14),
                    "seat": f"{rnd.randint(1, 40)}{segment.seat[-1]}",
                }
            )
            out.append(created.model_copy(update={"booking_id": f"{booking_id}-R", "segments": (again,)}))
        if (i + variant) % 5 == 1:
            changed = segment.model_copy(update=_moved(segment))
            out.append(BookingChangedV1(**{**created.model_dump(), "segments": (changed,), "change_reason": "moved"}))
        # A frequent traveller's first flight is never cancelled: whether preferences asks her to
        # confirm a habit would depend on whether the cancellation or the repeat flight (two keys,
        # two partitions) arrives first, in any run.
        frequent = isinstance(segment, FlightSegmentV1) and i % 4 == 0
        if (i + variant) % 7 == 3 and not frequent:
            out.append(BookingCancelledV1(**ref, reason="trip called off"))
        elif (i + variant) % 2 == 0:
            out.append(TripStartedV1(**ref))
            out.append(TripCompletedV1(**ref))
    return out


def _moved(segment: FlightSegmentV1 | HotelSegmentV1 | CarSegmentV1) -> dict[str, Any]:
    """A day later."""
    day = timedelta(days=1)
    if isinstance(segment, FlightSegmentV1):
        return {"departure_at": segment.departure_at + day, "arrival_at": segment.arrival_at + day}
    if isinstance(segment, HotelSegmentV1):
        return {"check_in": segment.check_in + day, "check_out": segment.check_out + day}
    return {"pickup_at": segment.pickup_at + day, "dropoff_at": segment.dropoff_at + day}


def anchor_for(day: date | None = None) -> datetime:
    """Midnight UTC of `day` (today by default): the stream's dates are relative to it."""
    return datetime.combine(day or datetime.now(UTC).date(), time(0), tzinfo=UTC)


def booking_stream(travellers: int, *, seed: int = 12, anchor: datetime | None = None) -> list[StreamEvent]:
    """The stream for `travellers` travellers: per-booking order kept, travellers interleaved."""
    fake = Faker("de_DE")
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    start = anchor or anchor_for()
    names = _names(fake, travellers)
    queues = [_traveller_events(i, names[i], fake, rnd, start) for i in range(travellers)]
    # Interleave: a random traveller's next event each time, so one person's bookings are spread out.
    order: list[Any] = []
    active = [q for q in queues if q]
    while active:
        queue = active[rnd.randrange(len(active))]
        order.append(queue.pop(0))
        active = [q for q in active if q]
    out = []
    for n, payload in enumerate(order):
        envelope = Envelope.new(
            payload,
            producer=payload.source_system,
            subject_id=booking_subject(payload.source_system, payload.booking_id),
            event_id=uuid.uuid5(NAMESPACE, f"{seed}/{n}/event"),
            correlation_id=uuid.uuid5(NAMESPACE, f"{seed}/{n}/correlation"),
            occurred_at=start - timedelta(hours=2) + timedelta(seconds=n),
        )
        out.append(
            StreamEvent(
                event=envelope,
                key=envelope.subject_id.encode(),
                value=encode_envelope(envelope),
                headers=envelope.headers(),
            )
        )
    return out


def describe(stream: list[StreamEvent]) -> dict[str, int]:
    """How many events of each type the stream has."""
    counts: dict[str, int] = {}
    for e in stream:
        counts[e.event.event_type] = counts.get(e.event.event_type, 0) + 1
    counts["total"] = len(stream)
    return counts
