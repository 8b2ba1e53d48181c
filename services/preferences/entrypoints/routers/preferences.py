"""A traveller's preferences: read, set, clear, effective (after company policy) and explained."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.kit.http import ProblemError, withhold
from services.kit.sensitive import SPECIAL
from services.preferences.adapters import repository as repo
from services.preferences.domain import catalogue, inference
from services.preferences.domain.catalogue import InvalidPreferenceError
from services.preferences.entrypoints.deps import (
    Agent,
    EffectiveRead,
    ExplainRead,
    IncludeSensitive,
    PreferenceKey,
    PreferencesRead,
    customer_row,
    invalid_preference,
    preferences_response,
    public_preferences,
    record_audit,
    sensitive_access,
    transaction,
)
from services.preferences.entrypoints.schemas import (
    ConflictPublic,
    EffectivePublic,
    EvidencePublic,
    ExplainPublic,
    ExplanationPublic,
    PreferencesPublic,
    SetPreferences,
)
from services.preferences.service_layer import commands, handlers, publishing

router = APIRouter(prefix="/v1")


@router.get("/customers/{customer_id}/preferences", response_model=PreferencesPublic, tags=["preferences"])
async def get_preferences(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: PreferencesRead,
    include_sensitive: IncludeSensitive = False,
) -> PreferencesPublic:
    """The traveller's own preferences (stated, agent-set, inferred) with provenance, before company policy."""
    show = sensitive_access(principal, include_sensitive)
    async with transaction(request) as conn:
        row = await customer_row(conn, customer_id)
        response = preferences_response(request, row, customer_id, show_sensitive=show)
        if show:
            trail.action = "preferences.sensitive.read"
        await trail.record(conn, row.prefs.customer_id)
    return response


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
    sensitive_access(principal, bool(sensitive))
    async with transaction(request) as conn:
        try:
            row = await commands.set_preferences(
                conn, customer_id, body.values, source=body.source, actor=principal.name
            )
        except InvalidPreferenceError as exc:
            raise invalid_preference(exc) from None
        await record_audit(
            conn, principal, "preferences.write", row.prefs.customer_id, keys=sorted(body.values),
            sensitive_keys=sensitive, source=body.source,
        )  # fmt: skip
        response = preferences_response(request, row, customer_id, show_sensitive=bool(sensitive))
    return response


@router.delete("/customers/{customer_id}/preferences/{key:preference_key}", status_code=204, tags=["preferences"])
async def clear_preference(customer_id: str, key: PreferenceKey, request: Request, principal: Agent) -> None:
    """Remove an explicit preference: inference (and policy) apply again."""
    sensitive_access(principal, catalogue.is_sensitive(key))
    async with transaction(request) as conn:
        try:
            removed = await commands.clear_preference(conn, customer_id, key)
        except InvalidPreferenceError as exc:
            raise invalid_preference(exc) from None
        except handlers.UnknownCustomerError:
            removed = False
        if not removed:
            raise ProblemError(404, f"no explicit preference {key!r} for {customer_id!r}", type_="/problems/not-set")
        await record_audit(conn, principal, "preferences.clear", customer_id, key=key)


@router.get("/customers/{customer_id}/preferences/effective", response_model=EffectivePublic, tags=["preferences"])
async def get_effective(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: EffectiveRead,
    include_sensitive: IncludeSensitive = False,
) -> EffectivePublic:
    """Effective preferences: the traveller's resolved against their company's travel policy, with conflicts."""
    show = sensitive_access(principal, include_sensitive)
    async with transaction(request) as conn:
        row = await customer_row(conn, customer_id)
        policies = await repo.load_policies(conn, [row.prefs.company_id])
        effective = publishing.effective_of(row.prefs, policies.get(row.prefs.company_id or ""))
        if show:
            trail.action = "preferences.sensitive.read"
        await trail.record(conn, row.prefs.customer_id, view="effective")
    shown, redacted = public_preferences(request, effective.preferences, show_sensitive=show)
    return EffectivePublic(
        customer_id=row.prefs.customer_id, requested_id=customer_id, company_id=row.prefs.company_id,
        version=row.version, preferences=shown, redacted_keys=redacted, policy_version=effective.policy_version,
        conflicts=[ConflictPublic(key=c.key, preferred=c.preferred, allowed=c.allowed, message=c.message)
                   for c in effective.conflicts],
    )  # fmt: skip


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
    show = sensitive_access(principal, include_sensitive or (key is not None and catalogue.is_sensitive(key)))
    async with transaction(request) as conn:
        row = await customer_row(conn, customer_id)
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
