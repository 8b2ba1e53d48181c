"""Profile HTTP API for agents and for booking systems that cannot speak Kafka."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, status
from pydantic import BaseModel

from services.kit.auth import Principal, require_roles
from services.kit.contracts.bookings import BOOKING_PAYLOADS
from services.kit.contracts.envelope import EnvelopeError, decode_envelope, encode_envelope
from services.kit.db import record_audit
from services.kit.entry import runtime_lifespan
from services.kit.http import ProblemError, create_app
from services.kit.kafka import OutgoingRecord
from services.kit.logging import correlation_id_var
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from services.profile.adapters import repository as repo

Agent = Annotated[Principal, Depends(require_roles("agent"))]
BookingSystem = Annotated[Principal, Depends(require_roles("booking-system"))]


class FieldPublic(BaseModel):
    value: Any
    source_system: str
    source_id: str
    last_seen: datetime


class CustomerPublic(BaseModel):
    customer_id: str
    requested_id: str
    status: str
    version: int
    company_id: str | None
    company_name: str | None
    source_record_count: int
    fields: dict[str, FieldPublic]
    created_at: datetime
    updated_at: datetime


class CustomerSummary(BaseModel):
    customer_id: str
    display_name: str | None
    email: str | None
    phone: str | None
    company_name: str | None


class Page(BaseModel):
    items: list[CustomerSummary]
    limit: int
    offset: int


class SourceRecordPublic(BaseModel):
    source_system: str
    source_id: str
    received: dict[str, Any]
    normalized: dict[str, Any]
    problems: dict[str, str]
    match_rule: str
    match_score: float | None
    first_seen: datetime
    last_seen: datetime


class CustomerView(BaseModel):
    customer: CustomerPublic
    preferences: dict[str, Any] | None
    preferences_as_of: datetime | None
    bookings: list[dict[str, Any]]


class Accepted(BaseModel):
    event_id: str
    topic: str


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def _resolve_id(conn: asyncpg.Connection, customer_id: str) -> asyncpg.Record:
    current = customer_id
    for _ in range(10):
        row = await repo.get_customer(conn, current)
        if row is None:
            raise ProblemError(404, f"no customer {customer_id!r}", type_="/problems/unknown-customer")
        if row["status"] != "merged" or row["merged_into"] is None:
            return row
        current = row["merged_into"]
    raise ProblemError(409, f"redirect chain too long for {customer_id!r}")


def _public(row: asyncpg.Record, requested: str) -> CustomerPublic:
    return CustomerPublic(
        customer_id=row["customer_id"],
        requested_id=requested,
        status=row["status"],
        version=row["version"],
        company_id=row["company_id"],
        company_name=row["company_name"],
        source_record_count=row["source_record_count"],
        fields={k: FieldPublic(**v) for k, v in (row["golden"] or {}).items()},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


router = APIRouter(prefix="/v1")


@router.get("/customers", response_model=Page, tags=["customers"])
async def search_customers(
    request: Request,
    principal: Agent,
    q: Annotated[str | None, Query(max_length=200, description="Name, email or phone fragment")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Page:
    """Search active customers by name, email or phone."""
    async with _runtime(request).pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT c.customer_id, c.golden->'display_name'->>'value' AS display_name,
                   c.golden->'email'->>'value' AS email, c.golden->'phone'->>'value' AS phone, co.name AS company_name
              FROM customers c LEFT JOIN companies co USING (company_id)
             WHERE c.status = 'active'
               AND ($1::text IS NULL OR c.golden->'display_name'->>'value' ILIKE '%' || $1 || '%'
                    OR c.golden->'email'->>'value' ILIKE '%' || $1 || '%'
                    OR c.golden->'phone'->>'value' LIKE '%' || $1 || '%')
               AND ($2::text IS NULL OR lower(c.golden->'email'->>'value') = lower($2))
             ORDER BY c.updated_at DESC, c.customer_id
             LIMIT $3 OFFSET $4
            """,
            q,
            email,
            limit,
            offset,
        )
        await record_audit(
            conn, principal=principal.name, role=principal.role, action="customer.search", subject_id=None,
            detail={"q": q, "email": email, "results": len(rows)}, correlation_id=correlation_id_var.get(),
        )
    return Page(items=[CustomerSummary(**dict(r)) for r in rows], limit=limit, offset=offset)


@router.get("/customers/{customer_id}", response_model=CustomerPublic, tags=["customers"])
async def get_customer(customer_id: str, request: Request, principal: Agent) -> CustomerPublic:
    """The golden record with each field's value, source and when it was last seen; merged ids redirect."""
    async with _runtime(request).pool.acquire() as conn:
        row = await _resolve_id(conn, customer_id)
        await record_audit(
            conn, principal=principal.name, role=principal.role, action="customer.read", subject_id=row["customer_id"],
            correlation_id=correlation_id_var.get(),
        )
    return _public(row, customer_id)


@router.get("/customers/{customer_id}/source-records", response_model=list[SourceRecordPublic], tags=["customers"])
async def list_source_records(customer_id: str, request: Request, principal: Agent) -> list[SourceRecordPublic]:
    """Every source record resolved to this customer, as received and as normalised."""
    async with _runtime(request).pool.acquire() as conn:
        row = await _resolve_id(conn, customer_id)
        rows = await conn.fetch(
            "SELECT * FROM source_records WHERE customer_id = $1 ORDER BY last_seen DESC", row["customer_id"]
        )
        await record_audit(
            conn, principal=principal.name, role=principal.role, action="customer.source_records.read",
            subject_id=row["customer_id"], correlation_id=correlation_id_var.get(),
        )
    return [
        SourceRecordPublic(
            source_system=r["source_system"], source_id=r["source_id"], received=r["raw"], normalized=r["normalized"],
            problems=r["problems"], match_rule=r["match_rule"], match_score=r["match_score"],
            first_seen=r["first_seen"], last_seen=r["last_seen"],
        )
        for r in rows
    ]


@router.get("/customers/{customer_id}/view", response_model=CustomerView, tags=["customers"])
async def customer_view(customer_id: str, request: Request, principal: Agent) -> CustomerView:
    """The 360° view: golden record, effective preferences (from the shared view) and recent bookings."""
    async with _runtime(request).pool.acquire() as conn:
        row = await _resolve_id(conn, customer_id)
        prefs = await lookup(conn, "preferences", row["customer_id"])
        bookings = await conn.fetch(
            "SELECT source_system, booking_id, status, summary, updated_at FROM bookings"
            " WHERE customer_id = $1 ORDER BY updated_at DESC LIMIT 20",
            row["customer_id"],
        )
        await record_audit(
            conn, principal=principal.name, role=principal.role, action="customer.view.read",
            subject_id=row["customer_id"], correlation_id=correlation_id_var.get(),
        )
    return CustomerView(
        customer=_public(row, customer_id),
        preferences=prefs.snapshot if prefs else None,
        preferences_as_of=prefs.occurred_at if prefs else None,
        bookings=[{**dict(b), "updated_at": b["updated_at"].isoformat()} for b in bookings],
    )


@router.post("/booking-events", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, tags=["ingest"])
async def post_booking_event(
    request: Request, principal: BookingSystem, body: Annotated[dict[str, Any], Body(description="A booking event envelope")]
) -> Accepted:
    """Accept one booking event over HTTP (for systems that cannot produce to Kafka) and put it on the topic."""
    import json

    try:
        event = decode_envelope(json.dumps(body))
    except EnvelopeError as exc:
        raise ProblemError(422, str(exc), type_="/problems/invalid-event") from exc
    if type(event.payload) not in BOOKING_PAYLOADS:
        raise ProblemError(422, f"{event.event_type} is not a booking event", type_="/problems/invalid-event")
    runtime = _runtime(request)
    topic = runtime.settings.topic("booking.events.v1")
    await runtime.producer.send(
        OutgoingRecord(topic=topic, key=event.subject_id.encode(), value=encode_envelope(event), headers=event.headers())
    )
    return Accepted(event_id=str(event.event_id), topic="booking.events.v1")


def create_profile_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera profile",
        description="One traveller from many source systems: resolution, golden record, provenance.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    app.include_router(router)
    return app
