"""One survey per trip, and what became of its invitation.

A traveller's bookings that travel together (the flight out, the hotel, the rental car and
the flight home, booked in different systems) are one trip and get one survey, once the trip
is over (`domain.trips.survey_for_trip`). Deciding runs under a per-customer lock, so two
bookings of one trip completing at once still give one survey. A job settles trips whose open
bookings ended without a completion report.

The invitation's fate comes back from the notifications service on
`notifications.deliveries.v1` (held for quiet hours, sent, suppressed, failed), matched by
the SurveyInvitedV1 event that asked for it.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from services.feedback.adapters import repository as repo
from services.feedback.adapters import trips
from services.feedback.domain.surveys import Invitation, InvitationStatus, Survey, expiry, invitation_changes
from services.feedback.domain.trips import TripStatus, survey_for_trip, trip_of
from services.feedback.service_layer.common import current_customer, new_id, token_digest
from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1, RailSegmentV1, Segment
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.contracts.notifications import DeliveryFailedV1, DeliveryHeldV1, DeliverySentV1
from services.kit.db import connection
from services.kit.outbox import enqueue
from services.kit.sealing import SURVEY_LINK, link_sealer

log = logging.getLogger(__name__)

PRODUCER = "feedback"
SURVEYS_TOPIC = "feedback.surveys.v1"
TOKEN_BYTES = 32


def _day(d: date, at: time) -> datetime:
    # Hotel dates have no zone: usual check-in and check-out times read as UTC, and the trip gap
    # (a day either side) absorbs the difference.
    return datetime.combine(d, at, tzinfo=UTC)


def booking_span(segments: tuple[Segment, ...]) -> tuple[datetime, datetime] | None:
    """When a booking travels: from its first departure (check-in, pick-up) to its last arrival."""
    bounds: list[datetime] = []
    for s in segments:
        if isinstance(s, FlightSegmentV1 | RailSegmentV1):
            bounds += [s.departure_at, s.arrival_at]
        elif isinstance(s, HotelSegmentV1):
            bounds += [_day(s.check_in, time(15)), _day(s.check_out, time(11))]
        elif isinstance(s, CarSegmentV1):
            bounds += [s.pickup_at, s.dropoff_at]
    return (min(bounds), max(bounds)) if bounds else None


async def settle_trip(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    source_system: str,
    booking_id: str,
    public_base_url: str,
    ttl: timedelta,
    settle: timedelta,
    now: datetime,
    caused_by: Envelope[Any] | None = None,
) -> str | None:
    """Invite the traveller to the survey of the booking's trip if the trip is over; returns a new survey's id."""
    await trips.lock_customer_trips(conn, customer_id)
    anchor = await trips.booking(conn, source_system, booking_id)
    if anchor is None:
        return None
    ids = await repo.customer_aliases(conn, customer_id)
    nearby = await trips.bookings_near(conn, ids, anchor.start or now)
    trip = trip_of(anchor, nearby)
    decision = survey_for_trip(trip, now=now, settle=settle)
    travelling = [b.key for b in trip if b.status is not TripStatus.CANCELLED]
    if decision.existing_survey_id is not None:
        await trips.cover(conn, travelling, decision.existing_survey_id)
        return None
    if not decision.create:
        return None
    # The survey is filed under the trip's first completed booking.
    first = next(b for b in trip if b.status is TripStatus.COMPLETED)
    company_id = await _company_of(conn, first.source_system, first.booking_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    survey = Survey(
        survey_id=new_id("srv"),
        customer_id=customer_id,
        source_system=first.source_system,
        booking_id=first.booking_id,
        company_id=company_id,
        created_at=now,
        expires_at=expiry(now, ttl),
    )
    invited = SurveyInvitedV1(
        survey_id=survey.survey_id,
        customer_id=customer_id,
        booking_id=first.booking_id,
        source_system=first.source_system,
        # The link's token is the traveller's credential: it travels sealed, never in clear.
        sealed_survey_url=link_sealer().seal(
            f"{public_base_url}/surveys/{token}", purpose=SURVEY_LINK, subject=survey.survey_id
        ),
        expires_at=survey.expires_at,
    )
    envelope = Envelope.new(invited, producer=PRODUCER, subject_id=customer_id, caused_by=caused_by)
    if not await repo.insert_survey(
        conn, survey, token_hash=token_digest(token), invitation_event_id=envelope.event_id
    ):
        log.info("booking %s:%s already has a survey", first.source_system, first.booking_id)
        return None
    await trips.cover(conn, travelling, survey.survey_id)
    await enqueue(conn, topic=SURVEYS_TOPIC, envelope=envelope)
    log.info("survey %s invited for a trip of %d booking(s)", survey.survey_id, len(travelling))
    return survey.survey_id


async def _company_of(conn: asyncpg.Connection, source_system: str, booking_id: str) -> str | None:
    trip = await repo.get_trip_for_update(conn, source_system, booking_id)
    return trip.company_id if trip is not None else None


async def settle_open_trips(
    pool: asyncpg.Pool, *, public_base_url: str, ttl: timedelta, settle: timedelta, now: datetime, limit: int
) -> int:
    """Survey trips whose open bookings ended `settle` ago without a completion report; returns how many.

    Goes through every completed booking of the last 90 days whose trip has no survey yet, `limit` at a time.
    """
    invited = 0
    after: trips.AwaitingKey | None = None
    while True:
        async with connection(pool) as conn:
            page = await trips.awaiting_survey(conn, since=now - timedelta(days=90), after=after, limit=limit)
        for key, customer_id in page:
            async with connection(pool, transaction=True) as conn:
                current, _ = await current_customer(conn, customer_id)
                survey_id = await settle_trip(
                    conn, customer_id=current, source_system=key[1], booking_id=key[2],
                    public_base_url=public_base_url, ttl=ttl, settle=settle, now=now,
                )  # fmt: skip
                invited += survey_id is not None
        if len(page) < limit:
            return invited
        after = page[-1][0]


# Invitation reports


async def handle_delivery_report(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """A survey invitation was sent, held, suppressed or failed: the survey shows it."""
    p = event.payload
    if not isinstance(p, DeliverySentV1 | DeliveryHeldV1 | DeliveryFailedV1):
        return
    if p.template != "survey_invitation" or p.cause_event_id is None:
        return
    try:
        cause = uuid.UUID(p.cause_event_id)
    except ValueError:
        return
    found = await trips.invitation_for_update(conn, cause)
    if found is None:
        return
    survey_id, current = found
    if isinstance(p, DeliveryFailedV1):
        reported = Invitation(
            InvitationStatus.SUPPRESSED if p.status == "suppressed" else InvitationStatus.FAILED,
            event.occurred_at,
            detail=p.reason[:500],
        )
    elif isinstance(p, DeliveryHeldV1):
        reported = Invitation(InvitationStatus.HELD, event.occurred_at, held_until=p.held_until,
                              detail=f"quiet hours ({p.time_zone})" if p.time_zone else "quiet hours")  # fmt: skip
    else:
        reported = Invitation(InvitationStatus.SENT, p.sent_at)
    assert reported.at is not None
    if invitation_changes(current.status, current.at, reported.status, reported.at):
        await trips.save_invitation(conn, survey_id, reported)
