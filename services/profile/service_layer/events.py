"""The profile service's events in their wire form: customer created, snapshot, updated, and the
booking re-published with its customer.

Built as the bytes their models would give (pinned by the unit tests), from the payload's
fields, without validating and dumping a model per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from services.kit.contracts.customers import (
    CustomerCreatedV1,
    CustomerSnapshotV1,
    CustomerUpdatedV1,
    ResolvedBookingV1,
)
from services.kit.contracts.envelope import EncodedEnvelope, Envelope, encode_new
from services.profile.domain.golden import PendingSnapshot, snapshot_json
from services.profile.domain.resolution import BookingInput, SourceKey

PRODUCER = "profile"
CUSTOMERS_TOPIC = "profile.customers.v1"
CUSTOMER_EVENTS_TOPIC = "profile.customer-events.v1"
RESOLVED_BOOKINGS_TOPIC = "profile.bookings.v1"

Outgoing = list[tuple[str, Envelope[Any] | EncodedEnvelope]]


def encoded(
    model: type[CustomerSnapshotV1 | CustomerCreatedV1 | CustomerUpdatedV1 | ResolvedBookingV1],
    payload: Mapping[str, Any],
    subject: str,
    caused_by: Envelope[Any] | None,
) -> EncodedEnvelope:
    """`Envelope.new(model(**payload), producer=PRODUCER, ...)` in its wire form, from the payload's
    fields (in the model's field order, every field present, values as the model holds them:
    pydantic-core writes them as `model_dump_json` does)."""
    return encode_new(model, to_json(payload), producer=PRODUCER, subject_id=subject, caused_by=caused_by)


def created_event(customer_id: str, record: SourceKey, caused_by: Envelope[Any] | None) -> tuple[str, EncodedEnvelope]:
    """customer.created for a customer made from `record` (source system, source id)."""
    payload = {"customer_id": customer_id, "source_system": record[0], "source_record_id": record[1]}
    return CUSTOMER_EVENTS_TOPIC, encoded(CustomerCreatedV1, payload, customer_id, caused_by)


def resolved_event(
    customer_id: str, company_id: str | None, source_system: str, b: BookingInput
) -> tuple[str, EncodedEnvelope]:
    """booking.resolved: the booking re-published with its customer (its values validated already)."""
    payload = {
        "customer_id": customer_id,
        "company_id": company_id,
        "kind": b.kind,
        "source_event_id": str(b.source_event.event_id),
        "source_system": source_system,
        "booking_id": b.booking_id,
        "segments": b.segments,
        "total_price": b.total_price,
        "currency": b.currency,
        "trip_purpose": b.trip_purpose,
        "occurred_at": b.source_event.occurred_at,
    }
    # Why a booking changed or was cancelled, as its system said (for the traveller's email); absent
    # when unknown, as the model writes it.
    source = b.source_event.payload
    reason = getattr(source, "change_reason", None) or getattr(source, "reason", None)
    if reason is not None:
        payload["reason"] = reason
    trip_reference = getattr(source, "trip_reference", None)
    if trip_reference is not None:
        payload["trip_reference"] = trip_reference
    return RESOLVED_BOOKINGS_TOPIC, encoded(ResolvedBookingV1, payload, customer_id, b.source_event)


def snapshot_events(pending: Sequence[PendingSnapshot], now: datetime) -> Outgoing:
    """Snapshots and update events in their wire form: the bytes their models would give (pinned by
    the unit tests), without validating and dumping a model per event."""
    events: Outgoing = []
    for p in pending:
        snapshot = snapshot_json(
            p.customer_id,
            version=p.version,
            golden=p.golden,
            company_id=p.company_id,
            company_name=p.company_name,
            record_count=p.record_count,
            quality_score=p.quality_score,
            email_deliverable=p.email_deliverable,
            now=now,
            home_time_zone_source=p.home_time_zone_source,
        )
        events.append((CUSTOMERS_TOPIC, encoded(CustomerSnapshotV1, snapshot, p.customer_id, p.caused_by)))
        if p.changed is not None:
            updated = {"customer_id": p.customer_id, "version": p.version, "changed_fields": p.changed}
            events.append((CUSTOMER_EVENTS_TOPIC, encoded(CustomerUpdatedV1, updated, p.customer_id, p.caused_by)))
    return events
