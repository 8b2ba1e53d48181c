"""Consumer handlers: decide which messages events call for and plan them.

Handlers run inside the consumer's transaction (a savepoint per event) and only write
the deliveries table; sending happens in the dispatcher, never here. A cause plans at
most one message per template and channel (`deliveries_dedupe`), so neither a
redelivered event nor one re-published under a new event id plans twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from services.kit.consumer import PermanentError
from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.contracts.preferences import PreferenceConfirmationRequestedV1
from services.kit.view import apply_view_event, apply_view_events
from services.notifications.adapters import repository as repo
from services.notifications.adapters.metrics import DELIVERIES
from services.notifications.domain.model import TEMPLATE_PURPOSE, DeliveryPlan, TemplateName, template_for_booking

log = logging.getLogger(__name__)


def new_delivery_id() -> str:
    return f"dlv_{uuid.uuid4().hex}"


def plan_for(
    event: Envelope[Any],
    *,
    customer_id: str,
    template: TemplateName,
    cause_id: str,
    context: dict[str, Any],
    expires_at: datetime | None = None,
) -> DeliveryPlan:
    """The delivery an event calls for, sent for its template's purpose."""
    return DeliveryPlan(
        delivery_id=new_delivery_id(),
        customer_id=customer_id,
        template=template,
        purpose=TEMPLATE_PURPOSE[template],
        cause_id=cause_id,
        cause_event_id=str(event.event_id),
        cause_event_type=event.event_type,
        correlation_id=str(event.correlation_id),
        context=context,
        expires_at=expires_at,
    )


async def plan_delivery(conn: asyncpg.Connection, plan: DeliveryPlan) -> bool:
    """Plan one delivery in the caller's transaction; False when its cause planned it before."""
    planned = await repo.insert_delivery(conn, plan)
    if planned:
        DELIVERIES.labels(plan.channel, plan.template, "planned").inc()
        log.info("planned %s %s for %s", plan.template, plan.delivery_id, plan.customer_id)
    else:
        log.info("%s for cause %s was planned before", plan.template, plan.cause_id)
    return planned


async def handle_resolved_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """A booking was created, changed or cancelled: plan the confirmation or notice."""
    p = event.payload
    if not isinstance(p, ResolvedBookingV1):
        raise PermanentError(f"expected ResolvedBookingV1, got {type(p).__name__}")
    template = template_for_booking(p.kind)
    if template is None:
        return
    if p.kind == "cancelled":
        # A confirmation or change notice still waiting (e.g. for contact data) is now wrong.
        stopped = await repo.suppress_pending_for_booking(
            conn,
            source_system=p.source_system,
            booking_id=p.booking_id,
            templates=("booking_confirmation", "booking_changed"),
            reason="booking cancelled before the message was sent",
        )
        for delivery_id in stopped:
            DELIVERIES.labels("email", "booking_confirmation", "suppressed").inc()
            log.info("suppressed %s: booking %s:%s was cancelled", delivery_id, p.source_system, p.booking_id)
    data = p.model_dump(mode="json")
    context = {
        "booking_id": p.booking_id,
        "source_system": p.source_system,
        "kind": p.kind,
        "segments": data["segments"],
        "total_price": data["total_price"],
        "currency": p.currency,
    }
    # The booking system's event id is the cause: stable when profile re-publishes the booking.
    plan = plan_for(event, customer_id=p.customer_id, template=template, cause_id=p.source_event_id, context=context)
    await plan_delivery(conn, plan)


async def handle_survey_invited(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """A post-trip survey was created: plan the invitation."""
    p = event.payload
    if not isinstance(p, SurveyInvitedV1):
        raise PermanentError(f"expected SurveyInvitedV1, got {type(p).__name__}")
    if urlsplit(p.survey_url).scheme not in ("https", "http"):
        raise PermanentError(f"survey_url must be an http(s) URL, got {p.survey_url[:100]!r}")
    context = {
        "survey_id": p.survey_id,
        "booking_id": p.booking_id,
        "source_system": p.source_system,
        "survey_url": p.survey_url,
        "expires_at": p.expires_at.isoformat(),
    }
    await plan_delivery(
        conn,
        plan_for(
            event, customer_id=p.customer_id, template="survey_invitation", cause_id=str(event.event_id),
            context=context, expires_at=p.expires_at,
        ),
    )  # fmt: skip


def preference_question_handler(
    *, answer_base_url: str, min_interval: timedelta
) -> Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]:
    """The handler of the preferences service's confirmation questions.

    Each question becomes a message with the link to its answer page (`answer_base_url` +
    `/confirmations/{token}`), sent for the service purpose (consent, quiet hours and the
    traveller's time zone apply as to any message). A traveller gets at most one such message
    per `min_interval`: a question that comes sooner stays open for agents to ask.
    """

    async def handle_preference_question(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        p = event.payload
        if not isinstance(p, PreferenceConfirmationRequestedV1):
            raise PermanentError(f"expected PreferenceConfirmationRequestedV1, got {type(p).__name__}")
        template: TemplateName = "preference_question"
        if p.answer_token is None or p.expires_at is None:
            log.info("question %s has no answer link: not sent", p.request_id)
            return
        if p.expires_at <= datetime.now(UTC):
            log.info("question %s expired before it could be sent", p.request_id)
            return
        since = datetime.now(UTC) - min_interval
        if await repo.planned_since(conn, customer_id=p.customer_id, template=template, since=since):
            DELIVERIES.labels("email", template, "throttled").inc()
            log.info("%s asked recently: question %s left for agents", p.customer_id, p.request_id)
            return
        context = {
            "request_id": p.request_id,
            "key": p.key,
            "question": p.question,
            "questions": p.questions,  # by language: the German email asks in German where it can
            "answer_url": f"{answer_base_url}/confirmations/{p.answer_token}",
            "expires_at": p.expires_at.isoformat(),
        }
        # One message per question (its request id), however often it is delivered.
        plan = plan_for(
            event, customer_id=p.customer_id, template=template, cause_id=p.request_id, context=context,
            expires_at=p.expires_at,
        )  # fmt: skip
        await plan_delivery(conn, plan)

    return handle_preference_question


async def handle_view_events(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    """A run of view events at once (`handle_view_event` on each, in two statements or so)."""
    await apply_view_events(conn, events)
    ids = sorted(
        {e.payload.customer_id for e in events if isinstance(e.payload, CustomerSnapshotV1 | CustomerRedirectV1)}
    )
    woken = await repo.wake_waiting(conn, ids)
    if woken:
        log.info("contact data for %d customer(s) arrived: %d delivery(ies) due now", len(ids), woken)


async def handle_view_event(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """Keep the local customer view, and wake messages that were waiting for this customer."""
    await apply_view_event(conn, event)
    p = event.payload
    if isinstance(p, CustomerSnapshotV1 | CustomerRedirectV1):
        woken = await repo.wake_waiting(conn, [p.customer_id])
        if woken:
            log.info("contact data for %s arrived: %d delivery(ies) due now", p.customer_id, woken)
