"""Profile HTTP API for agents and for source systems that cannot speak Kafka.

Agents read (search, customer with provenance, source records, explain, history,
reviews, quality tasks) and correct fields; supervisors merge, unmerge, split and
decide reviews. Every read of personal data and every change writes an audit row.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import asyncpg
from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, status
from fastapi import Path as FastAPIPath
from pydantic import BaseModel, Field, JsonValue

from services.kit.auditing import NOT_PERSONAL, AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles, require_source
from services.kit.contracts.bookings import BOOKING_PAYLOADS, CompanyV1, TravellerV1, booking_subject
from services.kit.contracts.envelope import EnvelopeError, decode_envelope, encode_envelope
from services.kit.contracts.schemagen import envelope_union
from services.kit.db import audit, connection
from services.kit.entry import runtime_lifespan, runtime_of
from services.kit.exporting import export_router
from services.kit.http import ProblemError, create_app
from services.kit.isotime import IsoDateTime
from services.kit.kafka import OutgoingRecord
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from services.profile.adapters import exporting
from services.profile.adapters import repository as repo
from services.profile.bootstrap import profile_config
from services.profile.domain import matching
from services.profile.domain.companies import company_key
from services.profile.entrypoints import queues
from services.profile.service_layer import bulk, curation, deliverability, search
from services.profile.service_layer.handlers import incoming_from_traveller, resolve_records
from services.profile.service_layer.resolver import ProfileConfig, name_tokens
from services.profile.settings import ProfileSettings

Agent = Annotated[Principal, Depends(require_roles("agent"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor"))]
# Writes in a source system's name: booking-system keys, each only as the systems it is registered
# for (`require_source`), and admins as any (audited). Agents change data through corrections.
BookingSystem = Annotated[Principal, Depends(require_roles("booking-system"))]
# Reads of personal data: the HTTP shell audits each one, and each refusal.
Search = Annotated[AuditTrail, Depends(PersonalRead("customer.search", subject=None))]
CustomerRead = Annotated[AuditTrail, Depends(PersonalRead("customer.read"))]
SourceRecordsRead = Annotated[AuditTrail, Depends(PersonalRead("customer.source_records.read"))]
HistoryRead = Annotated[AuditTrail, Depends(PersonalRead("customer.history.read"))]
ViewRead = Annotated[AuditTrail, Depends(PersonalRead("customer.view.read"))]
QualityRead = Annotated[AuditTrail, Depends(PersonalRead("customer.quality.read"))]
QualityTasksRead = Annotated[AuditTrail, Depends(PersonalRead("quality_tasks.read", subject=None))]
RecordExplain = Annotated[AuditTrail, Depends(PersonalRead("source_record.explain", subject=None))]
PairExplain = Annotated[AuditTrail, Depends(PersonalRead("customer.explain", subject="customer_a"))]
ReviewsRead = Annotated[AuditTrail, Depends(PersonalRead("reviews.read", subject=None))]
ReviewRead = Annotated[AuditTrail, Depends(PersonalRead("review.read", subject=None))]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
T = TypeVar("T")


# --- HTTP shapes -------------------------------------------------------------------------------


class FieldPublic(BaseModel):
    value: Any
    source_system: str
    source_id: str
    last_seen: datetime
    rule: str | None = None
    sources: int | None = None


class CustomerPublic(BaseModel):
    customer_id: str
    requested_id: str
    status: str
    version: int
    company_id: str | None
    company_name: str | None
    source_record_count: int
    fields: dict[str, FieldPublic]
    quality: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class CustomerSummary(BaseModel):
    customer_id: str
    display_name: str | None
    email: str | None
    phone: str | None
    company_name: str | None
    relevance: float | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


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


class SourceRecordIn(BaseModel):
    """One traveller record from a source system; re-sending the same (source_system, source_id) updates it."""

    source_system: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    source_id: str = Field(min_length=1, max_length=100)
    traveller: TravellerV1
    company: CompanyV1 | None = None
    seen_at: IsoDateTime | None = None


class ResolutionPublic(BaseModel):
    customer_id: str
    rule: str
    created: bool
    score: float | None
    review_candidate: str | None


class ExplainPublic(BaseModel):
    source_system: str
    source_id: str
    customer_id: str
    match_rule: str
    match_score: float | None
    matched_to: dict[str, Any] | None
    evidence: dict[str, Any] | None
    parameters_version: str | None = Field(
        default=None,
        description="The match model version whose weights and thresholds decided the link (null: decided"
        " before versions were recorded, or by the source link alone)",
    )


class PairExplainPublic(BaseModel):
    customer_a: str
    customer_b: str
    record_a: dict[str, str] | None
    record_b: dict[str, str] | None
    result: dict[str, Any] | None
    parameters_version: str = Field(description="The match model version the two were compared with")


class HistoryEntry(BaseModel):
    at: datetime
    change: str
    actor: str | None
    detail: dict[str, Any]


class ReviewPublic(BaseModel):
    review_id: str
    customer_id: str
    candidate_id: str
    source_system: str
    source_id: str
    score: float
    evidence: dict[str, Any]
    status: str
    decided_by: str | None
    decided_at: datetime | None
    merge_id: str | None
    created_at: datetime


class ReviewDecision(BaseModel):
    decision: Literal["accept", "reject"]


class MergeIn(BaseModel):
    survivor_id: str = Field(min_length=1, max_length=100)
    absorbed_id: str = Field(min_length=1, max_length=100)


class MergePublic(BaseModel):
    merge_id: str
    survivor_id: str
    absorbed_id: str
    status: str = "active"


class SplitIn(BaseModel):
    source_system: str = Field(min_length=1, max_length=50)
    source_id: str = Field(min_length=1, max_length=100)


class SplitPublic(BaseModel):
    customer_id: str
    new_customer_id: str


# A golden field an agent may correct, as the schema says (curation refuses any other with 422).
_CORRECTABLE: list[JsonValue] = [*sorted(curation.CORRECTABLE_FIELDS)]
CorrectableField = Annotated[str, FastAPIPath(json_schema_extra={"enum": _CORRECTABLE})]


class CorrectionIn(BaseModel):
    field: str = Field(min_length=1, max_length=50, json_schema_extra={"enum": _CORRECTABLE})
    value: str | None = Field(max_length=500)


class QualityTaskPublic(BaseModel):
    task_id: int
    customer_id: str
    kind: str
    detail: dict[str, Any]
    status: str
    created_at: datetime


class CompanyPublic(BaseModel):
    company_id: str
    name: str
    aliases: list[str]
    domains: list[str]
    customer_count: int


class ImportPublic(BaseModel):
    records: int
    customers_created: int
    linked: int
    reviews: int
    rejected: int
    errors: list[dict[str, Any]]


# --- helpers -----------------------------------------------------------------------------------


def _config(request: Request) -> ProfileConfig:
    config: ProfileConfig = request.app.state.profile_config
    return config


def _config_settings(request: Request) -> ProfileSettings:
    settings = runtime_of(request).settings
    return settings if isinstance(settings, ProfileSettings) else ProfileSettings()


def _connection(request: Request, *, transaction: bool = False) -> AbstractAsyncContextManager[asyncpg.Connection]:
    return connection(runtime_of(request).pool, transaction=transaction)


async def _audit(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    subject: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await audit(conn, principal, action, subject, detail)


def _acting_as(principal: Principal, source_systems: list[str]) -> dict[str, Any]:
    """Audit detail of a write made in a source system's name by someone who is not that system."""
    if principal.role == "booking-system":
        return {}
    return {"acting_as": sorted(set(source_systems))}


def _next(offset: int, limit: int, got: int) -> int | None:
    return offset + limit if got == limit else None


async def _resolve_id(conn: asyncpg.Connection, customer_id: str) -> asyncpg.Record:
    current = await repo.follow_redirects(conn, customer_id)
    row = await repo.get_customer(conn, current) if current else None
    if row is None:
        raise ProblemError(404, f"no customer {customer_id!r}", type_="/problems/unknown-customer")
    return row


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
        quality=row["quality"] or {},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _curation_error(exc: curation.CurationError) -> ProblemError:
    kind = {404: "/problems/not-found", 409: "/problems/conflict", 422: "/problems/invalid"}.get(
        exc.status, "about:blank"
    )
    return ProblemError(exc.status, exc.detail, type_=kind)


router = APIRouter(prefix="/v1")


# --- ingest ------------------------------------------------------------------------------------


@router.post("/source-records", response_model=ResolutionPublic, tags=["ingest"])
async def post_source_record(request: Request, principal: BookingSystem, body: SourceRecordIn) -> ResolutionPublic:
    """Resolve one source record now; re-sending the same source record updates it.

    Only as a source system the key is registered for (403 otherwise; an admin may write as any)."""
    require_source(principal, body.source_system)
    config = _config(request)
    seen = body.seen_at or datetime.now().astimezone()
    item = incoming_from_traveller(
        source_system=body.source_system,
        source_id=body.source_id,
        traveller=body.traveller.model_dump(mode="json"),
        company=body.company.model_dump(mode="json") if body.company else None,
        seen_at=seen,
        config=config,
    )
    async with _connection(request, transaction=True) as conn:
        [outcome] = await resolve_records(conn, [item], config=config)
        await _audit(
            conn,
            principal,
            "source_record.upsert",
            outcome.customer_id,
            {"source_system": body.source_system, "source_id": body.source_id, "rule": outcome.rule}
            | _acting_as(principal, [body.source_system]),
        )
    return ResolutionPublic(
        customer_id=outcome.customer_id,
        rule=outcome.rule,
        created=outcome.created,
        score=outcome.score,
        review_candidate=outcome.review_candidate,
    )


@router.post("/source-records/import", response_model=ImportPublic, tags=["ingest"])
async def import_source_records(
    request: Request,
    principal: BookingSystem,
    format: Annotated[Literal["csv", "jsonl"], Query(description="csv (with header) or jsonl")],
    source_system: Annotated[str | None, Query(max_length=50, description="Default for rows without one")] = None,
) -> ImportPublic:
    """Import a small file of source records (body: CSV or JSON Lines text; large files go through the CLI).

    Every row's source system must be one the key is registered for: otherwise nothing is imported (403)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProblemError(422, "the file must be UTF-8 text", type_="/problems/invalid-file") from exc
    # The body is small (the request size limit): read it whole, so the whole file is refused
    # before any row is resolved when one row names a system the key may not write as.
    rows = list(bulk.read_rows(bulk.text_lines(text), format))
    named = bulk.source_systems_of(rows, default_source=source_system)
    require_source(principal, *named)
    config = _config(request)
    async with _connection(request, transaction=True) as conn:
        summary = await bulk.import_rows(conn, rows, config=config, default_source=source_system)
        detail = {k: v for k, v in summary.to_json().items() if k != "errors"}
        await _audit(conn, principal, "source_record.import", None, detail | _acting_as(principal, named))
    return ImportPublic(**summary.to_json())


# The body as `decode_envelope` reads it: an envelope whose payload is one of the booking payload
# contracts, chosen by `event_type` (the kit's document rewrite moves `x-component-schemas` into components).
_BOOKING_EVENT, _BOOKING_EVENT_SCHEMAS = envelope_union(BOOKING_PAYLOADS)


@router.post(
    "/booking-events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["ingest"],
    responses={
        422: {
            "description": "Not a valid booking event: a field of the envelope or its payload, a string holding"
            " NUL, or a `subject_id` other than `source_system:booking_id` of the payload"
        }
    },
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": _BOOKING_EVENT}}},
        "x-component-schemas": _BOOKING_EVENT_SCHEMAS,
    },
)
async def post_booking_event(
    request: Request,
    principal: BookingSystem,
    body: Annotated[dict[str, Any], Body(description="A booking event envelope")],
) -> Accepted:
    """Accept one booking event over HTTP (for systems that cannot produce to Kafka) and put it on the topic."""
    try:
        event = decode_envelope(json.dumps(body))
    except EnvelopeError as exc:
        raise ProblemError(422, str(exc), type_="/problems/invalid-event") from exc
    if type(event.payload) not in BOOKING_PAYLOADS:
        raise ProblemError(422, f"{event.event_type} is not a booking event", type_="/problems/invalid-event")
    source_system = str(getattr(event.payload, "source_system", ""))
    require_source(principal, source_system)
    # The key orders a booking's events and names the system too: it must be the payload's.
    expected = booking_subject(source_system, str(getattr(event.payload, "booking_id", "")))
    if event.subject_id != expected:
        raise ProblemError(
            422, f"subject_id must be {expected!r} (source_system:booking_id)", type_="/problems/invalid-event"
        )
    runtime = runtime_of(request)
    if acting := _acting_as(principal, [source_system]):
        async with _connection(request) as conn:
            await _audit(conn, principal, "booking_event.accept", None, {"event_id": str(event.event_id), **acting})
    topic = runtime.settings.topic("booking.events.v1")
    await runtime.producer.send(
        OutgoingRecord(
            topic=topic, key=event.subject_id.encode(), value=encode_envelope(event), headers=event.headers()
        )
    )
    return Accepted(event_id=str(event.event_id), topic="booking.events.v1")


# --- customers ---------------------------------------------------------------------------------


@router.get(
    "/customers",
    response_model=Page[CustomerSummary],
    tags=["customers"],
    responses={
        422: {
            "description": "An invalid parameter, or, without any search criterion, an offset past the listing cap"
            " (only the most recently updated customers are listed; search by a criterion for the others)"
        }
    },
)
async def search_customers(
    request: Request,
    principal: Agent,
    trail: Search,
    q: Annotated[str | None, Query(max_length=200, description="A name (fuzzy: order, accents, typos)")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=50)] = None,
    loyalty: Annotated[
        str | None, Query(max_length=80, description="PROGRAMME:NUMBER, e.g. LH:992001234567890")
    ] = None,
    company: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[CustomerSummary]:
    """Search active customers by fuzzy name, email, phone, loyalty number or company (criteria combine)."""
    region = _config(request).phone_region
    cap = _config_settings(request).unfiltered_list_cap
    async with _connection(request) as conn:
        ids = await search.search_ids(
            conn, q=q, email=email, phone=phone, loyalty=loyalty, company=company, region=region
        )
        if ids is None:
            # No criterion: a bulk read of everyone, capped to the most recently updated customers.
            if offset >= cap:
                raise ProblemError(
                    422,
                    f"without a search criterion only the {cap} most recently updated customers are listed:"
                    " search by name, email, phone, loyalty number or company",
                    type_="/problems/unfiltered-listing-capped",
                )
            limit = min(limit, cap - offset)
            rows = await conn.fetch(
                "SELECT customer_id FROM customers WHERE status = 'active' ORDER BY updated_at DESC, customer_id"
                " LIMIT $1 OFFSET $2",
                limit,
                offset,
            )
            ids_page = [r["customer_id"] for r in rows]
        else:
            ids_page = ids
        rows = await conn.fetch(
            """
            SELECT c.customer_id, c.golden->'display_name'->>'value' AS display_name,
                   c.golden->'email'->>'value' AS email, c.golden->'phone'->>'value' AS phone, co.name AS company_name
              FROM customers c LEFT JOIN companies co USING (company_id)
             WHERE c.customer_id = ANY($1::text[]) AND c.status = 'active'
            """,
            ids_page,
        )
        items = [CustomerSummary(**dict(r)) for r in rows]
        if q:
            for it in items:
                it.relevance = search.relevance(q, it.display_name, it.company_name)
            items.sort(key=lambda it: (-(it.relevance or 0), it.customer_id))
        else:
            order = {cid: i for i, cid in enumerate(ids_page)}
            items.sort(key=lambda it: order.get(it.customer_id, 0))
        if ids is not None:
            items = items[offset : offset + limit]
        if ids is None:
            trail.action = "customer.bulk_read"
            await trail.record(
                conn, offset=offset, limit=limit, results=len(items), customer_ids=[it.customer_id for it in items]
            )
        else:
            await trail.record(
                conn, q=q, email=email, phone=phone, loyalty=loyalty, company=company, results=len(items)
            )
    more = _next(offset, limit, len(items))
    if ids is None and more is not None and more >= cap:
        more = None
    return Page[CustomerSummary](items=items, limit=limit, offset=offset, next_offset=more)


@router.get("/customers/{customer_id}", response_model=CustomerPublic, tags=["customers"])
async def get_customer(customer_id: str, request: Request, principal: Agent, trail: CustomerRead) -> CustomerPublic:
    """The golden record: each field's value, source, rule and when it was last seen; merged ids redirect."""
    async with _connection(request) as conn:
        row = await _resolve_id(conn, customer_id)
        await trail.record(conn, row["customer_id"])
    return _public(row, customer_id)


@router.get("/customers/{customer_id}/source-records", response_model=Page[SourceRecordPublic], tags=["customers"])
async def list_source_records(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: SourceRecordsRead,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SourceRecordPublic]:
    """Every source record resolved to this customer, as received and as normalised."""
    async with _connection(request) as conn:
        row = await _resolve_id(conn, customer_id)
        rows = await conn.fetch(
            "SELECT * FROM source_records WHERE customer_id = $1 ORDER BY last_seen DESC, source_system, source_id"
            " LIMIT $2 OFFSET $3",
            row["customer_id"],
            limit,
            offset,
        )
        await trail.record(conn, row["customer_id"])
    items = [
        SourceRecordPublic(
            source_system=r["source_system"],
            source_id=r["source_id"],
            received=r["raw"],
            normalized={k: v for k, v in r["normalized"].items() if k != "company_id"},
            problems=r["problems"],
            match_rule=r["match_rule"],
            match_score=r["match_score"],
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
        )
        for r in rows
    ]
    return Page[SourceRecordPublic](
        items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items))
    )


@router.get("/customers/{customer_id}/history", response_model=Page[HistoryEntry], tags=["customers"])
async def customer_history(
    customer_id: str, request: Request, principal: Agent, trail: HistoryRead, limit: Limit = 50, offset: Offset = 0
) -> Page[HistoryEntry]:
    """Every change of this customer (and of the ids merged into it), newest first."""
    async with _connection(request) as conn:
        row = await _resolve_id(conn, customer_id)
        rows = await conn.fetch(
            "SELECT at, change, actor, detail FROM customer_history WHERE customer_id = $1 OR customer_id = $2"
            " ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4",
            row["customer_id"],
            customer_id,
            limit,
            offset,
        )
        await trail.record(conn, row["customer_id"])
    items = [HistoryEntry(**dict(r)) for r in rows]
    return Page[HistoryEntry](items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items)))


@router.get("/customers/{customer_id}/view", response_model=CustomerView, tags=["customers"])
async def customer_view(customer_id: str, request: Request, principal: Agent, trail: ViewRead) -> CustomerView:
    """The 360° view: golden record, effective preferences (from the shared view) and recent bookings."""
    async with _connection(request) as conn:
        row = await _resolve_id(conn, customer_id)
        prefs = await lookup(conn, "preferences", row["customer_id"])
        bookings = await conn.fetch(
            "SELECT source_system, booking_id, status, summary, updated_at FROM bookings"
            " WHERE customer_id = $1 ORDER BY updated_at DESC LIMIT 20",
            row["customer_id"],
        )
        await trail.record(conn, row["customer_id"])
    return CustomerView(
        customer=_public(row, customer_id),
        preferences=prefs.snapshot if prefs else None,
        preferences_as_of=prefs.occurred_at if prefs else None,
        bookings=[{**dict(b), "updated_at": b["updated_at"].isoformat()} for b in bookings],
    )


@router.patch(
    "/customers/{customer_id}/fields",
    response_model=CustomerPublic,
    tags=["customers"],
    responses={
        422: {
            "description": "An invalid body, or a value that is not one of the field (an email address, a phone"
            " number of its numbering plan, a plausible date of birth, a known country, language or IANA time"
            " zone): `errors` names `value` and why"
        }
    },
)
async def correct_field(customer_id: str, body: CorrectionIn, request: Request, principal: Agent) -> CustomerPublic:
    """Correct one golden field; the correction wins until a verified source sends newer data."""
    async with _connection(request, transaction=True) as conn:
        try:
            await curation.correct_field(
                conn,
                customer_id=customer_id,
                field=body.field,
                value=body.value,
                actor=principal.name,
                config=_config(request),
            )
        except curation.InvalidFieldValueError as exc:
            raise ProblemError(
                422,
                str(exc),
                type_="/problems/invalid",
                title="Unprocessable Content",
                errors=[{"field": "value", "message": exc.reason}],
            ) from exc
        except curation.CurationError as exc:
            raise _curation_error(exc) from exc
        row = await _resolve_id(conn, customer_id)
        await _audit(conn, principal, "customer.correct", row["customer_id"], {"field": body.field})
    return _public(row, customer_id)


@router.delete("/customers/{customer_id}/fields/{field}", response_model=CustomerPublic, tags=["customers"])
async def withdraw_correction(
    customer_id: str, field: CorrectableField, request: Request, principal: Agent
) -> CustomerPublic:
    """Withdraw an agent's correction of one field: the field follows the source records again."""
    async with _connection(request, transaction=True) as conn:
        try:
            await curation.withdraw_correction(
                conn, customer_id=customer_id, field=field, actor=principal.name, config=_config(request)
            )
        except curation.CurationError as exc:
            raise _curation_error(exc) from exc
        row = await _resolve_id(conn, customer_id)
        await _audit(conn, principal, "customer.correction.withdraw", row["customer_id"], {"field": field})
    return _public(row, customer_id)


@router.delete(
    "/customers/{customer_id}/email-undeliverable",
    response_model=CustomerPublic,
    tags=["customers"],
    responses={409: {"description": "The customer's email address is not marked undeliverable"}},
)
async def clear_undeliverable_email(customer_id: str, request: Request, principal: Agent) -> CustomerPublic:
    """Clear the undeliverable mark of the customer's email (the traveller confirmed that it receives mail)."""
    async with _connection(request, transaction=True) as conn:
        current = (await _resolve_id(conn, customer_id))["customer_id"]
        await repo.lock_customers(conn, [current])
        try:
            await deliverability.clear_undeliverable(
                conn, customer_id=current, actor=principal.name, config=_config(request)
            )
        except deliverability.NotMarkedError as exc:
            raise ProblemError(
                409, "the customer's email address is not marked undeliverable", type_="/problems/conflict"
            ) from exc
        await _audit(conn, principal, "customer.email.deliverable", current)
        row = await _resolve_id(conn, customer_id)
    return _public(row, customer_id)


@router.get("/customers/{customer_id}/quality", response_model=list[QualityTaskPublic], tags=["data quality"])
async def customer_quality_tasks(
    customer_id: str, request: Request, principal: Agent, trail: QualityRead
) -> list[QualityTaskPublic]:
    """Open data-quality tasks of one customer (the scores are in the customer's `quality`)."""
    async with _connection(request) as conn:
        row = await _resolve_id(conn, customer_id)
        rows = await conn.fetch(
            "SELECT * FROM quality_tasks WHERE customer_id = $1 AND status = 'open' ORDER BY created_at",
            row["customer_id"],
        )
        await trail.record(conn, row["customer_id"])
    return [QualityTaskPublic(**{k: r[k] for k in QualityTaskPublic.model_fields}) for r in rows]


@router.get("/quality-tasks", response_model=Page[QualityTaskPublic], tags=["data quality"])
async def list_quality_tasks(
    request: Request,
    principal: Agent,
    trail: QualityTasksRead,
    kind: Annotated[
        str | None, Query(max_length=60, description="e.g. conflict:date_of_birth, email-undeliverable")
    ] = None,
    task_status: Annotated[Literal["open", "resolved"], Query(alias="status")] = "open",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[QualityTaskPublic]:
    """Data-quality tasks for agents, oldest first."""
    async with _connection(request) as conn:
        rows = await conn.fetch(
            "SELECT * FROM quality_tasks WHERE status = $1 AND ($2::text IS NULL OR kind = $2)"
            " ORDER BY created_at, task_id LIMIT $3 OFFSET $4",
            task_status,
            kind,
            limit,
            offset,
        )
        await trail.record(conn, kind=kind, status=task_status, results=len(rows))
    items = [QualityTaskPublic(**{k: r[k] for k in QualityTaskPublic.model_fields}) for r in rows]
    return Page[QualityTaskPublic](
        items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items))
    )


# --- explain -----------------------------------------------------------------------------------


@router.get("/source-records/{source_system}/{source_id}/explain", response_model=ExplainPublic, tags=["matching"])
async def explain_link(
    source_system: str, source_id: str, request: Request, principal: Agent, trail: RecordExplain
) -> ExplainPublic:
    """Why a source record belongs to its customer: rule, score and per-field evidence of its link."""
    async with _connection(request) as conn:
        r = await conn.fetchrow(
            "SELECT customer_id, match_rule, match_score, matched_to, match_evidence FROM source_records"
            " WHERE source_system = $1 AND source_id = $2",
            source_system,
            source_id,
        )
        if r is None:
            raise ProblemError(404, f"no source record {source_system}:{source_id}", type_="/problems/not-found")
        await trail.record(conn, r["customer_id"], source=f"{source_system}:{source_id}")
    return ExplainPublic(
        source_system=source_system,
        source_id=source_id,
        customer_id=r["customer_id"],
        match_rule=r["match_rule"],
        match_score=r["match_score"],
        matched_to=r["matched_to"],
        evidence=r["match_evidence"],
        parameters_version=(r["match_evidence"] or {}).get("parameters_version"),
    )


@router.get(
    "/explain",
    response_model=PairExplainPublic,
    tags=["matching"],
    responses={404: {"description": "customer_a or customer_b names no known customer"}},
)
async def explain_pair(
    request: Request,
    principal: Agent,
    trail: PairExplain,
    customer_a: Annotated[str, Query(max_length=100)],
    customer_b: Annotated[str, Query(max_length=100)],
) -> PairExplainPublic:
    """How two customers compare now: the best-scoring pair of their source records, field by field."""
    config = _config(request)
    async with _connection(request) as conn:
        a = await _resolve_id(conn, customer_a)
        b = await _resolve_id(conn, customer_b)
        rows = await conn.fetch(
            "SELECT customer_id, source_system, source_id, features FROM source_records"
            " WHERE customer_id = ANY($1::text[])",
            [a["customer_id"], b["customer_id"]],
        )
        await trail.record(conn, a["customer_id"], other=b["customer_id"])
        feats = {(r["source_system"], r["source_id"]): matching.MatchFeatures.from_json(r["features"]) for r in rows}
        freq = await repo.name_frequencies(
            conn, [t for f in feats.values() for t in name_tokens(f)], min_records=config.frequency_min_records
        )
        params = await config.parameters.current(conn)
    upper, lower = config.parameters.thresholds(upper=config.upper_threshold, lower=config.lower_threshold)
    left = [r for r in rows if r["customer_id"] == a["customer_id"]]
    right = [r for r in rows if r["customer_id"] == b["customer_id"]]
    best: tuple[matching.MatchResult, Any, Any] | None = None
    for ra in left:
        for rb in right:
            res = matching.score_pair(
                feats[(ra["source_system"], ra["source_id"])],
                feats[(rb["source_system"], rb["source_id"])],
                upper=upper,
                lower=lower,
                freq=freq,
                params=params,
            )
            if best is None or matching.rank(res) > matching.rank(best[0]):
                best = (res, ra, rb)
    return PairExplainPublic(
        customer_a=a["customer_id"],
        customer_b=b["customer_id"],
        record_a={"source_system": best[1]["source_system"], "source_id": best[1]["source_id"]} if best else None,
        record_b={"source_system": best[2]["source_system"], "source_id": best[2]["source_id"]} if best else None,
        result=best[0].to_json() if best else None,
        parameters_version=params.version,
    )


# --- review queue ------------------------------------------------------------------------------


def _review(r: asyncpg.Record) -> ReviewPublic:
    return ReviewPublic(**{k: r[k] for k in ReviewPublic.model_fields})


@router.get("/reviews", response_model=Page[ReviewPublic], tags=["review queue"])
async def list_reviews(
    request: Request,
    principal: Agent,
    trail: ReviewsRead,
    review_status: Annotated[Literal["open", "accepted", "rejected", "superseded"], Query(alias="status")] = "open",
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[ReviewPublic]:
    """Suspected duplicates waiting for (or decided by) an agent, highest score first."""
    async with _connection(request) as conn:
        rows = await conn.fetch(
            "SELECT * FROM review_queue WHERE status = $1"
            " ORDER BY score DESC, created_at, review_id LIMIT $2 OFFSET $3",
            review_status,
            limit,
            offset,
        )
        await trail.record(conn, status=review_status, results=len(rows))
    items = [_review(r) for r in rows]
    return Page[ReviewPublic](items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items)))


@router.get("/reviews/{review_id}", response_model=ReviewPublic, tags=["review queue"])
async def get_review(review_id: str, request: Request, principal: Agent, trail: ReviewRead) -> ReviewPublic:
    """One review item with the pair's score and per-field evidence."""
    async with _connection(request) as conn:
        r = await conn.fetchrow("SELECT * FROM review_queue WHERE review_id = $1", review_id)
        if r is None:
            raise ProblemError(404, f"no review {review_id!r}", type_="/problems/not-found")
        await trail.record(conn, r["customer_id"], review_id=review_id)
    return _review(r)


@router.post("/reviews/{review_id}/decision", response_model=ReviewPublic, tags=["review queue"])
async def decide_review(review_id: str, body: ReviewDecision, request: Request, principal: Supervisor) -> ReviewPublic:
    """Accept (the two customers are merged) or reject (they are remembered as different people)."""
    async with _connection(request, transaction=True) as conn:
        try:
            result = await curation.decide_review(
                conn,
                review_id=review_id,
                accept=body.decision == "accept",
                actor=principal.name,
                config=_config(request),
            )
        except curation.CurationError as exc:
            raise _curation_error(exc) from exc
        await _audit(conn, principal, f"review.{body.decision}", result["customer_id"], result)
        r = await conn.fetchrow("SELECT * FROM review_queue WHERE review_id = $1", review_id)
    assert r is not None  # locked and updated in this transaction
    return _review(r)


# --- merge, unmerge, split ---------------------------------------------------------------------


@router.post(
    "/merges",
    status_code=status.HTTP_201_CREATED,
    response_model=MergePublic,
    tags=["merge"],
    responses={
        404: {"description": "survivor_id or absorbed_id names no known customer"},
        409: {"description": "The same customer twice, or a customer that is no longer active"},
    },
)
async def merge_customers(body: MergeIn, request: Request, principal: Supervisor) -> MergePublic:
    """Merge `absorbed_id` into `survivor_id`; the absorbed id keeps redirecting to the survivor."""
    async with _connection(request, transaction=True) as conn:
        try:
            result = await curation.merge_customers(
                conn,
                survivor_id=body.survivor_id,
                absorbed_id=body.absorbed_id,
                reason="agent",
                actor=principal.name,
                config=_config(request),
            )
        except curation.CurationError as exc:
            raise _curation_error(exc) from exc
        await _audit(
            conn,
            principal,
            "customer.merge",
            body.survivor_id,
            {"absorbed_id": body.absorbed_id, "merge_id": result.merge_id},
        )
    return MergePublic(merge_id=result.merge_id, survivor_id=result.survivor_id, absorbed_id=result.absorbed_id)


@router.post("/merges/{merge_id}/undo", response_model=MergePublic, tags=["merge"])
async def unmerge_customers(merge_id: str, request: Request, principal: Supervisor) -> MergePublic:
    """Undo a merge exactly: the absorbed customer gets back its records, bookings and golden record."""
    async with _connection(request, transaction=True) as conn:
        try:
            result = await curation.unmerge_customers(
                conn, merge_id=merge_id, actor=principal.name, config=_config(request)
            )
        except curation.CurationError as exc:
            raise _curation_error(exc) from exc
        await _audit(
            conn,
            principal,
            "customer.unmerge",
            result.survivor_id,
            {"restored_id": result.absorbed_id, "merge_id": merge_id},
        )
    return MergePublic(
        merge_id=merge_id, survivor_id=result.survivor_id, absorbed_id=result.absorbed_id, status="undone"
    )


@router.post(
    "/customers/{customer_id}/split",
    response_model=SplitPublic,
    tags=["merge"],
    responses={
        404: {"description": "No such customer, or no such source record"},
        409: {"description": "The source record belongs to another customer, or is the customer's only one"},
    },
)
async def split_record(customer_id: str, body: SplitIn, request: Request, principal: Supervisor) -> SplitPublic:
    """Split one source record off into a customer of its own (with the bookings it came with)."""
    async with _connection(request, transaction=True) as conn:
        try:
            new_id = await curation.split_record(
                conn,
                customer_id=customer_id,
                source_system=body.source_system,
                source_id=body.source_id,
                actor=principal.name,
                config=_config(request),
            )
        except curation.CurationError as exc:
            raise _curation_error(exc) from exc
        await _audit(
            conn,
            principal,
            "customer.split",
            customer_id,
            {"source": f"{body.source_system}:{body.source_id}", "to": new_id},
        )
    return SplitPublic(customer_id=customer_id, new_customer_id=new_id)


# --- companies ---------------------------------------------------------------------------------


async def _company(conn: asyncpg.Connection, company_id: str) -> CompanyPublic | None:
    row = await conn.fetchrow("SELECT company_id, name FROM companies WHERE company_id = $1", company_id)
    if row is None:
        return None
    aliases = await conn.fetch("SELECT alias FROM company_aliases WHERE company_id = $1 ORDER BY alias", company_id)
    domains = await conn.fetch("SELECT domain FROM company_domains WHERE company_id = $1 ORDER BY domain", company_id)
    count = await conn.fetchval(
        "SELECT count(*) FROM customers WHERE company_id = $1 AND status = 'active'", company_id
    )
    return CompanyPublic(
        company_id=row["company_id"],
        name=row["name"],
        aliases=[a["alias"] for a in aliases],
        domains=[d["domain"] for d in domains],
        customer_count=count,
    )


@router.get("/companies", response_model=Page[CompanyPublic], tags=["companies"], dependencies=[NOT_PERSONAL])
async def search_companies(
    request: Request,
    principal: Agent,
    q: Annotated[str | None, Query(max_length=200, description="Company name in any legal form or spelling")] = None,
    domain: Annotated[str | None, Query(max_length=255)] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[CompanyPublic]:
    """Corporate accounts by name (legal forms and case ignored) or email domain."""
    async with _connection(request) as conn:
        rows = await conn.fetch(
            """
            SELECT DISTINCT c.company_id, c.name FROM companies c
              LEFT JOIN company_aliases a USING (company_id) LEFT JOIN company_domains d USING (company_id)
             WHERE ($1::text IS NULL OR a.alias_key = $1 OR a.alias_key LIKE $1 || '%')
               AND ($2::text IS NULL OR d.domain = lower($2))
             ORDER BY c.name, c.company_id LIMIT $3 OFFSET $4
            """,
            company_key(q) if q else None,
            domain,
            limit,
            offset,
        )
        items = [c for r in rows if (c := await _company(conn, r["company_id"])) is not None]
    return Page[CompanyPublic](items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, len(items)))


@router.get("/companies/{company_id}", response_model=CompanyPublic, tags=["companies"], dependencies=[NOT_PERSONAL])
async def get_company(company_id: str, request: Request, principal: Agent) -> CompanyPublic:
    """One corporate account with its aliases, domains and number of travellers."""
    async with _connection(request) as conn:
        company = await _company(conn, company_id)
    if company is None:
        raise ProblemError(404, f"no company {company_id!r}", type_="/problems/not-found")
    return company


def create_profile_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera profile",
        description="One traveller from many source systems: resolution, golden record, provenance, merges.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    settings = runtime.settings
    config = runtime.definition.extras.get("config")
    if config is None:
        config = profile_config(settings if isinstance(settings, ProfileSettings) else ProfileSettings())
    app.state.profile_config = config
    app.include_router(router)
    app.include_router(queues.router)
    app.include_router(export_router("profile", exporting.collect, resolve=exporting.traveller_ids))
    return app
