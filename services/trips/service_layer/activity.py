"""What happened around a trip elsewhere: messages, surveys and cases, on the trip's timeline.

A delivery report finds its trip through the event that caused the message (a journey's request or
a booking, both on the timeline); a survey through its booking; an answer through its survey, and
it triggers the post-trip journeys; a case through its booking or survey.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import CaseOpenedV1, SurveyAnsweredV1, SurveyInvitedV1
from services.kit.contracts.notifications import DeliveryFailedV1, DeliveryHeldV1, DeliverySentV1
from services.trips.adapters import repository as repo
from services.trips.domain.definitions import JourneyDefinition
from services.trips.service_layer import engine


async def _trip_of_booking(conn: asyncpg.Connection, source_system: str | None, booking_id: str | None) -> str | None:
    if source_system is None or booking_id is None:
        return None
    b = await repo.booking(conn, source_system, booking_id)
    return None if b is None else await repo.current_trip(conn, b.trip_id)


async def handle_activity(
    conn: asyncpg.Connection, event: Envelope[Any], *, definitions: Mapping[str, JourneyDefinition], now: datetime
) -> None:
    """One event of notifications or feedback, onto the timeline of its trip (if it has one here)."""
    p = event.payload
    if isinstance(p, DeliverySentV1 | DeliveryFailedV1 | DeliveryHeldV1):
        await _delivery(conn, event, p)
    elif isinstance(p, SurveyInvitedV1):
        # The traveller's bookings are grouped under this lock: a booking handled at the same moment either
        # committed before (found here) or comes after and claims the survey (see `claim_surveys`).
        await repo.lock_customer(conn, p.customer_id)
        trip_id = await _trip_of_booking(conn, p.source_system, p.booking_id)
        await repo.save_survey(conn, survey_id=p.survey_id, source_system=p.source_system, booking_id=p.booking_id,
                               trip_id=trip_id, invited_at=event.occurred_at)  # fmt: skip
        if trip_id is not None:
            await _invited(conn, trip_id, p.survey_id, at=event.occurred_at, event_id=event.event_id)
    elif isinstance(p, SurveyAnsweredV1):
        await _answered(conn, event, p, definitions=definitions, now=now)
    elif isinstance(p, CaseOpenedV1):
        trip_id = await _trip_of_booking(conn, p.source_system, p.booking_id)
        if trip_id is None and p.survey_id is not None:
            trip_id = await repo.trip_of_survey(conn, p.survey_id)
        if trip_id is not None:
            await repo.add_entry(
                conn, trip_id=await repo.current_trip(conn, trip_id), at=p.opened_at, kind="case.opened",
                summary=f"Case opened ({p.kind}, {p.priority}): {p.subject}",
                detail={"case_id": p.case_id, "assignee": p.assignee}, event_id=event.event_id,
            )  # fmt: skip


async def _delivery(
    conn: asyncpg.Connection, event: Envelope[Any], p: DeliverySentV1 | DeliveryFailedV1 | DeliveryHeldV1
) -> None:
    cause = getattr(p, "cause_event_id", None)
    if not cause:
        return
    try:
        cause_id = uuid.UUID(cause)
    except ValueError:
        return
    trip_id = await repo.trip_of_event(conn, cause_id)
    if trip_id is None:
        return
    template, channel = getattr(p, "template", "message"), getattr(p, "channel", "")
    if isinstance(p, DeliverySentV1):
        kind, summary = "message.sent", f"Message {template} sent by {channel}"
    elif isinstance(p, DeliveryHeldV1):
        kind, summary = "message.held", f"Message {template} held for quiet hours"
    else:
        kind, summary = "message.failed", f"Message {template} {p.status}: {p.reason}"
    await repo.add_entry(
        conn, trip_id=await repo.current_trip(conn, trip_id), at=event.occurred_at, kind=kind, summary=summary,
        detail={"delivery_id": p.delivery_id}, event_id=event.event_id,
    )  # fmt: skip


async def _invited(conn: asyncpg.Connection, trip_id: str, survey_id: str, *, at: datetime,
                   event_id: uuid.UUID | None) -> None:  # fmt: skip
    await repo.add_entry(conn, trip_id=trip_id, at=at, kind="survey.invited", summary="Survey created for the trip",
                         detail={"survey_id": survey_id}, event_id=event_id)  # fmt: skip


async def _answered(
    conn: asyncpg.Connection, event: Envelope[Any], p: SurveyAnsweredV1, *,
    definitions: Mapping[str, JourneyDefinition], now: datetime,
) -> None:  # fmt: skip
    await repo.lock_customer(conn, p.customer_id)  # as for the invitation: the answer is parked or handled, never lost
    row = await repo.survey(conn, p.survey_id)
    if row is None:
        return  # not a survey of a trip (its invitation came before this service existed)
    answer = {
        "customer_id": p.customer_id, "survey_id": p.survey_id, "booking_id": p.booking_id, "csat": p.csat,
        "nps": p.nps, "has_comment": bool(p.comment), "answered_at": p.answered_at.isoformat(),
        "event_id": str(event.event_id),
    }  # fmt: skip
    if row["trip_id"] is None:
        await repo.park_answer(conn, p.survey_id, answer)
        return
    await record_answer(conn, await repo.current_trip(conn, row["trip_id"]), answer, definitions=definitions,
                        cause=event, now=now)  # fmt: skip


async def claim_surveys(
    conn: asyncpg.Connection, *, source_system: str, booking_id: str, trip_id: str,
    definitions: Mapping[str, JourneyDefinition], cause: Envelope[Any], now: datetime,
) -> None:  # fmt: skip
    """The booking of surveys that came first is here: they join its trip, a parked answer is handled now."""
    for row in await repo.claim_surveys(conn, source_system=source_system, booking_id=booking_id, trip_id=trip_id):
        await _invited(conn, trip_id, row["survey_id"], at=row["invited_at"], event_id=None)
        if row["answer"] is not None:
            await record_answer(conn, trip_id, dict(row["answer"]), definitions=definitions, cause=cause, now=now)


async def record_answer(
    conn: asyncpg.Connection, trip_id: str, answer: Mapping[str, Any], *,
    definitions: Mapping[str, JourneyDefinition], cause: Envelope[Any], now: datetime,
) -> None:  # fmt: skip
    """An answer on the trip's timeline, and the post-trip journeys it triggers."""
    csat, nps = answer.get("csat"), answer.get("nps")
    low = (csat is not None and csat <= 2) or (nps is not None and nps <= 6)
    scores = ", ".join(f"{k} {v}" for k, v in (("CSAT", csat), ("NPS", nps)) if v is not None)
    await repo.add_entry(conn, trip_id=trip_id, at=datetime.fromisoformat(answer["answered_at"]),
                         kind="survey.answered", summary=f"Survey answered ({scores})",
                         detail={"survey_id": answer["survey_id"]}, event_id=uuid.UUID(answer["event_id"]))  # fmt: skip
    facts: dict[str, Any] = {
        "trip_id": trip_id, "customer_id": answer["customer_id"], "survey_id": answer["survey_id"],
        "booking_id": answer["booking_id"], "source_system": None, "csat": csat, "nps": nps, "low_score": low,
        "has_comment": answer["has_comment"],
    }  # fmt: skip
    await engine.trigger(conn, definitions, event="survey.answered", key=answer["survey_id"], facts=facts,
                         cause=cause, now=now)  # fmt: skip
