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

import asyncpg

from services.kit.consumer import PermanentError
from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.contracts.preferences import PreferenceConfirmationRequestedV1, PreferenceSnapshotV1
from services.kit.view import apply_view_event, apply_view_events
from services.notifications.adapters import holds, itineraries
from services.notifications.adapters import repository as repo
from services.notifications.adapters.itineraries import StoredBooking
from services.notifications.adapters.metrics import DELIVERIES
from services.notifications.domain.itinerary import PlaceDirectory, annotate_segments, compare_segments, span_of
from services.notifications.domain.model import (
    QUIET_HOURS,
    TEMPLATE_PURPOSE,
    DeliveryPlan,
    TemplateName,
    template_for_booking,
)
from services.notifications.service_layer import links

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


def booking_handler(directory: PlaceDirectory) -> Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]:
    """The handler of resolved bookings, placing segments with `directory` (airports, cities and their zones)."""

    async def handle_resolved_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        """A booking was created, changed or cancelled: keep its itinerary, plan the confirmation or notice."""
        p = event.payload
        if not isinstance(p, ResolvedBookingV1):
            raise PermanentError(f"expected ResolvedBookingV1, got {type(p).__name__}")
        segments = annotate_segments(p.model_dump(mode="json")["segments"], directory)
        previous = await itineraries.booking_for_update(conn, p.source_system, p.booking_id)
        current = await _keep_itinerary(conn, p, segments, previous)
        # Where the traveller will be may have changed: held messages are decided again.
        await holds.wake_held(conn, [p.customer_id], reasons=[QUIET_HOURS])
        template = template_for_booking(p.kind)
        if template is None:
            return
        if p.kind == "cancelled":
            await _stop_outdated_messages(conn, p)
        context: dict[str, Any] = {
            "booking_id": p.booking_id,
            "source_system": p.source_system,
            "kind": p.kind,
            # A cancellation carries no segments: the email lists the ones it cancels.
            "segments": segments or (current.segments if current is not None else []),
            "total_price": None if p.total_price is None else str(p.total_price),
            "currency": p.currency,
            "reason": p.reason,
        }
        if p.kind == "changed" and previous is not None and previous.occurred_at <= p.occurred_at:
            context["changes"] = compare_segments(previous.segments, segments)
        # The booking system's event id is the cause: stable when profile re-publishes the booking.
        plan = plan_for(
            event, customer_id=p.customer_id, template=template, cause_id=p.source_event_id, context=context
        )
        await plan_delivery(conn, plan)

    return handle_resolved_booking


async def _keep_itinerary(
    conn: asyncpg.Connection, p: ResolvedBookingV1, segments: list[dict[str, Any]], previous: StoredBooking | None
) -> StoredBooking | None:
    """Record the booking's state from this event unless a later one was recorded; returns the state kept."""
    if previous is not None and previous.occurred_at > p.occurred_at:
        return previous  # an older event arriving late changes nothing
    if p.kind in ("created", "changed"):
        status, kept = "active", segments
    elif p.kind == "cancelled":
        status, kept = "cancelled", segments or (previous.segments if previous is not None else [])
    elif previous is not None:  # trip started or completed: the itinerary stays as booked
        status, kept = previous.status, segments or previous.segments
    else:
        status, kept = "active", segments
    state = StoredBooking(p.customer_id, status, kept, p.source_event_id, p.occurred_at)
    await itineraries.save_booking(
        conn,
        source_system=p.source_system,
        booking_id=p.booking_id,
        customer_id=p.customer_id,
        status=status,
        segments=kept,
        source_event_id=p.source_event_id,
        occurred_at=p.occurred_at,
        span=span_of(kept),
    )
    return state


async def _stop_outdated_messages(conn: asyncpg.Connection, p: ResolvedBookingV1) -> None:
    """A confirmation or change notice still waiting (e.g. for contact data) is now wrong."""
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


async def handle_survey_invited(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """A post-trip survey was created: plan the invitation."""
    p = event.payload
    if not isinstance(p, SurveyInvitedV1):
        raise PermanentError(f"expected SurveyInvitedV1, got {type(p).__name__}")
    context = {
        "survey_id": p.survey_id,
        "booking_id": p.booking_id,
        "source_system": p.source_system,
        **links.survey_link(p),  # sealed until the message is rendered
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
        link = links.answer_link(p, base_url=answer_base_url)  # sealed until the message is rendered
        if link is None or p.expires_at is None:
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
            **link,
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
    """A run of view events at once (`handle_view_event` on each, in a few statements)."""
    await apply_view_events(conn, events)
    await _wake_for(conn, events)


async def handle_view_event(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """Keep the local customer view, and wake messages that were waiting for this customer."""
    await apply_view_event(conn, event)
    await _wake_for(conn, [event])


async def _wake_for(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    """Contact data arrived: messages waiting for it go now. Quiet hours, home zone or consent
    may have changed (a snapshot says so): messages held for quiet hours are decided again."""
    contact = sorted(
        {e.payload.customer_id for e in events if isinstance(e.payload, CustomerSnapshotV1 | CustomerRedirectV1)}
    )
    stated = sorted({e.payload.customer_id for e in events if isinstance(e.payload, PreferenceSnapshotV1)})
    woken = await repo.wake_waiting(conn, contact)
    if woken:
        log.info("contact data for %d customer(s) arrived: %d delivery(ies) due now", len(contact), woken)
    held = await holds.wake_held(conn, sorted({*contact, *stated}), reasons=[QUIET_HOURS])
    if held:
        log.info("%d held delivery(ies) decided again after a change of the customer view", held)
