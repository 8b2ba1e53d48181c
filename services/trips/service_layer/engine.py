"""The journey engine: start runs on triggers, carry out their steps, fire their waits once.

Runs live in `journey_runs` (one per journey and trigger); a step's request goes on the outbox in
the same transaction as the run's progress, with an id made of the run and the step, so a run
retried after a fault asks for nothing twice. Waits are fired by the journey job (`fire_due`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.trips import JourneyCaseRequestedV1, JourneyMessageRequestedV1
from services.kit.db import connection
from services.kit.outbox import enqueue
from services.kit.view import lookup_kinds
from services.trips.adapters import repository as repo
from services.trips.adapters import runs
from services.trips.adapters.places import airport_zone
from services.trips.domain.definitions import CaseAction, JourneyDefinition
from services.trips.domain.engine import CustomerContext, Departure, Emit, advance, holds, render_text
from services.trips.domain.facts import local_text, readiness
from services.trips.domain.grouping import first_departure

log = logging.getLogger(__name__)
Row = Mapping[str, Any] | asyncpg.Record
PRODUCER = "trips"
JOURNEYS_TOPIC = "trips.journeys.v1"


async def customer_context(conn: asyncpg.Connection, customer_id: str) -> CustomerContext:
    """Tier, consents and preferences from this service's copy of the customer view."""
    entries = await lookup_kinds(conn, customer_id, ("value", "preferences"))
    value, prefs = entries["value"], entries["preferences"]
    return CustomerContext.from_view(value.snapshot if value else None, prefs.snapshot if prefs else None)


async def departure_of(conn: asyncpg.Connection, trip_id: str) -> tuple[Departure | None, list[dict[str, Any]]]:
    """The trip's first departure (in its airport's zone) and the segments of its live bookings."""
    bookings = await repo.bookings_of_trips(conn, [trip_id])
    segments = [s for b in bookings if b.status != "cancelled" for s in b.segments]
    first = first_departure(segments)
    if first is None:
        return None, segments
    at, origin = first
    return Departure(at, airport_zone(origin)), segments


def run_id_of(journey: str, key: str) -> str:
    return "run_" + hashlib.sha256(f"{journey}:{key}".encode()).hexdigest()[:24]


async def trigger(
    conn: asyncpg.Connection, definitions: Mapping[str, JourneyDefinition], *, event: str, key: str,
    facts: dict[str, Any], cause: Envelope[Any], now: datetime,
) -> None:  # fmt: skip
    """Start every journey `event` triggers whose filter holds (once per journey and `key`)."""
    chosen = [d for d in definitions.values() if d.trigger.event == event]
    if not chosen:
        return
    customer = await customer_context(conn, facts["customer_id"])
    for d in chosen:
        if not holds(d.trigger.filter, facts, customer):
            continue
        run_id = run_id_of(d.journey, key)
        started = await runs.start_run(
            conn, run_id=run_id, journey=d.journey, version=d.version, trigger_key=key, trip_id=facts["trip_id"],
            customer_id=facts["customer_id"], facts=facts, started_at=now,
        )  # fmt: skip
        if started:
            await repo.add_entry(
                conn, trip_id=facts["trip_id"], at=now, kind="journey.started",
                summary=f"Journey {d.journey} v{d.version} started ({event})",
                detail={"journey": d.journey, "version": d.version, "run_id": run_id},
            )  # fmt: skip
            row = await runs.run(conn, run_id)
            assert row is not None
            await _step(conn, d, row, customer=customer, cause=cause, now=now)


async def _step(
    conn: asyncpg.Connection, d: JourneyDefinition, row: Row, *, customer: CustomerContext,
    cause: Envelope[Any] | None, now: datetime,
) -> None:  # fmt: skip
    trip_id = await repo.current_trip(conn, row["trip_id"])
    departure, segments = await departure_of(conn, trip_id)
    facts = dict(row["facts"]) | {"trip_id": trip_id}
    outcome = advance(
        d, step=row["step"], started_at=row["started_at"], now=now, facts=facts, customer=customer, departure=departure
    )
    for emit in outcome.emits:
        await _request(conn, d, row, emit, facts=facts, customer=customer, departure=departure, segments=segments,
                       cause=cause, now=now)  # fmt: skip
    await runs.save_progress(
        conn, run_id=row["run_id"], step=outcome.step, status=outcome.status, due_at=outcome.due_at, note=outcome.note
    )
    if outcome.status == "skipped":
        await repo.add_entry(conn, trip_id=trip_id, at=now, kind="journey.skipped",
                             summary=f"Journey {d.journey}: {outcome.note}")  # fmt: skip


def _message_data(
    template: str, facts: Mapping[str, Any], *, customer: CustomerContext, departure: Departure | None,
    segments: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """What a journey's message shows."""
    data: dict[str, Any] = {"trip_id": facts["trip_id"]}
    if template == "journey_pre_trip":
        data |= readiness(segments, customer.preferences)
        if departure is not None:
            data["departure"] = local_text(departure.at, departure.zone)
        origins = [s for s in segments if s.get("kind") in ("flight", "rail")]
        if origins:
            first = min(origins, key=lambda s: str(s.get("departure_at")))
            data["route"] = f"{first.get('origin')} → {first.get('destination')}"
    elif template == "journey_disruption":
        for name in ("booking_id", "source_system", "reason", "reason_kind", "delay_minutes", "changes"):
            data[name] = facts.get(name)
    else:
        for name in ("survey_id", "csat", "nps"):
            data[name] = facts.get(name)
    return data


async def _request(
    conn: asyncpg.Connection, d: JourneyDefinition, row: Row, emit: Emit, *, facts: Mapping[str, Any],
    customer: CustomerContext, departure: Departure | None, segments: list[dict[str, Any]],
    cause: Envelope[Any] | None, now: datetime,
) -> None:  # fmt: skip
    """One action's request on the outbox, and its line in the trip's timeline."""
    common: dict[str, Any] = {
        "request_id": f"{row['run_id']}:{emit.step}", "customer_id": row["customer_id"], "trip_id": facts["trip_id"],
        "journey": d.journey, "journey_version": d.version, "requested_at": now,
        "source_system": facts.get("source_system"), "booking_id": facts.get("booking_id"),
    }  # fmt: skip
    action = emit.action
    payload: JourneyMessageRequestedV1 | JourneyCaseRequestedV1
    if isinstance(action, CaseAction):
        payload = JourneyCaseRequestedV1(
            **common, action=action.action, subject=render_text(action.subject, facts)[:200],
            description=render_text(action.description, facts)[:2000], priority=action.priority,
            survey_id=facts.get("survey_id"),
        )  # fmt: skip
        summary = f"{d.journey} v{d.version}: {action.action} requested ({payload.subject})"
    else:
        data = _message_data(action.template, facts, customer=customer, departure=departure, segments=segments)
        payload = JourneyMessageRequestedV1(
            **common, template=action.template, purpose=action.purpose,
            criticality=action.criticality, data=data,
        )  # fmt: skip
        summary = f"{d.journey} v{d.version}: message {action.template} requested"
    envelope = Envelope.new(payload, producer=PRODUCER, subject_id=row["customer_id"], caused_by=cause)
    await enqueue(conn, topic=JOURNEYS_TOPIC, envelope=envelope)
    # The message's delivery reports name this event as their cause: they find the trip through it.
    await repo.add_entry(
        conn, trip_id=facts["trip_id"], at=now, kind="journey.request", summary=summary,
        detail={"journey": d.journey, "version": d.version, "request_id": common["request_id"]},
        event_id=envelope.event_id,
    )  # fmt: skip


async def reschedule(
    conn: asyncpg.Connection, definitions: Mapping[str, JourneyDefinition], *, trip_id: str, now: datetime
) -> None:
    """The trip changed: waiting runs are decided again (a departure moved earlier, a wait is over)."""
    for row in await runs.waiting_of_trip(conn, trip_id):
        d = definitions.get(row["journey"])
        if d is None:
            continue
        customer = await customer_context(conn, row["customer_id"])
        await _step(conn, d, row, customer=customer, cause=None, now=now)


async def fire_due(
    pool: asyncpg.Pool, definitions: Mapping[str, JourneyDefinition], *, now: datetime, batch_size: int
) -> int:
    """Carry on runs whose wait is over; each is taken by one worker (SKIP LOCKED) and fired once."""
    async with connection(pool, transaction=True) as conn:
        due = await runs.take_due(conn, now=now, limit=batch_size)
        for row in due:
            d = definitions.get(row["journey"])
            if d is None:
                await runs.save_progress(conn, run_id=row["run_id"], step=row["step"], status="skipped", due_at=None,
                                         note=f"journey {row['journey']} is no longer defined")  # fmt: skip
                continue
            if d.version != row["journey_version"]:
                # The definition changed while the run waited: it goes on with the new one from the same step.
                await runs.continue_on(conn, run_id=row["run_id"], version=d.version)
            customer = await customer_context(conn, row["customer_id"])
            await _step(conn, d, row, customer=customer, cause=None, now=now)
        return len(due)
