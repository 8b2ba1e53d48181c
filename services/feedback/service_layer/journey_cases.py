"""Cases the trips service's journeys ask for (`JourneyCaseRequestedV1` on `trips.journeys.v1`).

A `case` opens a case for the traveller's account manager (a gold traveller's disruption, a long
delay) with the tier's SLA. A `callback` is a task for an agent to call the traveller back: it joins
the open case of the same survey (the low score opened one already) as a note, else opens a request.
A request opens at most one case, however often it is delivered.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import asyncpg

from services.feedback.adapters import cases as cases_repo
from services.feedback.adapters import repository as repo
from services.feedback.domain.cases import DONE, Case, CaseKind, CaseSource, Priority, SlaPolicy
from services.feedback.service_layer.common import current_customer, customer_value
from services.feedback.service_layer.handlers import publish_opened
from services.kit.consumer import PermanentError
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.trips import JourneyCaseRequestedV1


async def handle_journey_case(
    conn: asyncpg.Connection, event: Envelope[Any], *, policy: SlaPolicy, now: datetime
) -> None:
    """Open the case, or add the call-back task to the case already open."""
    p = event.payload
    if not isinstance(p, JourneyCaseRequestedV1):
        raise PermanentError(f"expected JourneyCaseRequestedV1, got {type(p).__name__}")
    actor = f"journey:{p.journey}"
    customer_id, _ = await current_customer(conn, p.customer_id)
    if p.action == "callback" and p.survey_id is not None:
        case_id = (await repo.case_ids_for_surveys(conn, [p.survey_id])).get(p.survey_id)
        case = None if case_id is None else await cases_repo.get_case(conn, case_id, for_update=True)
        if case is not None and case.status not in DONE:
            case.add_note(f"Call-back task: {p.subject} (trip {p.trip_id})", actor=actor, now=now)
            await cases_repo.update_case(conn, case)
            return
    tier, manager = await customer_value(conn, customer_id)
    case = Case.open(
        case_id="case_" + hashlib.sha256(p.request_id.encode()).hexdigest()[:32],
        customer_id=customer_id,
        kind=CaseKind.REQUEST if p.action == "callback" else CaseKind.COMPLAINT,
        source=CaseSource.JOURNEY,
        subject=p.subject,
        description=p.description or f"Opened by the {p.journey} journey (v{p.journey_version}) for trip {p.trip_id}.",
        priority=Priority(p.priority),
        opened_by=actor,
        now=now,
        policy=policy.for_tier(tier),
        assignee=manager,
        source_system=p.source_system,
        booking_id=p.booking_id,
    )
    if await cases_repo.insert_case(conn, case):
        await publish_opened(conn, case)
