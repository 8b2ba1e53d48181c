"""Ingest: source records one at a time or as a small file, and booking events over HTTP."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, status

from services.kit.auth import require_source
from services.kit.contracts.bookings import BOOKING_PAYLOADS, booking_subject
from services.kit.contracts.envelope import EnvelopeError, decode_envelope, encode_envelope
from services.kit.contracts.schemagen import envelope_union
from services.kit.entry import runtime_of
from services.kit.http import ProblemError
from services.kit.kafka import OutgoingRecord
from services.profile.entrypoints.deps import BookingSystem, acting_as, config_of, connect, record_audit
from services.profile.entrypoints.schemas import Accepted, ImportPublic, ResolutionPublic, SourceRecordIn
from services.profile.service_layer import bulk
from services.profile.service_layer.handlers import incoming_from_traveller, resolve_records

router = APIRouter(prefix="/v1")


@router.post("/source-records", response_model=ResolutionPublic, tags=["ingest"])
async def post_source_record(request: Request, principal: BookingSystem, body: SourceRecordIn) -> ResolutionPublic:
    """Resolve one source record now; re-sending the same source record updates it.

    Only as a source system the key is registered for (403 otherwise; an admin may write as any)."""
    require_source(principal, body.source_system)
    config = config_of(request)
    seen = body.seen_at or datetime.now().astimezone()
    item = incoming_from_traveller(
        source_system=body.source_system,
        source_id=body.source_id,
        traveller=body.traveller.model_dump(mode="json"),
        company=body.company.model_dump(mode="json") if body.company else None,
        seen_at=seen,
        config=config,
    )
    async with connect(request, transaction=True) as conn:
        [outcome] = await resolve_records(conn, [item], config=config)
        await record_audit(
            conn,
            principal,
            "source_record.upsert",
            outcome.customer_id,
            {"source_system": body.source_system, "source_id": body.source_id, "rule": outcome.rule}
            | acting_as(principal, [body.source_system]),
        )
    return ResolutionPublic(
        customer_id=outcome.customer_id,
        rule=outcome.rule,
        created=outcome.created,
        score=outcome.score,
        review_candidate=outcome.review_candidate,
    )


@router.post("/source-records/import", response_model=ImportPublic, tags=["ingest"])
async def import_source_records(
    request: Request,
    principal: BookingSystem,
    format: Annotated[Literal["csv", "jsonl"], Query(description="csv (with header) or jsonl")],
    source_system: Annotated[str | None, Query(max_length=50, description="Default for rows without one")] = None,
) -> ImportPublic:
    """Import a small file of source records (body: CSV or JSON Lines text; large files go through the CLI).

    Every row's source system must be one the key is registered for: otherwise nothing is imported (403)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProblemError(422, "the file must be UTF-8 text", type_="/problems/invalid-file") from exc
    # The body is small (the request size limit): read it whole, so the whole file is refused
    # before any row is resolved when one row names a system the key may not write as.
    rows = list(bulk.read_rows(bulk.text_lines(text), format))
    named = bulk.source_systems_of(rows, default_source=source_system)
    require_source(principal, *named)
    config = config_of(request)
    async with connect(request, transaction=True) as conn:
        summary = await bulk.import_rows(conn, rows, config=config, default_source=source_system)
        detail = {k: v for k, v in summary.to_json().items() if k != "errors"}
        await record_audit(conn, principal, "source_record.import", None, detail | acting_as(principal, named))
    return ImportPublic(**summary.to_json())


# The body as `decode_envelope` reads it: an envelope whose payload is one of the booking payload
# contracts, chosen by `event_type` (the kit's document rewrite moves `x-component-schemas` into components).
_BOOKING_EVENT, _BOOKING_EVENT_SCHEMAS = envelope_union(BOOKING_PAYLOADS)


@router.post(
    "/booking-events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["ingest"],
    responses={
        422: {
            "description": "Not a valid booking event: a field of the envelope or its payload, a string holding"
            " NUL, or a `subject_id` other than `source_system:booking_id` of the payload"
        }
    },
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": _BOOKING_EVENT}}},
        "x-component-schemas": _BOOKING_EVENT_SCHEMAS,
    },
)
async def post_booking_event(
    request: Request,
    principal: BookingSystem,
    body: Annotated[dict[str, Any], Body(description="A booking event envelope")],
) -> Accepted:
    """Accept one booking event over HTTP (for systems that cannot produce to Kafka) and put it on the topic."""
    try:
        event = decode_envelope(json.dumps(body))
    except EnvelopeError as exc:
        raise ProblemError(422, str(exc), type_="/problems/invalid-event") from exc
    if type(event.payload) not in BOOKING_PAYLOADS:
        raise ProblemError(422, f"{event.event_type} is not a booking event", type_="/problems/invalid-event")
    source_system = str(getattr(event.payload, "source_system", ""))
    require_source(principal, source_system)
    # The key orders a booking's events and names the system too: it must be the payload's.
    expected = booking_subject(source_system, str(getattr(event.payload, "booking_id", "")))
    if event.subject_id != expected:
        raise ProblemError(
            422, f"subject_id must be {expected!r} (source_system:booking_id)", type_="/problems/invalid-event"
        )
    runtime = runtime_of(request)
    if acting := acting_as(principal, [source_system]):
        async with connect(request) as conn:
            await record_audit(
                conn, principal, "booking_event.accept", None, {"event_id": str(event.event_id), **acting}
            )
    topic = runtime.settings.topic("booking.events.v1")
    await runtime.producer.send(
        OutgoingRecord(
            topic=topic, key=event.subject_id.encode(), value=encode_envelope(event), headers=event.headers()
        )
    )
    return Accepted(event_id=str(event.event_id), topic="booking.events.v1")
