"""Profile use cases: resolve a source record to a customer, keep the golden record, publish.

Each handler runs inside the caller's transaction (the consumer's savepoint or an API
request's transaction) and writes its events to the outbox in that same transaction.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.kit.contracts.bookings import (
    BookingCancelledV1,
    BookingChangedV1,
    BookingCreatedV1,
    CompanyV1,
    TripCompletedV1,
    TripStartedV1,
)
from services.kit.contracts.customers import (
    BookingKind,
    CustomerCreatedV1,
    CustomerSnapshotV1,
    CustomerUpdatedV1,
    LoyaltyMembershipV1,
    ResolvedBookingV1,
)
from services.kit.contracts.envelope import Envelope
from services.kit.outbox import enqueue_many
from services.profile.adapters import repository as repo
from services.profile.domain import normalize
from services.profile.domain.model import SourceRecord, golden_record, source_record_from_traveller

log = logging.getLogger(__name__)

PRODUCER = "profile"
CUSTOMERS_TOPIC = "profile.customers.v1"
CUSTOMER_EVENTS_TOPIC = "profile.customer-events.v1"
RESOLVED_BOOKINGS_TOPIC = "profile.bookings.v1"

_KIND: dict[type, BookingKind] = {
    BookingCreatedV1: "created",
    BookingChangedV1: "changed",
    BookingCancelledV1: "cancelled",
    TripStartedV1: "trip_started",
    TripCompletedV1: "trip_completed",
}
_LEGAL_FORMS = r"\b(gmbh|ag|se|kg|ltd|limited|llc|inc|incorporated|corp|corporation|plc|sa|sas|bv|nv|co|company)\b\.?"


@dataclass(frozen=True)
class ProfileConfig:
    phone_region: str | None
    passport_pepper: str


@dataclass(frozen=True)
class Resolution:
    customer_id: str
    rule: str
    created: bool


def new_customer_id() -> str:
    return f"cus_{uuid.uuid4().hex}"


def company_key(name: str) -> str:
    """Legal-name key: accents, case, punctuation and legal forms removed."""
    return re.sub(r"\s+", " ", re.sub(_LEGAL_FORMS, " ", normalize.fold(name))).strip()


async def resolve_company(conn: asyncpg.Connection, company: CompanyV1 | None) -> str | None:
    if company is None:
        return None
    key = company_key(company.name)
    if not key:
        return None
    return await repo.find_or_create_company(
        conn, company_id=f"com_{uuid.uuid4().hex}", name=company.name, name_key=key, email_domain=company.email_domain
    )


async def resolve_record(conn: asyncpg.Connection, record: SourceRecord, *, company_id: str | None) -> Resolution:
    """Find the customer a source record belongs to, or create one.

    Order: an existing link of this source record; then a strong identifier held by
    exactly one active customer; otherwise a new customer. Concurrent records sharing
    an identity are serialised by advisory locks, so they resolve to one customer.
    """
    ids = record.identifiers()
    await repo.lock_identities(
        conn, [f"src:{record.source_system}:{record.source_id}", *(f"id:{i.kind}:{i.value}" for i in ids)]
    )
    linked = await repo.customer_for_source(conn, record.source_system, record.source_id)
    if linked is not None:
        return Resolution(linked, "source-link", created=False)
    matches = await repo.customers_by_identifiers(conn, ids)
    candidates = sorted({cid for cid, _ in matches})
    if len(candidates) >= 1:
        # Several customers sharing strong identifiers with one record are duplicates of
        # each other; link to the oldest id (stable choice).
        chosen = candidates[0]
        kinds = sorted({kind for cid, kind in matches if cid == chosen})
        return Resolution(chosen, "identifier:" + "+".join(kinds), created=False)
    customer_id = new_customer_id()
    await repo.create_customer(conn, customer_id, company_id)
    return Resolution(customer_id, "new", created=True)


async def refresh_golden(
    conn: asyncpg.Connection, customer_id: str, *, company_id: str | None, caused_by: Envelope[Any] | None, now: datetime
) -> list[tuple[str, Envelope[Any]]]:
    """Recompute the golden record; returns the snapshot/change events to publish (none if unchanged)."""
    current = await repo.get_customer(conn, customer_id)
    assert current is not None
    golden = golden_record(await repo.stored_records(conn, customer_id))
    golden_json = repo.golden_to_json(golden)
    old_values = {k: v.get("value") for k, v in (current["golden"] or {}).items()}
    new_values = {k: v["value"] for k, v in golden_json.items()}
    company_changed = company_id is not None and company_id != current["company_id"]
    changed = sorted(k for k in set(old_values) | set(new_values) if old_values.get(k) != new_values.get(k))
    if not changed and not company_changed and current["version"] > 1:
        return []
    version = await repo.save_golden(conn, customer_id, golden_json, company_id, now)
    snapshot = await snapshot_for(conn, customer_id, now=now)
    events: list[tuple[str, Envelope[Any]]] = [
        (CUSTOMERS_TOPIC, Envelope.new(snapshot, producer=PRODUCER, subject_id=customer_id, caused_by=caused_by)),
    ]
    if version > 2:
        events.append(
            (
                CUSTOMER_EVENTS_TOPIC,
                Envelope.new(
                    CustomerUpdatedV1(customer_id=customer_id, version=version, changed_fields=tuple(changed)),
                    producer=PRODUCER,
                    subject_id=customer_id,
                    caused_by=caused_by,
                ),
            )
        )
    return events


async def snapshot_for(conn: asyncpg.Connection, customer_id: str, *, now: datetime) -> CustomerSnapshotV1:
    """The compacted-topic snapshot of a customer's current golden record."""
    row = await repo.get_customer(conn, customer_id)
    assert row is not None
    g = {k: v.get("value") for k, v in (row["golden"] or {}).items()}
    loyalty = tuple(
        LoyaltyMembershipV1(programme=p, number=n) for p, _, n in (entry.partition(":") for entry in g.get("loyalty") or [])
    )
    return CustomerSnapshotV1(
        customer_id=customer_id,
        version=row["version"],
        given_name=g.get("given_name"),
        family_name=g.get("family_name"),
        display_name=g.get("display_name") or "(unnamed)",
        email=g.get("email"),
        phone=g.get("phone"),
        date_of_birth=g.get("date_of_birth"),
        nationality=g.get("nationality"),
        language=g.get("language"),
        company_id=row["company_id"],
        company_name=row["company_name"],
        loyalty=loyalty,
        source_record_count=row["source_record_count"],
        updated_at=now,
    )


async def handle_booking_event(conn: asyncpg.Connection, event: Envelope[Any], *, config: ProfileConfig) -> None:
    """Resolve the traveller of a booking event and re-publish the booking with its customer id."""
    p = event.payload
    kind = _KIND[type(p)]
    now = datetime.now(UTC)
    company = getattr(p, "company", None)
    record = source_record_from_traveller(
        source_system=p.source_system,
        source_id=p.source_traveller_id,
        traveller=p.traveller.model_dump(mode="json"),
        company_name=company.name if company else None,
        seen_at=event.occurred_at,
        phone_region=config.phone_region,
        passport_pepper=config.passport_pepper,
    )
    company_id = await resolve_company(conn, company)
    resolution = await resolve_record(conn, record, company_id=company_id)
    await repo.upsert_source_record(conn, record, customer_id=resolution.customer_id, match_rule=resolution.rule, match_score=None)
    outgoing: list[tuple[str, Envelope[Any]]] = []
    if resolution.created:
        await repo.add_history(
            conn,
            customer_id=resolution.customer_id,
            change="created",
            actor=None,
            detail={"source_system": record.source_system, "source_id": record.source_id},
        )
        outgoing.append(
            (
                CUSTOMER_EVENTS_TOPIC,
                Envelope.new(
                    CustomerCreatedV1(
                        customer_id=resolution.customer_id,
                        source_system=record.source_system,
                        source_record_id=record.source_id,
                    ),
                    producer=PRODUCER,
                    subject_id=resolution.customer_id,
                    caused_by=event,
                ),
            )
        )
    outgoing += await refresh_golden(conn, resolution.customer_id, company_id=company_id, caused_by=event, now=now)

    segments = tuple(getattr(p, "segments", ()))
    status = {"created": "confirmed", "changed": "confirmed", "cancelled": "cancelled"}.get(kind, kind)
    summary: dict[str, Any] = (
        {"segments": [s.model_dump(mode="json") for s in segments], "total_price": str(p.total_price) if p.total_price else None, "currency": p.currency}
        if segments
        else {}
    )
    await repo.upsert_booking(
        conn,
        source_system=p.source_system,
        booking_id=p.booking_id,
        customer_id=resolution.customer_id,
        status=status,
        summary=summary,
    )
    resolved = ResolvedBookingV1(
        customer_id=resolution.customer_id,
        company_id=company_id,
        kind=kind,
        source_event_id=str(event.event_id),
        source_system=p.source_system,
        booking_id=p.booking_id,
        segments=segments,
        total_price=getattr(p, "total_price", None),
        currency=getattr(p, "currency", None),
        trip_purpose=getattr(p, "trip_purpose", None),
        occurred_at=event.occurred_at,
    )
    outgoing.append(
        (RESOLVED_BOOKINGS_TOPIC, Envelope.new(resolved, producer=PRODUCER, subject_id=resolution.customer_id, caused_by=event))
    )
    await enqueue_many(conn, outgoing)
    log.info("booking %s:%s resolved to %s (%s)", p.source_system, p.booking_id, resolution.customer_id, resolution.rule)
