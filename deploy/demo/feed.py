"""Demo feed: booking events as several source systems would send them.

    python deploy/demo/feed.py [--travellers 20] [--bootstrap 127.0.0.1:9092] [--complete]

Travellers appear in more than one source (flight desk, hotel desk, car desk) with
the typical mess: upper-case emails, local phone formats, names as "LEE/ANN". Each
gets a booking, every fourth a second flight like the first (so preferences asks to confirm
what it inferred, and notifications emails the question); with --complete, trips also
complete (which triggers surveys).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiokafka import AIOKafkaProducer
from faker import Faker

from services.kit.contracts.bookings import (
    BookingCreatedV1,
    CarSegmentV1,
    FlightSegmentV1,
    HotelSegmentV1,
    TravellerV1,
    TripCompletedV1,
    booking_subject,
)
from services.kit.contracts.envelope import Envelope, encode_envelope

ROUTES = [("FRA", "JFK", 8.7, "LH"), ("MUC", "LHR", 1.9, "LH"), ("BER", "CDG", 1.8, "AF"), ("LHR", "SIN", 13.2, "BA")]
HOTELS = [("Marriott Marquis", "MC", "New York", "US", 4), ("Hilton Paddington", "HH", "London", "GB", 4)]
SOURCES = ("flight-desk", "hotel-desk", "car-desk")


_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def _mailbox(given: str, family: str) -> str:
    """Company mailboxes are ASCII: Jürgen Müller is juergen.mueller@..."""
    local = f"{given}.{family}".translate(_ASCII)
    folded = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "")


def _traveller(fake: Faker, person: dict[str, str], variant: int) -> TravellerV1:
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
    if variant == 1:  # airline style name, upper-case email, local phone format
        return TravellerV1(
            full_name=f"{person['family'].upper()}/{person['given'].upper()}",
            email=person["email"].upper(),
            phone=person["local_phone"],
            nationality="Germany",
        )
    return TravellerV1(full_name=f"Dr. {person['given']} {person['family']}", email=person["email"])


def events(n: int, *, complete: bool, seed: int) -> list[Envelope[BookingCreatedV1] | Envelope[TripCompletedV1]]:
    fake = Faker("de_DE")
    Faker.seed(seed)
    rnd = random.Random(seed)
    out: list[Envelope[BookingCreatedV1] | Envelope[TripCompletedV1]] = []
    for i in range(n):
        given, family = fake.first_name(), fake.last_name()
        local = f"030 {rnd.randint(1000000, 9999999)}"
        person = {
            "given": given,
            "family": family,
            "email": f"{_mailbox(given, family)}@globex.example",
            "phone": "+49 " + local[1:],
            "local_phone": local,
            "dob": fake.date_of_birth(minimum_age=25).isoformat(),
        }
        # One trip per traveller: the flight, hotel and car (booked in different systems) travel together.
        origin, dest, hours, carrier = rnd.choice(ROUTES)
        dep = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=rnd.randint(3, 40))
        for variant, source in enumerate(SOURCES[: 1 + i % 3]):
            segments: list[FlightSegmentV1 | HotelSegmentV1 | CarSegmentV1] = []
            if source == "flight-desk":
                segments.append(
                    FlightSegmentV1(
                        carrier=carrier,
                        flight_number=str(rnd.randint(100, 999)),
                        origin=origin,
                        destination=dest,
                        departure_at=dep,
                        arrival_at=dep + timedelta(hours=hours),
                        cabin="business" if hours > 6 else "economy",
                        seat=f"{rnd.randint(1, 40)}{rnd.choice('ACDF')}",
                        price=Decimal(rnd.randint(150, 3000)),
                        currency="EUR",
                    )
                )
            elif source == "hotel-desk":
                name, chain, city, country, stars = rnd.choice(HOTELS)
                segments.append(
                    HotelSegmentV1(
                        hotel_name=name,
                        chain_code=chain,
                        city=city,
                        country=country,
                        check_in=dep.date(),
                        check_out=dep.date() + timedelta(days=2),
                        star_rating=stars,
                        nightly_rate=Decimal(240),
                        currency="EUR",
                    )
                )
            else:
                segments.append(
                    CarSegmentV1(
                        vendor="ZE",
                        pickup_location="FRA",
                        dropoff_location="FRA",
                        pickup_at=dep,
                        dropoff_at=dep + timedelta(days=2),
                        car_class="CDMR",
                        price=Decimal(180),
                        currency="EUR",
                    )
                )
            booking_id = f"{source[:2].upper()}-{i:04d}-{rnd.randint(1000, 9999)}"
            payload = BookingCreatedV1(
                source_system=source,
                booking_id=booking_id,
                source_traveller_id=f"{source}-T{i:04d}",
                traveller=_traveller(fake, person, variant),
                company={"name": "Globex GmbH", "email_domain": "globex.example"},
                segments=tuple(segments),
                trip_purpose="business",
            )
            created = Envelope.new(payload, producer=source, subject_id=booking_subject(source, booking_id))
            out.append(created)
            if source == "flight-desk" and i % 4 == 0:
                # A frequent traveller: the same flight again two weeks later, the same side of the
                # cabin. Preferences infers her habits from the two and asks her to confirm one.
                first = segments[0]
                assert isinstance(first, FlightSegmentV1)
                assert first.seat is not None
                again = first.model_copy(
                    update={
                        "departure_at": first.departure_at + timedelta(days=14),
                        "arrival_at": first.arrival_at + timedelta(days=14),
                        "seat": f"{rnd.randint(1, 40)}{first.seat[-1]}",
                    }
                )
                repeat_id = f"{source[:2].upper()}-{i:04d}-{rnd.randint(1000, 9999)}"
                repeat = payload.model_copy(update={"booking_id": repeat_id, "segments": (again,)})
                out.append(Envelope.new(repeat, producer=source, subject_id=booking_subject(source, repeat_id)))
            if complete:
                done = TripCompletedV1(
                    source_system=source,
                    booking_id=booking_id,
                    source_traveller_id=payload.source_traveller_id,
                    traveller=payload.traveller,
                )
                out.append(Envelope.new(done, producer=source, subject_id=created.subject_id, caused_by=created))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--travellers", type=int, default=12)
    parser.add_argument("--bootstrap", default=os.environ.get("ITINERA_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--prefix", default=os.environ.get("ITINERA_TOPIC_PREFIX", ""))
    parser.add_argument("--complete", action="store_true", help="also complete each trip (sends survey invitations)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        batch = events(args.travellers, complete=args.complete, seed=args.seed)
        for event in batch:
            await producer.send(
                f"{args.prefix}booking.events.v1",
                encode_envelope(event),
                key=event.subject_id.encode(),
                headers=event.headers(),
            )
        await producer.flush()
    finally:
        await producer.stop()
    print(f"demo feed: published {len(batch)} booking events for {args.travellers} travellers")


if __name__ == "__main__":
    asyncio.run(main())
