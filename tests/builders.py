"""Builders of valid test events (override any field by keyword)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.kit.contracts.bookings import (
    BookingCreatedV1,
    FlightSegmentV1,
    HotelSegmentV1,
    TravellerV1,
    TripCompletedV1,
    booking_subject,
)
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.contracts.preferences import PreferenceConfirmationRequestedV1
from services.kit.sealing import ANSWER_TOKEN, SURVEY_LINK, link_sealer


def traveller(**overrides: Any) -> TravellerV1:
    values: dict[str, Any] = {
        "given_name": "Ann",
        "family_name": "Lee",
        "email": f"ann.lee.{uuid.uuid4().hex[:8]}@example.com",
        # unique per traveller: a shared phone is a strong identifier and would merge them all
        "phone": f"+49 30 {random.randint(2_000_000, 9_999_999)}",
        "date_of_birth": "1985-04-12",
        "nationality": "DE",
        "language": "en",
    }
    values.update(overrides)
    return TravellerV1(**values)


def booking_created(
    *, source_system: str = "acme-gds", booking_id: str | None = None, traveller_id: str | None = None, **overrides: Any
) -> Envelope[BookingCreatedV1]:
    booking_id = booking_id or f"BK-{uuid.uuid4().hex[:8].upper()}"
    departure = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    values: dict[str, Any] = {
        "source_system": source_system,
        "booking_id": booking_id,
        "source_traveller_id": traveller_id or f"T-{uuid.uuid4().hex[:8]}",
        "traveller": traveller(),
        "company": {"name": "Globex GmbH", "email_domain": "globex.example"},
        "segments": [
            FlightSegmentV1(
                carrier="LH",
                flight_number="400",
                origin="FRA",
                destination="JFK",
                departure_at=departure,
                arrival_at=departure + timedelta(hours=8, minutes=40),
                cabin="business",
                seat="2A",
                meal="VGML",
                price=2450,
                currency="EUR",
            ),
            HotelSegmentV1(
                hotel_name="Marriott Marquis",
                chain_code="MC",
                city="New York",
                country="US",
                check_in=(departure + timedelta(hours=12)).date(),
                check_out=(departure + timedelta(days=3)).date(),
                star_rating=4,
                nightly_rate=389,
                currency="USD",
            ),
        ],
        "total_price": 3617,
        "currency": "EUR",
    }
    values.update(overrides)
    payload = BookingCreatedV1(**values)
    return Envelope.new(payload, producer=source_system, subject_id=booking_subject(source_system, booking_id))


def trip_completed(created: Envelope[BookingCreatedV1]) -> Envelope[TripCompletedV1]:
    p = created.payload
    payload = TripCompletedV1(
        source_system=p.source_system,
        booking_id=p.booking_id,
        source_traveller_id=p.source_traveller_id,
        traveller=p.traveller,
    )
    return Envelope.new(payload, producer=p.source_system, subject_id=created.subject_id, caused_by=created)


def survey_link(invitation: SurveyInvitedV1) -> str:
    """The survey link a sealed invitation carries, opened with the process's link keys."""
    assert invitation.survey_url is None, "the link travels sealed, never in clear"
    assert invitation.sealed_survey_url is not None
    return link_sealer().open(invitation.sealed_survey_url, purpose=SURVEY_LINK, subject=invitation.survey_id)


def answer_token(question: PreferenceConfirmationRequestedV1) -> str:
    """The answer token a sealed confirmation question carries, opened with the process's link keys."""
    assert question.answer_token is None, "the token travels sealed, never in clear"
    assert question.sealed_answer_token is not None
    return link_sealer().open(question.sealed_answer_token, purpose=ANSWER_TOKEN, subject=question.request_id)


def match_features(company: str | None = None, **traveller: Any) -> Any:
    """A traveller's profile match features, as one source record of system "s" gives them (unit tests)."""
    from services.profile.domain.reading import source_record_from_traveller

    return source_record_from_traveller(
        source_system="s",
        source_id="1",
        traveller=traveller,
        company_name=company,
        seen_at=datetime(2026, 1, 1, tzinfo=UTC),
        phone_region="DE",
        passport_pepper="p",
    ).features()
