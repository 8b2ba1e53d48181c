"""The profile's events are written from their fields (`encode_new`), without building models:
byte for byte the envelopes the models, validated and dumped, give."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.kit.contracts.bookings import BookingCancelledV1, BookingChangedV1
from services.kit.contracts.customers import (
    CustomerCreatedV1,
    CustomerSnapshotV1,
    CustomerUpdatedV1,
    LoyaltyMembershipV1,
    PostalAddressV1,
    ResolvedBookingV1,
)
from services.kit.contracts.envelope import EncodedEnvelope, Envelope, Payload, decode_envelope, encode_envelope
from services.profile.domain.golden import PendingSnapshot
from services.profile.domain.resolution import BookingInput
from services.profile.service_layer import events as resolver_events
from tests import builders

T0 = datetime(2026, 11, 22, 18, 0, 0, 123_456, tzinfo=UTC)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
# Any text the wire can carry: no NUL (decoding refuses it; PostgreSQL cannot store it) and no lone
# surrogate (not UTF-8: no JSON parser of ours, HTTP or Kafka, lets one through).
_chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
_text = st.text(_chars, max_size=12)
_optional = st.none() | st.text(_chars, min_size=1, max_size=12)
# A golden address as stored (`PostalAddress.to_json()`: only the parts known).
_address = st.fixed_dictionaries(
    {},
    optional={
        k: st.text(_chars, min_size=1, max_size=12)
        for k in ("line", "street", "house_number", "postcode", "city", "region", "country")
    },
)


def _expected(payload: Payload, encoded: EncodedEnvelope, caused_by: Envelope[Any] | None) -> bytes:
    """The same event as a model envelope, with the encoded event's id and time."""
    decoded = decode_envelope(encoded.wire, encoded.headers())
    envelope = Envelope.new(
        payload,
        producer=resolver_events.PRODUCER,
        subject_id=encoded.subject_id,
        caused_by=caused_by,
        correlation_id=None if caused_by else decoded.correlation_id,
        event_id=decoded.event_id,
        occurred_at=decoded.occurred_at,
    )
    assert encoded.headers() == envelope.headers()
    return encode_envelope(envelope)


@settings(max_examples=200, deadline=None)
@given(
    golden=st.fixed_dictionaries(
        {},
        optional={
            "given_name": _text,
            "family_name": _text,
            "display_name": _text,
            "email": _text,
            "phone": _text,
            "date_of_birth": st.dates(min_value=date(1900, 1, 1)).map(date.isoformat),
            "nationality": _text,
            "language": _text,
            "company_name": _text,
            "loyalty": st.lists(st.tuples(_text, _text).map(":".join) | _text, max_size=3),
            "secondary_email": _text,
            "home_time_zone": _text,
            "home_address": _address,
            "business_address": _address,
            "employee_number": _text,
            "other_emails": st.lists(_text, max_size=3),
            "other_phones": st.lists(_text, max_size=3),
            "gender": _text,
        },
    ),
    zone_source=st.none() | st.sampled_from(["stated", "address", "phone", "company"]),
    company_id=_optional,
    company_name=_optional,
    version=st.integers(1, 2**31 - 1),
    record_count=st.integers(0, 10_000),
    quality_score=st.none() | st.floats(0, 1),
    deliverable=st.booleans(),
    changed=st.none() | st.lists(_text, max_size=4).map(tuple),
    caused=st.booleans(),
    now=st.datetimes(timezones=ZONES, allow_imaginary=False),
)
@example(
    golden={"display_name": "", "loyalty": ["LH:1:2", "no-colon"], "given_name": 'Zoë "Q" \\ 😀'},
    company_id=None,
    company_name=None,
    version=1,
    record_count=1,
    quality_score=0.1 + 0.2,
    deliverable=False,
    changed=(),
    caused=False,
    now=T0,
    zone_source=None,
)
def test_property_snapshots_and_updates_are_what_their_models_dump(
    golden: dict[str, Any],
    company_id: str | None,
    company_name: str | None,
    version: int,
    record_count: int,
    quality_score: float | None,
    deliverable: bool,
    changed: tuple[str, ...] | None,
    caused: bool,
    now: datetime,
    zone_source: str | None,
) -> None:
    cause = builders.booking_created() if caused else None
    pending = PendingSnapshot(
        "cus_1",
        version,
        golden,
        company_id,
        company_name,
        record_count,
        quality_score,
        deliverable,
        changed,
        cause,
        zone_source,
    )
    events = resolver_events.snapshot_events([pending], now)
    assert [topic for topic, _ in events] == [resolver_events.CUSTOMERS_TOPIC] + (
        [resolver_events.CUSTOMER_EVENTS_TOPIC] if changed is not None else []
    )
    snapshot = _snapshot_model(
        "cus_1",
        version=version,
        golden=golden,
        company_id=company_id,
        company_name=company_name,
        record_count=record_count,
        quality_score=quality_score,
        email_deliverable=deliverable,
        now=now,
        zone_source=zone_source,
    )
    models: list[Payload] = [snapshot]
    if changed is not None:
        models.append(CustomerUpdatedV1(customer_id="cus_1", version=version, changed_fields=changed))
    for (_, event), model in zip(events, models, strict=True):
        assert isinstance(event, EncodedEnvelope)
        assert event.wire == _expected(model, event, cause)


@pytest.mark.parametrize("caused", [False, True])
@pytest.mark.parametrize("source", [("crm", "T-1"), ("acme-gds", 'id "ü" \\ 😀')])
def test_a_created_event_is_what_its_model_dumps(caused: bool, source: tuple[str, str]) -> None:
    cause = builders.booking_created() if caused else None
    topic, event = resolver_events.created_event("cus_2", source, cause)
    model = CustomerCreatedV1(customer_id="cus_2", source_system=source[0], source_record_id=source[1])
    assert topic == resolver_events.CUSTOMER_EVENTS_TOPIC
    assert event.wire == _expected(model, event, cause)


@pytest.mark.parametrize("company_id", [None, "com_1"])
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"total_price": Decimal("2450.5"), "currency": "EUR", "trip_purpose": "business"},
        {"total_price": Decimal("0.10"), "currency": "USD", "trip_purpose": None},
    ],
)
def test_a_resolved_booking_is_what_its_model_dumps(company_id: str | None, overrides: dict[str, Any]) -> None:
    source = builders.booking_created(**overrides)
    source = source.model_copy(update={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    p = source.payload
    booking = BookingInput(
        source_event=source,
        kind="created",
        booking_id=p.booking_id,
        segments=tuple(p.segments),
        total_price=p.total_price,
        currency=p.currency,
        trip_purpose=p.trip_purpose,
    )
    topic, event = resolver_events.resolved_event("cus_3", company_id, p.source_system, booking)
    model = ResolvedBookingV1(
        customer_id="cus_3",
        company_id=company_id,
        kind="created",
        source_event_id=str(source.event_id),
        source_system=p.source_system,
        booking_id=p.booking_id,
        segments=p.segments,
        total_price=p.total_price,
        currency=p.currency,
        trip_purpose=p.trip_purpose,
        occurred_at=source.occurred_at,
    )
    assert topic == resolver_events.RESOLVED_BOOKINGS_TOPIC
    assert event.wire == _expected(model, event, source)


def _snapshot_model(
    customer_id: str,
    *,
    version: int,
    golden: Mapping[str, Any],
    company_id: str | None,
    company_name: str | None,
    record_count: int,
    quality_score: float | None,
    email_deliverable: bool,
    now: datetime,
    zone_source: str | None = None,
) -> CustomerSnapshotV1:
    """The snapshot as a model: what the resolver's JSON form must dump like."""
    loyalty = tuple(
        LoyaltyMembershipV1(programme=p, number=n)
        for p, _, n in (entry.partition(":") for entry in golden.get("loyalty") or [])
    )
    return CustomerSnapshotV1(
        customer_id=customer_id,
        version=version,
        given_name=golden.get("given_name"),
        family_name=golden.get("family_name"),
        display_name=golden.get("display_name") or "(unnamed)",
        email=golden.get("email"),
        email_deliverable=email_deliverable,
        secondary_email=golden.get("secondary_email"),
        phone=golden.get("phone"),
        date_of_birth=golden.get("date_of_birth"),
        nationality=golden.get("nationality"),
        language=golden.get("language"),
        home_time_zone=golden.get("home_time_zone"),
        home_time_zone_source=zone_source if golden.get("home_time_zone") else None,
        company_id=company_id,
        company_name=company_name,
        loyalty=loyalty,
        home_address=PostalAddressV1(**golden["home_address"]) if golden.get("home_address") else None,
        business_address=PostalAddressV1(**golden["business_address"]) if golden.get("business_address") else None,
        employee_number=golden.get("employee_number"),
        other_emails=tuple(golden.get("other_emails") or ()),
        other_phones=tuple(golden.get("other_phones") or ()),
        gender=golden.get("gender"),
        source_record_count=record_count,
        quality_score=quality_score,
        updated_at=now,
    )


@pytest.mark.parametrize(("kind", "field"), [("changed", "change_reason"), ("cancelled", "reason")])
def test_a_resolved_booking_carries_the_booking_systems_reason(kind: str, field: str) -> None:
    """The traveller's change or cancellation email says why (notifications reads `reason`)."""
    created = builders.booking_created()
    p = created.payload
    if kind == "changed":
        payload: Any = BookingChangedV1(**(p.model_dump() | {field: "schedule change by the airline"}))
    else:
        payload = BookingCancelledV1(
            source_system=p.source_system, booking_id=p.booking_id, source_traveller_id=p.source_traveller_id,
            traveller=p.traveller, **{field: "schedule change by the airline"},
        )  # fmt: skip
    source = Envelope.new(payload, producer=p.source_system, subject_id=created.subject_id)
    segments = tuple(p.segments) if kind == "changed" else ()
    booking = BookingInput(
        source_event=source, kind=kind, booking_id=p.booking_id, segments=segments,
        total_price=None, currency=None, trip_purpose=None,
    )  # fmt: skip
    _, event = resolver_events.resolved_event("cus_3", None, p.source_system, booking)
    assert decode_envelope(event.wire).payload.reason == "schedule change by the airline"
