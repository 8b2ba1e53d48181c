"""The contract booking systems emit on `booking.events.v1` (or POST over HTTP).

Traveller details are carried *as the source system knows them*: free-text names, an
email or phone in whatever format the desk typed. The profile service normalises them
and keeps invalid values flagged rather than rejecting the booking, so these fields are
deliberately loose strings. Segment facts (times, codes, prices) are strict: a booking
system that cannot say when a flight departs has sent a broken event.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from services.kit.contracts.envelope import Payload

IATA_AIRPORT = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="IATA airport/city code")]
IATA_CARRIER = Annotated[str, Field(pattern=r"^[A-Z0-9]{2}$", description="IATA airline designator")]
CURRENCY = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code")]
COUNTRY = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code")]
MONEY = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
SHORT_TEXT = Annotated[str, Field(max_length=200)]

Cabin = Literal["economy", "premium_economy", "business", "first"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class LoyaltyNumberV1(_Part):
    """A loyalty programme membership as the source recorded it."""

    programme: str = Field(
        min_length=1, max_length=50, description="Programme code, e.g. 'LH-MilesAndMore' or carrier code 'LH'"
    )
    number: str = Field(min_length=1, max_length=50)


ClearableField = Literal[
    "email",
    "phone",
    "date_of_birth",
    "nationality",
    "language",
    "loyalty_numbers",
    "passport_number",
    "address_country",
    "home_time_zone",
    "home_address",
    "business_address",
    "employee_number",
    "national_id_number",
    "known_traveller_number",
    "redress_number",
    "secondary_emails",
    "secondary_phones",
    "gender",
]


class AddressV1(_Part):
    """A postal address as the source holds it: structured, one line as typed, or both."""

    line: str | None = Field(default=None, max_length=300, description="The whole address on one line, as typed")
    street: str | None = Field(default=None, max_length=200, description="Street name and house number")
    house_number: str | None = Field(default=None, max_length=30)
    postcode: str | None = Field(default=None, max_length=20)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100, description="State, province or county")
    country: str | None = Field(default=None, max_length=60, description="ISO 3166-1 code or name")


# "At least one of the names, not empty" (the validator below), said in the schema too.
_HAS_A_NAME: dict[str, Any] = {
    "anyOf": [
        {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
        for name in ("full_name", "given_name", "family_name")
    ]
}


class TravellerV1(_Part):
    """A traveller as one source system knows them (typos, formats and all)."""

    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_extra=_HAS_A_NAME)

    given_name: SHORT_TEXT | None = None
    family_name: SHORT_TEXT | None = None
    full_name: SHORT_TEXT | None = Field(default=None, description="Name as typed, when the source does not split it")
    title: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    date_of_birth: str | None = Field(default=None, max_length=30, description="As recorded; ISO 8601 preferred")
    nationality: str | None = Field(default=None, max_length=60)
    passport_number: str | None = Field(
        default=None, max_length=30, description="Sensitive: hashed on receipt, never republished"
    )
    passport_country: str | None = Field(default=None, max_length=60)
    loyalty_numbers: tuple[LoyaltyNumberV1, ...] = Field(default=(), max_length=30)
    language: str | None = Field(default=None, max_length=20)
    address_country: str | None = Field(
        default=None, max_length=60, description="Country of the traveller's home address (ISO 3166-1 code or name)"
    )
    home_time_zone: str | None = Field(
        default=None, max_length=64, description="The traveller's home time zone (IANA name, e.g. Europe/Berlin)"
    )
    home_address: AddressV1 | None = None
    business_address: AddressV1 | None = None
    employee_number: str | None = Field(
        default=None, max_length=50, description="The traveller's number in their company's HR system"
    )
    national_id_number: str | None = Field(
        default=None, max_length=30, description="Sensitive: hashed on receipt, never republished"
    )
    national_id_country: str | None = Field(default=None, max_length=60, description="Issuing country")
    known_traveller_number: str | None = Field(
        default=None, max_length=30, description="Trusted-traveller number. Sensitive: hashed, never republished"
    )
    redress_number: str | None = Field(default=None, max_length=30, description="Sensitive: hashed, never republished")
    secondary_emails: tuple[Annotated[str, Field(max_length=320)], ...] = Field(default=(), max_length=5)
    secondary_phones: tuple[Annotated[str, Field(max_length=50)], ...] = Field(default=(), max_length=5)
    gender: str | None = Field(default=None, max_length=30, description="As the traveller stated it")
    cleared: tuple[ClearableField, ...] = Field(
        default=(),
        max_length=20,
        description="Fields the source states the traveller no longer has (e.g. a phone number removed from the"
        " profile). A field that is absent or null is only not stated: what other events said about it is kept.",
    )

    @model_validator(mode="after")
    def _has_a_name(self) -> TravellerV1:
        if not (self.full_name or self.given_name or self.family_name):
            raise ValueError("traveller needs full_name or given_name/family_name")
        return self


class CompanyV1(_Part):
    """The corporate account the trip is booked for, as the source knows it."""

    name: str = Field(min_length=1, max_length=200)
    source_company_id: str | None = Field(default=None, max_length=100)
    email_domain: str | None = Field(default=None, max_length=255)
    country: COUNTRY | None = Field(default=None, description="Where the account is based (a home time zone basis)")


class FlightSegmentV1(_Part):
    kind: Literal["flight"] = "flight"
    carrier: IATA_CARRIER
    flight_number: str = Field(pattern=r"^[0-9]{1,4}[A-Z]?$")
    origin: IATA_AIRPORT
    destination: IATA_AIRPORT
    departure_at: AwareDatetime
    arrival_at: AwareDatetime
    cabin: Cabin = "economy"
    fare_class: str | None = Field(default=None, pattern=r"^[A-Z]$")
    fare_type: Literal["restricted", "flexible", "fully_refundable"] | None = None
    seat: str | None = Field(default=None, pattern=r"^[0-9]{1,2}[A-K]$", description="Seat number, e.g. '14C'")
    meal: str | None = Field(default=None, max_length=10, description="IATA SSR meal code, e.g. VGML")
    stops: int = Field(default=0, ge=0, le=5)
    price: MONEY | None = None
    currency: CURRENCY | None = None

    @model_validator(mode="after")
    def _times_in_order(self) -> FlightSegmentV1:
        if self.arrival_at <= self.departure_at:
            raise ValueError("arrival_at must be after departure_at")
        return self


class HotelSegmentV1(_Part):
    kind: Literal["hotel"] = "hotel"
    hotel_name: SHORT_TEXT
    chain_code: str | None = Field(
        default=None, pattern=r"^[A-Z0-9]{2}$", description="GDS hotel chain code, e.g. 'MC'"
    )
    property_id: str | None = Field(default=None, max_length=50)
    city: SHORT_TEXT
    country: COUNTRY
    check_in: date
    check_out: date
    room_type: str | None = Field(default=None, max_length=50)
    star_rating: int | None = Field(default=None, ge=1, le=5)
    nightly_rate: MONEY | None = None
    currency: CURRENCY | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> HotelSegmentV1:
        if self.check_out <= self.check_in:
            raise ValueError("check_out must be after check_in")
        return self


class CarSegmentV1(_Part):
    kind: Literal["car"] = "car"
    vendor: str = Field(pattern=r"^[A-Z0-9]{2}$", description="Car rental vendor code, e.g. 'ZE'")
    pickup_location: SHORT_TEXT
    dropoff_location: SHORT_TEXT
    pickup_at: AwareDatetime
    dropoff_at: AwareDatetime
    car_class: str | None = Field(default=None, pattern=r"^[A-Z]{4}$", description="ACRISS code, e.g. 'CDMR'")
    price: MONEY | None = None
    currency: CURRENCY | None = None


class RailSegmentV1(_Part):
    kind: Literal["rail"] = "rail"
    operator: str = Field(min_length=1, max_length=50)
    origin: SHORT_TEXT
    destination: SHORT_TEXT
    departure_at: AwareDatetime
    arrival_at: AwareDatetime
    travel_class: Literal["first", "second", "business", "standard"] = "standard"
    seat: str | None = Field(default=None, max_length=10)
    price: MONEY | None = None
    currency: CURRENCY | None = None


Segment = Annotated[
    FlightSegmentV1 | HotelSegmentV1 | CarSegmentV1 | RailSegmentV1,
    Field(discriminator="kind"),
]


class _BookingState(Payload):
    source_system: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    booking_id: str = Field(min_length=1, max_length=100, description="The source system's booking reference")
    source_traveller_id: str = Field(min_length=1, max_length=100)
    traveller: TravellerV1
    company: CompanyV1 | None = None
    segments: tuple[Segment, ...] = Field(min_length=1, max_length=50)
    total_price: MONEY | None = None
    currency: CURRENCY | None = None
    trip_purpose: Literal["business", "leisure", "mixed"] | None = None
    trip_reference: str | None = Field(
        default=None,
        max_length=100,
        description="The booking system's reference of the trip this booking belongs to (bookings sharing it are"
        " one trip)",
    )


class BookingCreatedV1(_BookingState):
    """A source system created a booking (its full state)."""

    event_type = "booking.created"
    schema_version = 1


class BookingChangedV1(_BookingState):
    """A booking changed; the payload is its full new state, not a diff."""

    event_type = "booking.changed"
    schema_version = 1
    change_reason: str | None = Field(default=None, max_length=500)


class _BookingRef(Payload):
    source_system: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    booking_id: str = Field(min_length=1, max_length=100)
    source_traveller_id: str = Field(min_length=1, max_length=100)
    traveller: TravellerV1


class BookingCancelledV1(_BookingRef):
    """A booking was cancelled."""

    event_type = "booking.cancelled"
    schema_version = 1
    reason: str | None = Field(default=None, max_length=500)


class TripStartedV1(_BookingRef):
    """The traveller started the trip (first segment began)."""

    event_type = "trip.started"
    schema_version = 1


class TripCompletedV1(_BookingRef):
    """The trip ended (last segment finished)."""

    event_type = "trip.completed"
    schema_version = 1


BookingEvent = BookingCreatedV1 | BookingChangedV1 | BookingCancelledV1 | TripStartedV1 | TripCompletedV1
BOOKING_PAYLOADS: tuple[type[Payload], ...] = (
    BookingCreatedV1,
    BookingChangedV1,
    BookingCancelledV1,
    TripStartedV1,
    TripCompletedV1,
)


def booking_subject(source_system: str, booking_id: str) -> str:
    """The Kafka key of a booking's events: all events of one booking stay in order."""
    return f"{source_system}:{booking_id}"
