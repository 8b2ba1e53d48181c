"""Dependencies of the profile API's routes: who may call, what is audited, the connection, the config."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.db import Connection, Record, audit, connection
from services.kit.entry import runtime_of
from services.kit.http import ProblemError
from services.profile.adapters import customers as customers_db
from services.profile.adapters import queries
from services.profile.domain.resolution import ProfileConfig
from services.profile.entrypoints.schemas import CompanyPublic, CustomerPublic, FieldPublic, ReviewPublic
from services.profile.service_layer import curation
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


def config_of(request: Request) -> ProfileConfig:
    config: ProfileConfig = request.app.state.profile_config
    return config


def settings_of(request: Request) -> ProfileSettings:
    settings = runtime_of(request).settings
    return settings if isinstance(settings, ProfileSettings) else ProfileSettings()


def connect(request: Request, *, transaction: bool = False) -> AbstractAsyncContextManager[Connection]:
    return connection(runtime_of(request).pool, transaction=transaction)


async def record_audit(
    conn: Connection,
    principal: Principal,
    action: str,
    subject: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await audit(conn, principal, action, subject, detail)


def acting_as(principal: Principal, source_systems: list[str]) -> dict[str, Any]:
    """Audit detail of a write made in a source system's name by someone who is not that system."""
    if principal.role == "booking-system":
        return {}
    return {"acting_as": sorted(set(source_systems))}


def next_offset(offset: int, limit: int, got: int) -> int | None:
    return offset + limit if got == limit else None


async def resolve_customer(conn: Connection, customer_id: str) -> Record:
    current = await customers_db.follow_redirects(conn, customer_id)
    row = await customers_db.get_customer(conn, current) if current else None
    if row is None:
        raise ProblemError(404, f"no customer {customer_id!r}", type_="/problems/unknown-customer")
    return row


def customer_public(row: Record, requested: str) -> CustomerPublic:
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


def curation_problem(exc: curation.CurationError) -> ProblemError:
    kind = {404: "/problems/not-found", 409: "/problems/conflict", 422: "/problems/invalid"}.get(
        exc.status, "about:blank"
    )
    return ProblemError(exc.status, exc.detail, type_=kind)


def review_public(r: Record) -> ReviewPublic:
    return ReviewPublic(**{k: r[k] for k in ReviewPublic.model_fields})


async def company_public(conn: Connection, company_id: str) -> CompanyPublic | None:
    row = await queries.company(conn, company_id)
    if row is None:
        return None
    return CompanyPublic(
        company_id=row.company_id,
        name=row.name,
        aliases=row.aliases,
        domains=row.domains,
        customer_count=row.customer_count,
    )
