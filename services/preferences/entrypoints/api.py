"""Preferences HTTP API for agents and travellers' tools, and company policy for admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal, cast

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, Field

from services.kit.auth import Principal, require_roles
from services.kit.db import record_audit
from services.kit.entry import runtime_lifespan
from services.kit.http import ProblemError, create_app
from services.kit.logging import correlation_id_var
from services.kit.runtime import ServiceRuntime
from services.preferences.adapters import repository as repo
from services.preferences.domain import catalogue
from services.preferences.domain.model import Preference
from services.preferences.service_layer import handlers

Agent = Annotated[Principal, Depends(require_roles("agent"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]


class PreferencePublic(BaseModel):
    key: str
    value: Any
    source: Literal["stated", "agent", "inferred", "policy"]
    confidence: float
    evidence_count: int
    first_seen: datetime
    last_seen: datetime
    sensitive: bool = False


class ConflictPublic(BaseModel):
    key: str
    preferred: Any
    allowed: Any
    message: str


class PreferencesPublic(BaseModel):
    customer_id: str
    requested_id: str
    company_id: str | None
    version: int
    preferences: list[PreferencePublic]
    redacted_keys: list[str] = Field(
        default_factory=list,
        description="Sensitive keys present but not shown (needs include_sensitive and supervisor)",
    )


class EffectivePublic(PreferencesPublic):
    policy_version: int | None
    conflicts: list[ConflictPublic]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


@asynccontextmanager
async def _transaction(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction: the route's reads, writes, outbox rows and audit rows commit together."""
    async with _runtime(request).pool.acquire() as proxy, proxy.transaction():
        yield cast(asyncpg.Connection, proxy)


async def _audit(
    conn: asyncpg.Connection, principal: Principal, action: str, subject: str | None, **detail: Any
) -> None:
    await record_audit(
        conn, principal=principal.name, role=principal.role, action=action, subject_id=subject, detail=detail,
        correlation_id=correlation_id_var.get(),
    )  # fmt: skip


async def _row(conn: asyncpg.Connection, customer_id: str) -> repo.CustomerRow:
    try:
        real_id = await handlers.resolve_id(conn, customer_id)
    except handlers.UnknownCustomerError:
        raise ProblemError(
            404, f"no preferences known for customer {customer_id!r}", type_="/problems/unknown-customer"
        ) from None
    row = await repo.load(conn, real_id)
    assert row is not None
    return row


def _sensitive_access(principal: Principal, include_sensitive: bool) -> bool:
    if include_sensitive and not principal.can_act_as("supervisor"):
        raise ProblemError(
            403, "sensitive preferences (dietary, accessibility, meals) need the supervisor role",
            type_="/problems/sensitive-preferences",
        )  # fmt: skip
    return include_sensitive


def _public(
    prefs: dict[str, Preference], *, show_sensitive: bool
) -> tuple[list[PreferencePublic], list[str]]:
    shown, redacted = [], []
    for key, p in prefs.items():
        sensitive = catalogue.is_sensitive(key)
        if sensitive and not show_sensitive:
            redacted.append(key)
            continue
        shown.append(
            PreferencePublic(
                key=key, value=p.value, source=p.source, confidence=p.confidence, evidence_count=p.evidence_count,
                first_seen=p.first_seen, last_seen=p.last_seen, sensitive=sensitive,
            )
        )  # fmt: skip
    return shown, redacted


router = APIRouter(prefix="/v1")

IncludeSensitive = Annotated[
    bool, Query(description="Show dietary/accessibility needs and meals (supervisor role; audited)")
]


@router.get("/customers/{customer_id}/preferences", response_model=PreferencesPublic, tags=["preferences"])
async def get_preferences(
    customer_id: str, request: Request, principal: Agent, include_sensitive: IncludeSensitive = False
) -> PreferencesPublic:
    """The traveller's own preferences (stated, agent-set, inferred) with provenance, before company policy."""
    show = _sensitive_access(principal, include_sensitive)
    async with _transaction(request) as conn:
        row = await _row(conn, customer_id)
        shown, redacted = _public(row.prefs.preferences(), show_sensitive=show)
        if show:
            await _audit(conn, principal, "preferences.sensitive.read", row.prefs.customer_id)
    return PreferencesPublic(
        customer_id=row.prefs.customer_id, requested_id=customer_id, company_id=row.prefs.company_id,
        version=row.version, preferences=shown, redacted_keys=redacted,
    )  # fmt: skip


def create_preferences_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera preferences",
        description="Stated and inferred travel preferences, company travel policy, effective preferences.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    app.include_router(router)
    return app
