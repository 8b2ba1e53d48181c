"""Next best actions from preferences: confirm inferred preferences, suggest hotels within policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.kit.actions import NextActionsPublic, ordered, public
from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.db import connection
from services.kit.entry import runtime_of
from services.preferences.adapters import repository as repo
from services.preferences.adapters import stays
from services.preferences.domain import actions, catalogue, codes
from services.preferences.domain.model import CONFIRM_MAX
from services.preferences.entrypoints.deps import Agent, customer_row
from services.preferences.service_layer import publishing

ActionsRead = Annotated[AuditTrail, Depends(PersonalRead("next_actions.read"))]
# The stays that tell which cities a traveller often visits.
STAY_WINDOW = timedelta(days=365)

router = APIRouter(prefix="/v1")


@router.get("/customers/{customer_id}/next-actions", response_model=NextActionsPublic, tags=["next best action"])
async def customer_next_actions(
    customer_id: str, request: Request, principal: Agent, trail: ActionsRead
) -> NextActionsPublic:
    """What an agent should do next for a traveller, from preferences: confirm inferences, suggest hotels."""
    async with connection(runtime_of(request).pool) as conn:
        row = await customer_row(conn, customer_id)
        current = row.prefs.customer_id
        policies = await repo.load_policies(conn, [row.prefs.company_id])
        policy_row = policies.get(row.prefs.company_id or "")
        effective = publishing.effective_of(row.prefs, policy_row)
        visits = await stays.city_visits(conn, current, since=(datetime.now(UTC) - STAY_WINDOW).date())
        await trail.record(conn, current)
    prefs = row.prefs
    inferred = [
        actions.Inferred(p.key, p.value, p.confidence, p.evidence_count, asked=p.key in prefs.asked)
        for p in effective.preferences.values()
        if p.source == "inferred" and not catalogue.is_sensitive(p.key)
    ]
    chains_pref = effective.preferences.get("hotel.chains.preferred")
    chains = [str(c) for c in chains_pref.value] if chains_pref and isinstance(chains_pref.value, list) else []
    caps: dict[str, Any] = {}
    if policy_row is not None and not policy_row.deleted:
        caps = dict(policy_row.policy.get("hotel_rate_caps") or {})
    found = actions.confirm_inferred(inferred, confident=CONFIRM_MAX) + actions.suggest_hotels(
        [actions.Visits(v.city, v.country, v.stays, v.nights, v.last_check_in, v.chains) for v in visits],
        chains,
        caps,
        chain_names=codes.name_tables().get("hotel_chains", {}),
    )
    return NextActionsPublic(
        subject="customer",
        subject_id=current,
        items=ordered([public(a, service="preferences", customer_id=current) for a in found]),
    )
