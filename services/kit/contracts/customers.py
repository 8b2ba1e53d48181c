"""What the profile service publishes: the golden customer record and resolved bookings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.kit.contracts.bookings import Segment
from services.kit.contracts.envelope import Payload


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class LoyaltyMembershipV1(_Part):
    programme: str
    number: str


class PostalAddressV1(_Part):
    """An address of the golden record, checked against its country's rules."""

    line: str | None = Field(default=None, description="As typed, when a source sent it on one line")
    street: str | None = None
    house_number: str | None = None
    postcode: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2")


class CustomerSnapshotV1(Payload):
    """The golden record of one customer; keyed by customer_id on a compacted topic.

    Sensitive identifiers (passport, national identity, known-traveller and redress numbers) are
    never part of the snapshot.
    """

    event_type = "customer.snapshot"
    schema_version = 1

    customer_id: str
    version: int = Field(ge=1, description="Increases with every change of the golden record")
    given_name: str | None = None
    family_name: str | None = None
    display_name: str
    email: str | None = Field(default=None, description="Best contact email (normalised)")
    email_deliverable: bool = Field(default=True, description="False once mail to it bounced")
    secondary_email: str | None = Field(
        default=None,
        description="Another address the traveller uses (for a business traveller whose `email` is the"
        " company's address: the newest private one)",
    )
    phone: str | None = Field(default=None, description="Best contact phone, E.164")
    date_of_birth: date | None = None
    nationality: str | None = None
    language: str | None = None
    time_zone: str | None = Field(
        default=None,
        description="IANA zone where the traveller is now, if known. The profile service does not track where"
        " travellers are (it sends null): services with the itinerary derive it",
    )
    home_time_zone: str | None = Field(
        default=None,
        description="IANA zone the traveller lives in: stated (by a source or an agent), or derived from the"
        " address country, the phone number or the company's country (see home_time_zone_source)",
    )
    home_time_zone_source: Literal["stated", "address", "phone", "company"] | None = Field(
        default=None, description="Whether home_time_zone was stated, or what it was derived from"
    )
    company_id: str | None = None
    company_name: str | None = None
    loyalty: tuple[LoyaltyMembershipV1, ...] = ()
    home_address: PostalAddressV1 | None = None
    business_address: PostalAddressV1 | None = None
    employee_number: str | None = Field(default=None, description="Within the traveller's company")
    other_emails: tuple[str, ...] = Field(default=(), description="Every other valid address the sources gave")
    other_phones: tuple[str, ...] = Field(default=(), description="Every other valid phone (E.164)")
    gender: str | None = Field(default=None, description="As the traveller stated it")
    source_record_count: int = 0
    quality_score: float | None = Field(default=None, ge=0, le=1)
    updated_at: AwareDatetime


class CustomerRedirectV1(Payload):
    """On the customer topic under an absorbed id: this customer now lives at `merged_into`."""

    event_type = "customer.redirect"
    schema_version = 1

    customer_id: str
    merged_into: str
    merged_at: AwareDatetime


class CustomerCreatedV1(Payload):
    """A new customer was created from a source record no existing customer matched."""

    event_type = "customer.created"
    schema_version = 1

    customer_id: str
    source_system: str
    source_record_id: str


class CustomerUpdatedV1(Payload):
    """Fields of the golden record changed."""

    event_type = "customer.updated"
    schema_version = 1

    customer_id: str
    version: int
    changed_fields: tuple[str, ...]


class CustomerMergedV1(Payload):
    """Two customers were found to be one; `absorbed_id` now redirects to `survivor_id`."""

    event_type = "customer.merged"
    schema_version = 1

    survivor_id: str
    absorbed_id: str
    merge_id: str
    reason: Literal["automatic", "review", "agent"]
    actor: str | None = None


class CustomerUnmergedV1(Payload):
    """A merge was undone; both customers exist again as before the merge."""

    event_type = "customer.unmerged"
    schema_version = 1

    survivor_id: str
    restored_id: str
    merge_id: str
    actor: str | None = None


BookingKind = Literal["created", "changed", "cancelled", "trip_started", "trip_completed"]


class ResolvedBookingV1(Payload):
    """A booking event re-published with the customer it resolved to.

    Carries the booking facts downstream services need, never the traveller's raw
    personal data: they read that from the customer view.
    """

    event_type = "booking.resolved"
    schema_version = 1

    customer_id: str
    company_id: str | None = None
    kind: BookingKind
    source_event_id: str
    source_system: str
    booking_id: str
    segments: tuple[Segment, ...] = ()
    total_price: Decimal | None = None
    currency: str | None = None
    trip_purpose: str | None = None
    occurred_at: AwareDatetime
    # Left out of the wire form when unknown, so a producer that does not know the field yet
    # writes the very bytes a consumer's model would (additive within v1).
    reason: str | None = Field(
        default=None,
        max_length=500,
        exclude_if=lambda value: value is None,
        description="Why the booking changed or was cancelled, as the booking system said",
    )
    trip_reference: str | None = Field(
        default=None,
        max_length=100,
        exclude_if=lambda value: value is None,
        description="The booking system's trip reference, when it gave one",
    )
