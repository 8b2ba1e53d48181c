"""What the trips service publishes: trips (bookings of one journey) and what its journeys ask of others.

A trip groups a traveller's bookings that travel together (the booking system's trip reference, or
overlapping and adjacent dates). Journeys are declared per trip (pre-trip, disruption, post-trip):
their actions are requests other services carry out — notifications sends a message, feedback
opens or enriches a case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from services.kit.contracts.envelope import Payload

TripStatusName = Literal["planned", "in_progress", "completed", "cancelled", "merged"]
Criticality = Literal["normal", "critical"]
JourneyPurpose = Literal["transactional", "service", "marketing"]

# The message templates a journey may name; notifications renders each in English and German.
JourneyTemplate = Literal["journey_pre_trip", "journey_disruption", "journey_thank_you", "journey_apology"]
JOURNEY_TEMPLATES: tuple[str, ...] = (
    "journey_pre_trip", "journey_disruption", "journey_thank_you", "journey_apology",
)  # fmt: skip


class TripBookingV1(BaseModel):
    """One booking of a trip."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source_system: str
    booking_id: str
    status: Literal["active", "cancelled", "in_progress", "completed"]
    kinds: tuple[str, ...] = Field(default=(), description="Segment kinds: flight, hotel, car, rail")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None


class TripUpdatedV1(Payload):
    """A trip's current state (log-compacted, keyed by trip id). A trip merged into another names it."""

    event_type = "trip.updated"
    schema_version = 1

    trip_id: str
    customer_id: str
    company_id: str | None = None
    version: int = Field(ge=1)
    status: TripStatusName
    trip_reference: str | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    bookings: tuple[TripBookingV1, ...] = ()
    merged_into: str | None = Field(default=None, description="The trip this one joined (status `merged`)")
    updated_at: AwareDatetime


class _JourneyRequest(Payload):
    request_id: str = Field(description="Stable per journey run and step: a redelivered request changes nothing")
    customer_id: str
    trip_id: str
    journey: str
    journey_version: int = Field(ge=1)
    requested_at: AwareDatetime
    source_system: str | None = None
    booking_id: str | None = None


class JourneyMessageRequestedV1(_JourneyRequest):
    """A journey asks notifications to send the traveller a message.

    Consent and quiet hours apply as to any message; a `critical` one (a disruption) is not held
    by quiet hours. It goes on one channel, the first usable in the traveller's order.
    """

    event_type = "journey.message_requested"
    schema_version = 1

    template: JourneyTemplate
    purpose: JourneyPurpose
    criticality: Criticality = "normal"
    data: dict[str, JsonValue] = Field(default_factory=dict, description="What the template shows")


class JourneyCaseRequestedV1(_JourneyRequest):
    """A journey asks feedback to open a case for the account manager, or a call-back task for an agent.

    A call-back joins the open case of the same survey or booking when there is one.
    """

    event_type = "journey.case_requested"
    schema_version = 1

    action: Literal["case", "callback"]
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    survey_id: str | None = None


def trip_instant(value: datetime) -> datetime:
    """Trip times are carried to the second."""
    return value.replace(microsecond=0)
