"""Value HTTP API: a traveller's or a company's value, the lists behind work queues, account managers, rates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request, status

from services.kit.auditing import NOT_PERSONAL, AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.contracts.value import AccountManagerV1, CompanyValueSnapshotV1, CustomerValueSnapshotV1
from services.kit.db import audit, connection
from services.kit.entry import runtime_lifespan, runtime_of
from services.kit.exporting import export_router
from services.kit.http import ProblemError, create_app
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from services.value.adapters import exporting, queries
from services.value.adapters import repository as repo
from services.value.adapters.repository import Subject
from services.value.domain.money import Rate
from services.value.entrypoints import queues
from services.value.entrypoints.schemas import (
    AccountManagerSet,
    CompanyValuePage,
    CompanyValuePublic,
    CustomerValuePage,
    CustomerValuePublic,
    DistributionPublic,
    RateIn,
    RatesIn,
    RatesLoaded,
    RatesPublic,
    TierChangePublic,
)
from services.value.service_layer import handlers
from services.value.service_layer.evaluation import ValueConfig
from services.value.settings import ValueSettings

Agent = Annotated[Principal, Depends(require_roles("agent"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor"))]
# Figures without personal data are on the ops dashboard too.
AgentOrOps = Annotated[Principal, Depends(require_roles("agent", "ops"))]
TierQ = Annotated[Literal["gold", "silver", "regular"] | None, Query()]
StageQ = Annotated[Literal["new", "active", "at_risk", "lapsed", "won_back"] | None, Query()]
RiskQ = Annotated[Literal["low", "medium", "high"] | None, Query()]
AtRiskQ = Annotated[bool | None, Query(description="Only at-risk or lapsed (true), or only the others (false)")]
ManagerQ = Annotated[str | None, Query(max_length=100, description="Accounts of this account manager")]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=100_000)]

router = APIRouter(prefix="/v1")


def _config(request: Request) -> ValueConfig:
    config = runtime_of(request).definition.extras["config"]
    assert isinstance(config, ValueConfig)
    return config


def _unknown(subject: Subject, subject_id: str) -> ProblemError:
    detail = f"no {subject} {subject_id!r} is known here"
    if subject == "customer":
        detail += (". A traveller's value appears once their first booking reaches this service (usually within a"
                   " second); try again shortly.")  # fmt: skip
    return ProblemError(404, detail, type_=f"/problems/unknown-{subject}")


def _history(rows: list[asyncpg.Record]) -> list[TierChangePublic]:
    return [TierChangePublic(**dict(r)) for r in rows]


async def _current_id(conn: asyncpg.Connection, customer_id: str) -> str:
    entry = await lookup(conn, "customer", customer_id)
    return customer_id if entry is None else entry.customer_id


@router.get("/customers/{customer_id}/value", response_model=CustomerValuePublic, tags=["value"])
async def customer_value(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: Annotated[AuditTrail, Depends(PersonalRead("value.read"))],
) -> CustomerValuePublic:
    """A traveller's tier, RFM, churn risk, stage and account manager, with the history of tier changes."""
    async with connection(runtime_of(request).pool) as conn:
        current = await _current_id(conn, customer_id)
        row = await repo.current_value(conn, "customer", current)
        if row is None:
            raise _unknown("customer", customer_id)
        history = await repo.history(conn, "customer", current, limit=50)
        await trail.record(conn, current)
    return CustomerValuePublic(value=CustomerValueSnapshotV1.model_validate(row["snapshot"]), history=_history(history))


@router.get("/companies/{company_id}/value", response_model=CompanyValuePublic, tags=["value"])
async def company_value(
    company_id: str,
    request: Request,
    principal: Agent,
    trail: Annotated[AuditTrail, Depends(PersonalRead("company.value.read", subject="company_id"))],
) -> CompanyValuePublic:
    """A company's tier, trend (tier history), churn risk and account manager, with its most valuable travellers."""
    async with connection(runtime_of(request).pool) as conn:
        row = await repo.current_value(conn, "company", company_id)
        if row is None:
            raise _unknown("company", company_id)
        history = await repo.history(conn, "company", company_id, limit=50)
        travellers = await queries.list_values(conn, "customer", company_id=company_id, limit=100, offset=0)
        await trail.record(conn, company_id, travellers=len(travellers))
    return CompanyValuePublic(
        value=CompanyValueSnapshotV1.model_validate(row["snapshot"]),
        history=_history(history),
        travellers=[CustomerValueSnapshotV1.model_validate(t) for t in travellers],
    )


@router.get("/customers", response_model=CustomerValuePage, tags=["queues"])
async def list_customers(
    request: Request, principal: Agent,
    trail: Annotated[AuditTrail, Depends(PersonalRead("values.read", subject="company_id"))],
    tier: TierQ = None, stage: StageQ = None, risk: RiskQ = None,
    at_risk: AtRiskQ = None, company_id: Annotated[str | None, Query(max_length=100)] = None,
    account_manager: ManagerQ = None, limit: Limit = 50, offset: Offset = 0,
) -> CustomerValuePage:  # fmt: skip
    """Travellers by tier, stage, churn risk, company or account manager, most valuable first (work queues)."""
    async with connection(runtime_of(request).pool) as conn:
        items = await queries.list_values(
            conn, "customer", tier=tier, stage=stage, risk=risk, at_risk=at_risk, company_id=company_id,
            manager=account_manager, limit=limit, offset=offset,
        )  # fmt: skip
        await trail.record(conn, company_id, tier=tier, stage=stage, results=len(items))
    return CustomerValuePage(
        items=[CustomerValueSnapshotV1.model_validate(i) for i in items], limit=limit, offset=offset
    )


@router.get("/companies", response_model=CompanyValuePage, tags=["queues"], dependencies=[NOT_PERSONAL])
async def list_companies(
    request: Request, principal: AgentOrOps, tier: TierQ = None, stage: StageQ = None, risk: RiskQ = None,
    at_risk: AtRiskQ = None, account_manager: ManagerQ = None, limit: Limit = 50, offset: Offset = 0,
) -> CompanyValuePage:  # fmt: skip
    """Companies by tier, stage, churn risk or account manager, most valuable first."""
    async with connection(runtime_of(request).pool) as conn:
        items = await queries.list_values(
            conn, "company", tier=tier, stage=stage, risk=risk, at_risk=at_risk, manager=account_manager,
            limit=limit, offset=offset,
        )  # fmt: skip
    return CompanyValuePage(items=[CompanyValueSnapshotV1.model_validate(i) for i in items], limit=limit, offset=offset)


@router.get("/distribution", response_model=DistributionPublic, tags=["queues"], dependencies=[NOT_PERSONAL])
async def distribution(request: Request, _: AgentOrOps) -> DistributionPublic:
    """How many travellers and companies are in each tier and stage."""
    async with connection(runtime_of(request).pool) as conn:
        return DistributionPublic(
            customers=await queries.tier_counts(conn, "customer"), companies=await queries.tier_counts(conn, "company")
        )


async def _assign(
    request: Request, principal: Principal, subject: Subject, subject_id: str, body: AccountManagerSet | None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    manager = (
        None
        if body is None
        else AccountManagerV1(kind=body.kind, id=body.id, assigned_by=principal.name, assigned_at=now)
    )
    async with connection(runtime_of(request).pool, transaction=True) as conn:
        try:
            current, previous = await handlers.assign_manager(
                conn, subject, subject_id, manager, config=_config(request), now=now
            )
        except handlers.UnknownSubjectError as exc:
            raise _unknown(subject, subject_id) from exc
        await audit(
            conn, principal, "account_manager.assign" if manager else "account_manager.remove", current,
            {"subject": subject, "manager": None if manager is None else f"{manager.kind}:{manager.id}",
             "previous": None if previous is None else f"{previous.kind}:{previous.id}"},
        )  # fmt: skip
    return {
        "subject": subject, "subject_id": current,
        "account_manager": None if manager is None else manager.model_dump(mode="json"),
    }  # fmt: skip


@router.put("/customers/{customer_id}/account-manager", tags=["account managers"])
async def assign_customer_manager(
    customer_id: str, body: AccountManagerSet, request: Request, principal: Supervisor
) -> dict[str, Any]:
    """Assign an agent or a team to a traveller (supervisors); it is published on the traveller's snapshot."""
    return await _assign(request, principal, "customer", customer_id, body)


@router.delete("/customers/{customer_id}/account-manager", tags=["account managers"])
async def remove_customer_manager(customer_id: str, request: Request, principal: Supervisor) -> dict[str, Any]:
    """Remove a traveller's own account manager (their company's, if any, applies again)."""
    return await _assign(request, principal, "customer", customer_id, None)


@router.put("/companies/{company_id}/account-manager", tags=["account managers"])
async def assign_company_manager(
    company_id: str, body: AccountManagerSet, request: Request, principal: Supervisor
) -> dict[str, Any]:
    """Assign an agent or a team to a company (supervisors); its travellers without their own show it too."""
    return await _assign(request, principal, "company", company_id, body)


@router.delete("/companies/{company_id}/account-manager", tags=["account managers"])
async def remove_company_manager(company_id: str, request: Request, principal: Supervisor) -> dict[str, Any]:
    """Remove a company's account manager."""
    return await _assign(request, principal, "company", company_id, None)


@router.get("/rates", response_model=RatesPublic, tags=["rates"], dependencies=[NOT_PERSONAL])
async def rates(request: Request, _: Agent) -> RatesPublic:
    """The dated currency rates loaded, into the reporting currency."""
    async with connection(runtime_of(request).pool) as conn:
        loaded = await repo.list_rates(conn)
    return RatesPublic(
        reporting_currency=_config(request).reporting_currency,
        rates=[RateIn(currency=r.currency, valid_from=r.valid_from, rate=r.rate) for r in loaded],
    )


@router.put("/rates", response_model=RatesLoaded, status_code=status.HTTP_200_OK, tags=["rates"])
async def load_rates(body: RatesIn, request: Request, principal: Supervisor) -> RatesLoaded:
    """Load dated rates (added, or replacing the rate of the same currency and day); affected spend is recomputed."""
    config = _config(request)
    if any(r.currency == config.reporting_currency for r in body.rates):
        raise ProblemError(422, f"{config.reporting_currency} is the reporting currency: its rate is 1",
                           type_="/problems/invalid-rate")  # fmt: skip
    rows = [Rate(r.currency, r.valid_from, r.rate) for r in body.rates]
    async with connection(runtime_of(request).pool, transaction=True) as conn:
        customers = await handlers.load_rates(conn, rows, actor=principal.name, now=datetime.now(UTC), config=config)
        await audit(conn, principal, "rates.load", None, {"rates": len(rows)})
    return RatesLoaded(loaded=len(rows), customers_to_review=customers)


def create_value_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera value",
        description="Customer value: RFM, tiers, churn risk and stage per traveller and company; account managers.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    app.include_router(router)
    app.include_router(queues.router)
    app.include_router(export_router("value", exporting.collect))
    _document_reporting_currency(app, runtime.settings)
    return app


def _document_reporting_currency(app: FastAPI, settings: object) -> None:
    """A rate never names the reporting currency (its rate is 1, `load_rates` refuses it): this
    deployment's currency goes into the rate's schema, which only the running app knows."""
    currency = getattr(settings, "reporting_currency", None) or ValueSettings().reporting_currency
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for name, schema in document.get("components", {}).get("schemas", {}).items():
                if name == "RateIn" or name.startswith("RateIn-"):
                    currency_schema = schema["properties"]["currency"]
                    currency_schema["not"] = {"const": currency}
                    currency_schema["description"] = f"ISO 4217; not {currency}, the reporting currency (rate 1)"
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document
