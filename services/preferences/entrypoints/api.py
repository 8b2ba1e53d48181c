"""Preferences HTTP API for agents and travellers' tools, and company policy for admins."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi import Path as FastAPIPath
from pydantic import BaseModel, Field, ValidationError
from starlette.convertors import StringConvertor, register_url_convertor

from services.kit.auditing import NOT_PERSONAL, AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.db import audit, connection
from services.kit.entry import runtime_lifespan, runtime_of
from services.kit.exporting import export_router
from services.kit.http import ProblemError, create_app, reveals, withhold
from services.kit.runtime import ServiceRuntime
from services.kit.sensitive import SPECIAL
from services.preferences.adapters import exporting
from services.preferences.adapters import repository as repo
from services.preferences.domain import catalogue, codes, inference, policy
from services.preferences.domain.catalogue import InvalidPreferenceError
from services.preferences.domain.model import Preference
from services.preferences.domain.value_schemas import preference_values_schema
from services.preferences.entrypoints import answer_pages, queues
from services.preferences.service_layer import handlers

Agent = Annotated[Principal, Depends(require_roles("agent"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
# Reads of a traveller's preferences: the HTTP shell audits each one, and each refusal.
PreferencesRead = Annotated[AuditTrail, Depends(PersonalRead("preferences.read"))]
EffectiveRead = Annotated[AuditTrail, Depends(PersonalRead("preferences.effective.read"))]
ExplainRead = Annotated[AuditTrail, Depends(PersonalRead("preferences.explain"))]
ConfirmationsRead = Annotated[AuditTrail, Depends(PersonalRead("preferences.confirmations.read"))]


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
        description='Sensitive keys whose values are redacted in this response (`{"redacted": "special-category"}`;'
        " shown with include_sensitive to a supervisor)",
    )


class EffectivePublic(PreferencesPublic):
    policy_version: int | None
    conflicts: list[ConflictPublic]


def _transaction(request: Request) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """A connection in a transaction: the route's reads, writes, outbox rows and audit rows commit together."""
    return connection(runtime_of(request).pool, transaction=True)


async def _audit(
    conn: asyncpg.Connection, principal: Principal, action: str, subject: str | None, **detail: Any
) -> None:
    await audit(conn, principal, action, subject, detail)


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


# A key of the catalogue, as the schema says (the handlers refuse any other with 422 as before).
PreferenceKey = Annotated[str, FastAPIPath(json_schema_extra={"enum": sorted(catalogue.SPECS)})]


class _KeyConvertor(StringConvertor):
    """A path segment that can be a catalogue key (dotted: `air.seat.long_haul`), so that `effective`,
    `explain` and `confirmations` are never read as keys: `DELETE .../preferences/effective` is a 405
    naming the methods of that path, not a 422 about an unknown key."""

    regex = r"[a-z_]+(?:\.[a-z_]+)+"


register_url_convertor("preference_key", _KeyConvertor())

router = APIRouter(prefix="/v1")

IncludeSensitive = Annotated[
    bool, Query(description="Show dietary/accessibility needs and meals (supervisor role; audited)")
]


@router.get("/customers/{customer_id}/preferences", response_model=PreferencesPublic, tags=["preferences"])
async def get_preferences(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: PreferencesRead,
    include_sensitive: IncludeSensitive = False,
) -> PreferencesPublic:
    """The traveller's own preferences (stated, agent-set, inferred) with provenance, before company policy."""
    show = _sensitive_access(principal, include_sensitive)
    async with _transaction(request) as conn:
        row = await _row(conn, customer_id)
        shown, redacted = _public(request, row.prefs.preferences(), show_sensitive=show)
        if show:
            trail.action = "preferences.sensitive.read"
        await trail.record(conn, row.prefs.customer_id)
    return PreferencesPublic(
        customer_id=row.prefs.customer_id, requested_id=customer_id, company_id=row.prefs.company_id,
        version=row.version, preferences=shown, redacted_keys=redacted,
    )  # fmt: skip


class SetPreferences(BaseModel):
    """Explicit preferences to set: all are validated first, then set together (or none is)."""

    values: dict[str, Any] = Field(
        min_length=1, max_length=50, description="Preference key -> value", json_schema_extra=preference_values_schema()
    )
    source: Literal["stated", "agent"] = Field(
        default="agent",
        description="stated: the traveller said so (their tool, or an agent quoting them); agent: set by an agent",
    )


@router.put(
    "/customers/{customer_id}/preferences",
    response_model=PreferencesPublic,
    tags=["preferences"],
    responses={
        422: {
            "description": "An invalid value (`errors` names the key), including a window whose start is not"
            " before its end (departure) or equals it (quiet hours), and a time zone the service does not know"
        }
    },
)
async def set_preferences(
    customer_id: str, body: SetPreferences, request: Request, principal: Agent
) -> PreferencesPublic:
    """Set stated or agent preferences; sensitive keys need the supervisor role. Publishes a new snapshot."""
    sensitive = sorted(k for k in body.values if catalogue.is_sensitive(k))
    _sensitive_access(principal, bool(sensitive))
    async with _transaction(request) as conn:
        try:
            row = await handlers.set_preferences(
                conn, customer_id, body.values, source=body.source, actor=principal.name
            )
        except InvalidPreferenceError as exc:
            raise _invalid(exc) from None
        await _audit(
            conn, principal, "preferences.write", row.prefs.customer_id, keys=sorted(body.values),
            sensitive_keys=sensitive, source=body.source,
        )  # fmt: skip
        shown, redacted = _public(request, row.prefs.preferences(), show_sensitive=bool(sensitive))
    return PreferencesPublic(
        customer_id=row.prefs.customer_id, requested_id=customer_id, company_id=row.prefs.company_id,
        version=row.version, preferences=shown, redacted_keys=redacted,
    )  # fmt: skip


@router.delete("/customers/{customer_id}/preferences/{key:preference_key}", status_code=204, tags=["preferences"])
async def clear_preference(customer_id: str, key: PreferenceKey, request: Request, principal: Agent) -> None:
    """Remove an explicit preference: inference (and policy) apply again."""
    _sensitive_access(principal, catalogue.is_sensitive(key))
    async with _transaction(request) as conn:
        try:
            removed = await handlers.clear_preference(conn, customer_id, key)
        except InvalidPreferenceError as exc:
            raise _invalid(exc) from None
        except handlers.UnknownCustomerError:
            removed = False
        if not removed:
            raise ProblemError(404, f"no explicit preference {key!r} for {customer_id!r}", type_="/problems/not-set")
        await _audit(conn, principal, "preferences.clear", customer_id, key=key)


@router.get("/customers/{customer_id}/preferences/effective", response_model=EffectivePublic, tags=["preferences"])
async def get_effective(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: EffectiveRead,
    include_sensitive: IncludeSensitive = False,
) -> EffectivePublic:
    """Effective preferences: the traveller's resolved against their company's travel policy, with conflicts."""
    show = _sensitive_access(principal, include_sensitive)
    async with _transaction(request) as conn:
        row = await _row(conn, customer_id)
        policies = await repo.load_policies(conn, [row.prefs.company_id])
        effective = handlers.effective_of(row.prefs, policies.get(row.prefs.company_id or ""))
        if show:
            trail.action = "preferences.sensitive.read"
        await trail.record(conn, row.prefs.customer_id, view="effective")
    shown, redacted = _public(request, effective.preferences, show_sensitive=show)
    return EffectivePublic(
        customer_id=row.prefs.customer_id, requested_id=customer_id, company_id=row.prefs.company_id,
        version=row.version, preferences=shown, redacted_keys=redacted, policy_version=effective.policy_version,
        conflicts=[ConflictPublic(key=c.key, preferred=c.preferred, allowed=c.allowed, message=c.message)
                   for c in effective.conflicts],
    )  # fmt: skip


class EvidencePublic(BaseModel):
    booking: str
    observed: Any
    at: datetime
    detail: str
    supports: bool


class ExplanationPublic(BaseModel):
    key: str
    effective_source: str | None = Field(description="Where the value in use comes from (None: no value)")
    explicit: dict[str, Any] | None
    inferred_value: Any
    confidence: float | None
    share: float | None
    evidence_count: int
    observed_count: int
    alternatives: list[dict[str, Any]]
    declined: list[Any]
    evidence: list[EvidencePublic]
    note: str


class ExplainPublic(BaseModel):
    customer_id: str
    method: str
    explanations: list[ExplanationPublic]


@router.get("/customers/{customer_id}/preferences/explain", response_model=ExplainPublic, tags=["preferences"])
async def explain(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: ExplainRead,
    key: Annotated[str | None, Query(max_length=100, description="One key; all keys when omitted")] = None,
    include_sensitive: IncludeSensitive = False,
) -> ExplainPublic:
    """Why each preference is what it is: explicit settings, the inference and every booking it rests on."""
    show = _sensitive_access(principal, include_sensitive or (key is not None and catalogue.is_sensitive(key)))
    async with _transaction(request) as conn:
        row = await _row(conn, customer_id)
        if show:
            trail.action = "preferences.sensitive.explain"
        await trail.record(conn, row.prefs.customer_id, key=key)
    prefs = row.prefs
    inferences = prefs.inferences()
    current = prefs.preferences()
    keys = [key] if key is not None else sorted(set(inferences) | set(prefs.explicit))
    out = []
    if not show:
        withhold(request, SPECIAL)  # sensitive keys stay listed, their values redacted by the kit
    for k in keys:
        inf = inferences.get(k)
        window = inference.window(prefs.observations.get(k, []))
        e = prefs.explicit.get(k)
        out.append(
            ExplanationPublic(
                key=k,
                effective_source=current[k].source if k in current else None,
                explicit=None if e is None else {"value": e.value, "source": e.source, "set_by": e.set_by,
                                                 "set_at": e.set_at.isoformat()},
                inferred_value=None if inf is None else catalogue.preference_value(k, inf.value),
                confidence=None if inf is None else inf.confidence,
                share=None if inf is None else inf.share,
                evidence_count=0 if inf is None else inf.evidence_count,
                observed_count=len(window),
                alternatives=[] if inf is None else [{"value": v, "count": n} for v, n in inf.alternatives],
                declined=prefs.declined.get(k, []),
                evidence=[EvidencePublic(booking=o.booking, observed=o.value, at=o.at, detail=o.detail,
                                         supports=inf is not None and o.value == inf.value) for o in reversed(window)],
                note=_note(k, inf, e),
            )
        )  # fmt: skip
    return ExplainPublic(customer_id=prefs.customer_id, method=inference.__doc__ or "", explanations=out)


def _note(key: str, inf: Any, explicit: Any) -> str:
    if explicit is not None:
        return f"{explicit.source} by {explicit.set_by}; an explicit preference always beats an inference"
    if inf is None:
        return "no evidence"
    if inf.confidence < inference.MIN_CONFIDENCE:
        return f"{inf.evidence_count} of {inf.observed_count} recent observations agree: too weak to use"
    return f"{inf.evidence_count} of {inf.observed_count} recent observations agree (confidence {inf.confidence:.2f})"


class ConfirmationPublic(BaseModel):
    request_id: str
    key: str
    value: Any
    confidence: float
    status: str
    asked_at: datetime
    answered_at: datetime | None
    answered_by: str | None = None
    link_expires_at: datetime | None = Field(
        default=None, description="Until when the traveller's emailed answer link works (None: no link)"
    )


class ConfirmationAnswer(BaseModel):
    accepted: bool = Field(description="True: the inference is right (it becomes stated); false: it is not")


@router.get(
    "/customers/{customer_id}/preferences/confirmations", response_model=list[ConfirmationPublic], tags=["preferences"]
)
async def list_confirmations(
    customer_id: str, request: Request, principal: Agent, trail: ConfirmationsRead
) -> list[ConfirmationPublic]:
    """Inferences the traveller was asked to confirm, newest first."""
    async with _transaction(request) as conn:
        row = await _row(conn, customer_id)
        rows = await repo.list_confirmations(conn, row.prefs.customer_id)
        await trail.record(conn, row.prefs.customer_id, results=len(rows))
    return [
        ConfirmationPublic(
            request_id=str(r["request_id"]), key=r["key"], value=r["value"], confidence=r["confidence"],
            status=r["status"], asked_at=r["asked_at"], answered_at=r["answered_at"], answered_by=r["answered_by"],
            link_expires_at=r["expires_at"],
        )
        for r in rows
    ]  # fmt: skip


@router.post(
    "/customers/{customer_id}/preferences/confirmations/{request_id}",
    response_model=PreferencesPublic,
    tags=["preferences"],
)
async def answer_confirmation(
    customer_id: str, request_id: uuid.UUID, body: ConfirmationAnswer, request: Request, principal: Agent
) -> PreferencesPublic:
    """The traveller's answer: confirmed inferences become stated, declined ones are no longer used."""
    async with _transaction(request) as conn:
        try:
            value = await handlers.answer_confirmation(
                conn, customer_id, str(request_id), accepted=body.accepted, actor=principal.name
            )
        except (LookupError, handlers.UnknownCustomerError):
            raise ProblemError(404, f"no confirmation request {request_id} for {customer_id!r}") from None
        except ValueError as exc:
            raise ProblemError(409, str(exc), type_="/problems/already-answered") from None
        row = await _row(conn, customer_id)
        await _audit(
            conn, principal, "preferences.confirmation", row.prefs.customer_id, request_id=str(request_id),
            accepted=body.accepted, value=value,
        )  # fmt: skip
    shown, redacted = _public(request, row.prefs.preferences(), show_sensitive=False)
    return PreferencesPublic(
        customer_id=row.prefs.customer_id, requested_id=customer_id, company_id=row.prefs.company_id,
        version=row.version, preferences=shown, redacted_keys=redacted,
    )  # fmt: skip


class ConfirmInference(BaseModel):
    """An inferred preference confirmed or rejected without a pending question (by an agent or the traveller's tool)."""

    accepted: bool = Field(description="True: the value becomes an explicit preference; false: it is declined")
    value: Any = Field(
        default=None,
        description="The inferred value meant (as shown to the caller); defaults to the current inferred value",
    )
    source: Literal["stated", "agent"] = Field(
        default="agent",
        description="Who confirms, as for PUT …/preferences: stated (the traveller, or an agent quoting them); "
        "agent (the agent's own judgement)",
    )


@router.post(
    "/customers/{customer_id}/preferences/{key:preference_key}/confirm",
    response_model=PreferencesPublic,
    tags=["preferences"],
    responses={409: {"description": "Nothing is inferred for the key: name the value to confirm or reject"}},
)
async def confirm_inference(
    customer_id: str, key: PreferenceKey, body: ConfirmInference, request: Request, principal: Agent
) -> PreferencesPublic:
    """Confirm an inferred preference (it becomes stated or agent-set) or reject it (declined: no longer used
    or asked about), whether or not the traveller was asked; pending questions about the key are closed.
    Sensitive keys need the supervisor role."""
    sensitive = catalogue.is_sensitive(key)
    _sensitive_access(principal, sensitive)
    async with _transaction(request) as conn:
        try:
            row, value = await handlers.confirm_inference(
                conn, customer_id, key, accepted=body.accepted, value=body.value, source=body.source,
                actor=principal.name,
            )  # fmt: skip
        except InvalidPreferenceError as exc:
            raise _invalid(exc) from None
        except handlers.UnknownCustomerError:
            raise ProblemError(
                404, f"no preferences known for customer {customer_id!r}", type_="/problems/unknown-customer"
            ) from None
        except handlers.NothingInferredError:
            raise ProblemError(
                409, f"nothing is inferred for {key!r} of {customer_id!r}: name the value to confirm or reject",
                type_="/problems/nothing-inferred",
            ) from None  # fmt: skip
        detail: dict[str, Any] = {"key": key, "accepted": body.accepted, "source": body.source, "sensitive": sensitive}
        if not sensitive:
            detail["value"] = value
        await _audit(conn, principal, "preferences.confirm", row.prefs.customer_id, **detail)
        shown, redacted = _public(request, row.prefs.preferences(), show_sensitive=sensitive)
    return PreferencesPublic(
        customer_id=row.prefs.customer_id, requested_id=customer_id, company_id=row.prefs.company_id,
        version=row.version, preferences=shown, redacted_keys=redacted,
    )  # fmt: skip


class KeySpecPublic(BaseModel):
    key: str
    description: str
    kind: str
    allowed: list[str]
    sensitive: bool
    minimum: int | None
    maximum: int | None
    code_table: str | None = Field(
        default=None, description="The table of GET /v1/preferences/codes that names this key's codes"
    )


@router.get(
    "/preferences/catalogue", response_model=list[KeySpecPublic], tags=["preferences"], dependencies=[NOT_PERSONAL]
)
async def get_catalogue(principal: Agent) -> list[KeySpecPublic]:
    """Every preference key, its value type and allowed values."""
    return [
        KeySpecPublic(key=s.key, description=s.description, kind=s.kind, allowed=list(s.allowed),
                      sensitive=s.sensitive, minimum=s.minimum, maximum=s.maximum, code_table=s.code_table)
        for s in catalogue.SPECS.values()
    ]  # fmt: skip


@router.get(
    "/preferences/codes", response_model=dict[str, dict[str, str]], tags=["preferences"], dependencies=[NOT_PERSONAL]
)
async def get_code_names(principal: Agent) -> dict[str, dict[str, str]]:
    """Names of the codes preferences and bookings carry, by table (airlines, alliances, hotel_chains,
    car_vendors, meals): `{"meals": {"AVML": "Asian vegetarian", ...}, ...}`. Hotel chain and car vendor
    codes not listed are still accepted; they simply have no name here."""
    return codes.name_tables()


# --- company travel policy ----------------------------------------------------------------------


class PolicyPublic(BaseModel):
    company_id: str
    version: int
    policy: dict[str, Any]
    updated_by: str
    updated_at: datetime


def _policy_public(row: repo.PolicyRow) -> PolicyPublic:
    return PolicyPublic(
        company_id=row.company_id, version=row.version, policy=row.policy, updated_by=row.updated_by,
        updated_at=row.updated_at,
    )  # fmt: skip


@router.get("/policies", response_model=list[PolicyPublic], tags=["policy"], dependencies=[NOT_PERSONAL])
async def list_policies(request: Request, principal: Admin) -> list[PolicyPublic]:
    """Every company's travel policy (role: admin)."""
    async with _transaction(request) as conn:
        return [_policy_public(r) for r in await repo.list_policies(conn)]


@router.get("/companies/{company_id}/policy", response_model=PolicyPublic, tags=["policy"], dependencies=[NOT_PERSONAL])
async def get_policy(company_id: str, request: Request, principal: Agent) -> PolicyPublic:
    """A company's travel policy."""
    async with _transaction(request) as conn:
        row = (await repo.load_policies(conn, [company_id])).get(company_id)
    if row is None or row.deleted:
        raise ProblemError(404, f"no travel policy for company {company_id!r}", type_="/problems/unknown-policy")
    return _policy_public(row)


def _policy_body() -> tuple[dict[str, Any], dict[str, Any]]:
    """The policy body's schema (the policy without its company, which the path names) and its parts."""
    schema = policy.TravelPolicy.model_json_schema(ref_template="#/components/schemas/{model}")
    parts = schema.pop("$defs", {})
    schema["properties"].pop("company_id")
    schema["required"] = [r for r in schema.get("required", []) if r != "company_id"]
    return schema, parts


_POLICY_BODY, _POLICY_PARTS = _policy_body()


@router.put(
    "/companies/{company_id}/policy",
    response_model=PolicyPublic,
    tags=["policy"],
    responses={
        422: {
            "description": "An invalid policy (`errors` names each field), including two cabin rules for the same"
            " min_hours and an airline both preferred and blocked"
        }
    },
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": _POLICY_BODY}}},
        "x-component-schemas": _POLICY_PARTS,
    },
)
async def put_policy(
    company_id: str, body: Annotated[dict[str, Any], Body()], request: Request, principal: Admin
) -> PolicyPublic:
    """Create or replace a company's travel policy (role: admin); travellers' snapshots follow shortly."""
    try:
        validated = policy.TravelPolicy.from_json(company_id, body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        fields = ", ".join(e["field"] or "(body)" for e in errors[:5])
        raise ProblemError(422, f"invalid policy: {fields}", type_="/problems/invalid-policy", errors=errors) from None
    stored = validated.model_dump(mode="json", exclude={"company_id"})
    async with _transaction(request) as conn:
        version = await repo.save_policy(
            conn, company_id=company_id, policy=stored, deleted=False, updated_by=principal.name
        )
        await _audit(conn, principal, "policy.write", None, company_id=company_id, version=version)
        await conn.execute("SELECT pg_notify('preferences_policy', $1)", company_id)
        row = (await repo.load_policies(conn, [company_id]))[company_id]
    return _policy_public(row)


@router.delete("/companies/{company_id}/policy", status_code=204, tags=["policy"])
async def delete_policy(company_id: str, request: Request, principal: Admin) -> None:
    """Remove a company's travel policy (role: admin); travellers' effective preferences lose its limits."""
    async with _transaction(request) as conn:
        row = (await repo.load_policies(conn, [company_id])).get(company_id)
        if row is None or row.deleted:
            raise ProblemError(404, f"no travel policy for company {company_id!r}", type_="/problems/unknown-policy")
        version = await repo.save_policy(
            conn, company_id=company_id, policy=row.policy, deleted=True, updated_by=principal.name
        )
        await _audit(conn, principal, "policy.delete", None, company_id=company_id, version=version)
        await conn.execute("SELECT pg_notify('preferences_policy', $1)", company_id)


def _invalid(exc: InvalidPreferenceError) -> ProblemError:
    return ProblemError(
        422, exc.message if exc.key in exc.message else f"{exc.key}: {exc.message}",
        type_="/problems/invalid-preference", errors=[{"field": exc.key, "message": exc.message}],
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
    app.include_router(queues.router)
    app.state.answer_templates = answer_pages.templates()
    app.include_router(answer_pages.router)
    app.include_router(export_router("preferences", exporting.collect))
    return app
