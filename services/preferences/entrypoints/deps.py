"""Dependencies of the preferences API's routes: roles, audited reads, the transaction, keys, shared replies."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Query, Request
from fastapi import Path as FastAPIPath
from starlette.convertors import StringConvertor, register_url_convertor

from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.db import audit, connection
from services.kit.entry import runtime_of
from services.kit.http import ProblemError, reveals, withhold
from services.kit.sensitive import SPECIAL
from services.preferences.adapters import repository as repo
from services.preferences.domain import catalogue
from services.preferences.domain.catalogue import InvalidPreferenceError
from services.preferences.domain.model import Preference
from services.preferences.entrypoints.schemas import PreferencePublic, PreferencesPublic
from services.preferences.service_layer import handlers

Agent = Annotated[Principal, Depends(require_roles("agent"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
# Reads of a traveller's preferences: the HTTP shell audits each one, and each refusal.
PreferencesRead = Annotated[AuditTrail, Depends(PersonalRead("preferences.read"))]
EffectiveRead = Annotated[AuditTrail, Depends(PersonalRead("preferences.effective.read"))]
ExplainRead = Annotated[AuditTrail, Depends(PersonalRead("preferences.explain"))]
ConfirmationsRead = Annotated[AuditTrail, Depends(PersonalRead("preferences.confirmations.read"))]

IncludeSensitive = Annotated[
    bool, Query(description="Show dietary/accessibility needs and meals (supervisor role; audited)")
]


def transaction(request: Request) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """A connection in a transaction: the route's reads, writes, outbox rows and audit rows commit together."""
    return connection(runtime_of(request).pool, transaction=True)


async def record_audit(
    conn: asyncpg.Connection, principal: Principal, action: str, subject: str | None, **detail: Any
) -> None:
    await audit(conn, principal, action, subject, detail)


async def customer_row(conn: asyncpg.Connection, customer_id: str) -> repo.CustomerRow:
    try:
        real_id = await handlers.resolve_id(conn, customer_id)
    except handlers.UnknownCustomerError:
        raise ProblemError(
            404, f"no preferences known for customer {customer_id!r}", type_="/problems/unknown-customer"
        ) from None
    row = await repo.load(conn, real_id)
    assert row is not None
    return row


def sensitive_access(principal: Principal, include_sensitive: bool) -> bool:
    if include_sensitive and not principal.can_act_as("supervisor"):
        raise ProblemError(
            403, "sensitive preferences (dietary, accessibility, meals) need the supervisor role",
            type_="/problems/sensitive-preferences",
        )  # fmt: skip
    return include_sensitive


def public_preferences(
    request: Request, prefs: dict[str, Preference], *, show_sensitive: bool
) -> tuple[list[PreferencePublic], list[str]]:
    """Every preference, and the keys whose values the caller will not see: the kit's response filter
    redacts them (`services.kit.sensitive`); a caller who did not ask for them does not get them either."""
    if not show_sensitive:
        withhold(request, SPECIAL)
    hidden = not reveals(request, SPECIAL)
    shown, redacted = [], []
    for key, p in prefs.items():
        sensitive = catalogue.is_sensitive(key)
        if sensitive and hidden:
            redacted.append(key)
        shown.append(
            PreferencePublic(
                key=key, value=p.value, source=p.source, confidence=p.confidence, evidence_count=p.evidence_count,
                first_seen=p.first_seen, last_seen=p.last_seen, sensitive=sensitive,
            )
        )  # fmt: skip
    return shown, redacted


def preferences_response(
    request: Request, row: repo.CustomerRow, requested_id: str, *, show_sensitive: bool = False
) -> PreferencesPublic:
    """The answer of every call that returns a traveller's preferences (`public_preferences` filtered)."""
    shown, redacted = public_preferences(request, row.prefs.preferences(), show_sensitive=show_sensitive)
    return PreferencesPublic(
        customer_id=row.prefs.customer_id, requested_id=requested_id, company_id=row.prefs.company_id,
        version=row.version, preferences=shown, redacted_keys=redacted,
    )  # fmt: skip


# A key of the catalogue, as the schema says (the handlers refuse any other with 422 as before).
PreferenceKey = Annotated[str, FastAPIPath(json_schema_extra={"enum": sorted(catalogue.SPECS)})]


class _KeyConvertor(StringConvertor):
    """A path segment that can be a catalogue key (dotted: `air.seat.long_haul`), so that `effective`,
    `explain` and `confirmations` are never read as keys: `DELETE .../preferences/effective` is a 405
    naming the methods of that path, not a 422 about an unknown key."""

    regex = r"[a-z_]+(?:\.[a-z_]+)+"


register_url_convertor("preference_key", _KeyConvertor())


def invalid_preference(exc: InvalidPreferenceError) -> ProblemError:
    return ProblemError(
        422, exc.message if exc.key in exc.message else f"{exc.key}: {exc.message}",
        type_="/problems/invalid-preference", errors=[{"field": exc.key, "message": exc.message}],
    )  # fmt: skip
