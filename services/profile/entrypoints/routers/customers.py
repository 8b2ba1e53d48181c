"""Customers: search, the golden record, its source records, history and 360° view, corrections, quality."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from services.kit.http import ProblemError
from services.kit.view import lookup
from services.profile.adapters import customers as customers_db
from services.profile.adapters import queries
from services.profile.domain.model import PASSPORT_VARIANTS, SEALED
from services.profile.entrypoints.deps import (
    Agent,
    CustomerRead,
    HistoryRead,
    Limit,
    Offset,
    QualityRead,
    QualityTasksRead,
    Search,
    SourceRecordsRead,
    ViewRead,
    config_of,
    connect,
    curation_problem,
    customer_public,
    next_offset,
    record_audit,
    resolve_customer,
    settings_of,
)
from services.profile.entrypoints.schemas import (
    CorrectableField,
    CorrectionIn,
    CustomerPublic,
    CustomerSummary,
    CustomerView,
    HistoryEntry,
    Page,
    QualityTaskPublic,
    SourceRecordPublic,
)
from services.profile.service_layer import curation, deliverability, search

router = APIRouter(prefix="/v1")
# Not shown with a source record: its company link, and the keyed hashes of sensitive numbers and of the
# passport number's variants (the golden record says which sensitive numbers are on file).
_NOT_SHOWN = frozenset({"company_id", SEALED, PASSPORT_VARIANTS})


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
    region = config_of(request).phone_region
    cap = settings_of(request).unfiltered_list_cap
    async with connect(request) as conn:
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
            ids_page = await queries.recent_active_customers(conn, limit=limit, offset=offset)
        else:
            ids_page = ids
        rows = await queries.customer_summaries(conn, ids_page)
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
    more = next_offset(offset, limit, len(items))
    if ids is None and more is not None and more >= cap:
        more = None
    return Page[CustomerSummary](items=items, limit=limit, offset=offset, next_offset=more)


@router.get("/customers/{customer_id}", response_model=CustomerPublic, tags=["customers"])
async def get_customer(customer_id: str, request: Request, principal: Agent, trail: CustomerRead) -> CustomerPublic:
    """The golden record: each field's value, source, rule and when it was last seen; merged ids redirect."""
    async with connect(request) as conn:
        row = await resolve_customer(conn, customer_id)
        await trail.record(conn, row["customer_id"])
    return customer_public(row, customer_id)


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
    async with connect(request) as conn:
        row = await resolve_customer(conn, customer_id)
        rows = await queries.source_records_page(conn, row["customer_id"], limit=limit, offset=offset)
        await trail.record(conn, row["customer_id"])
    items = [
        SourceRecordPublic(
            source_system=r["source_system"],
            source_id=r["source_id"],
            received=r["raw"],
            normalized={k: v for k, v in r["normalized"].items() if k not in _NOT_SHOWN},
            problems=r["problems"],
            match_rule=r["match_rule"],
            match_score=r["match_score"],
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
        )
        for r in rows
    ]
    return Page[SourceRecordPublic](
        items=items, limit=limit, offset=offset, next_offset=next_offset(offset, limit, len(items))
    )


@router.get("/customers/{customer_id}/history", response_model=Page[HistoryEntry], tags=["customers"])
async def customer_history(
    customer_id: str, request: Request, principal: Agent, trail: HistoryRead, limit: Limit = 50, offset: Offset = 0
) -> Page[HistoryEntry]:
    """Every change of this customer (and of the ids merged into it), newest first."""
    async with connect(request) as conn:
        row = await resolve_customer(conn, customer_id)
        rows = await queries.history_page(conn, row["customer_id"], customer_id, limit=limit, offset=offset)
        await trail.record(conn, row["customer_id"])
    items = [HistoryEntry(**dict(r)) for r in rows]
    return Page[HistoryEntry](
        items=items, limit=limit, offset=offset, next_offset=next_offset(offset, limit, len(items))
    )


@router.get("/customers/{customer_id}/view", response_model=CustomerView, tags=["customers"])
async def customer_view(customer_id: str, request: Request, principal: Agent, trail: ViewRead) -> CustomerView:
    """The 360° view: golden record, effective preferences (from the shared view) and recent bookings."""
    async with connect(request) as conn:
        row = await resolve_customer(conn, customer_id)
        prefs = await lookup(conn, "preferences", row["customer_id"])
        bookings = await queries.recent_bookings(conn, row["customer_id"])
        await trail.record(conn, row["customer_id"])
    return CustomerView(
        customer=customer_public(row, customer_id),
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
    async with connect(request, transaction=True) as conn:
        try:
            await curation.correct_field(
                conn,
                customer_id=customer_id,
                field=body.field,
                value=body.value,
                actor=principal.name,
                config=config_of(request),
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
            raise curation_problem(exc) from exc
        row = await resolve_customer(conn, customer_id)
        await record_audit(conn, principal, "customer.correct", row["customer_id"], {"field": body.field})
    return customer_public(row, customer_id)


@router.delete("/customers/{customer_id}/fields/{field}", response_model=CustomerPublic, tags=["customers"])
async def withdraw_correction(
    customer_id: str, field: CorrectableField, request: Request, principal: Agent
) -> CustomerPublic:
    """Withdraw an agent's correction of one field: the field follows the source records again."""
    async with connect(request, transaction=True) as conn:
        try:
            await curation.withdraw_correction(
                conn, customer_id=customer_id, field=field, actor=principal.name, config=config_of(request)
            )
        except curation.CurationError as exc:
            raise curation_problem(exc) from exc
        row = await resolve_customer(conn, customer_id)
        await record_audit(conn, principal, "customer.correction.withdraw", row["customer_id"], {"field": field})
    return customer_public(row, customer_id)


@router.delete(
    "/customers/{customer_id}/email-undeliverable",
    response_model=CustomerPublic,
    tags=["customers"],
    responses={409: {"description": "The customer's email address is not marked undeliverable"}},
)
async def clear_undeliverable_email(customer_id: str, request: Request, principal: Agent) -> CustomerPublic:
    """Clear the undeliverable mark of the customer's email (the traveller confirmed that it receives mail)."""
    async with connect(request, transaction=True) as conn:
        current = (await resolve_customer(conn, customer_id))["customer_id"]
        await customers_db.lock_customers(conn, [current])
        try:
            await deliverability.clear_undeliverable(
                conn, customer_id=current, actor=principal.name, config=config_of(request)
            )
        except deliverability.NotMarkedError as exc:
            raise ProblemError(
                409, "the customer's email address is not marked undeliverable", type_="/problems/conflict"
            ) from exc
        await record_audit(conn, principal, "customer.email.deliverable", current)
        row = await resolve_customer(conn, customer_id)
    return customer_public(row, customer_id)


@router.get("/customers/{customer_id}/quality", response_model=list[QualityTaskPublic], tags=["data quality"])
async def customer_quality_tasks(
    customer_id: str, request: Request, principal: Agent, trail: QualityRead
) -> list[QualityTaskPublic]:
    """Open data-quality tasks of one customer (the scores are in the customer's `quality`)."""
    async with connect(request) as conn:
        row = await resolve_customer(conn, customer_id)
        rows = await queries.open_quality_tasks(conn, row["customer_id"])
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
    async with connect(request) as conn:
        rows = await queries.quality_tasks_page(conn, status=task_status, kind=kind, limit=limit, offset=offset)
        await trail.record(conn, kind=kind, status=task_status, results=len(rows))
    items = [QualityTaskPublic(**{k: r[k] for k in QualityTaskPublic.model_fields}) for r in rows]
    return Page[QualityTaskPublic](
        items=items, limit=limit, offset=offset, next_offset=next_offset(offset, limit, len(items))
    )
