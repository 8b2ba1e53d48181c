"""Notifications HTTP API for agents: deliveries, consents and quiet hours."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.db import audit
from services.kit.entry import runtime_lifespan, runtime_of
from services.kit.exporting import export_router
from services.kit.http import ProblemError, create_app
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from services.notifications.adapters import consents as consents_repo
from services.notifications.adapters import exporting, holds
from services.notifications.adapters import repository as repo
from services.notifications.domain.digest import DIGEST_WINDOW, IN_DIGEST
from services.notifications.domain.model import (
    CHANNELS,
    PURPOSES,
    QUIET_HOURS,
    RETRY,
    Channel,
    CommunicationPreferences,
    ConsentRecord,
    Purpose,
    QuietHours,
    Status,
    consent_allows,
    deciding_consent,
    effective_quiet_hours,
)
from services.notifications.entrypoints.webhooks_api import router as webhooks_router
from services.notifications.settings import NotificationsSettings

Agent = Annotated[Principal, Depends(require_roles("agent"))]
# Reads of a traveller's messages and settings: the HTTP shell audits each one, and each refusal.
DeliveriesRead = Annotated[AuditTrail, Depends(PersonalRead("deliveries.list"))]
DeliveryRead = Annotated[AuditTrail, Depends(PersonalRead("delivery.read", subject=None))]
ConsentsRead = Annotated[AuditTrail, Depends(PersonalRead("consents.read"))]
QuietHoursRead = Annotated[AuditTrail, Depends(PersonalRead("quiet_hours.read"))]
CustomerId = Annotated[str, Path(min_length=1, max_length=200)]
# Holds an agent may lift: quiet hours and a retry's wait (waiting for contact data cannot be skipped).
# A message waiting in a digest leaves it and goes alone; a digest's window closes now.
RELEASABLE = (QUIET_HOURS, RETRY, IN_DIGEST, DIGEST_WINDOW)
_LOCAL_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?")


def _local_time(value: object) -> time:
    """A wall-clock time of the traveller's day: `HH:MM[:SS[.ffffff]]`, without an offset.

    Quiet hours follow the traveller's own time zone (from the customer view) through every change
    of the clocks; a fixed offset cannot say that, so one is refused rather than dropped.
    """
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, str) and _LOCAL_TIME.fullmatch(value):
        return time.fromisoformat(value)
    raise ValueError("expects a local time HH:MM or HH:MM:SS without an offset (the traveller's own time zone applies)")


LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^{_LOCAL_TIME.pattern}$",
            "description": "Local time of the traveller (their home time zone), HH:MM or HH:MM:SS, no offset",
            "examples": ["22:00", "07:30:00"],
        }
    ),
]


class DeliveryPublic(BaseModel):
    delivery_id: str
    customer_id: str
    resolved_customer_id: str | None
    channel: str
    template: str
    purpose: str
    status: str
    hold_reason: str | None = Field(
        description="Why a pending delivery waits: waiting_for_contact, quiet_hours, retry, digest, digest_window"
    )
    attempts: int
    next_attempt_at: datetime | None
    expires_at: datetime | None
    recipient: str | None
    language: str | None
    subject: str | None
    last_error: str | None
    cause_id: str
    cause_event_id: str
    cause_event_type: str
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    send_now_by: str | None = Field(default=None, description="The agent who released a held message")
    send_now_at: datetime | None = None
    leg: str = Field(
        default="primary", description="primary: the message; else the extra channel a disruption also went on"
    )
    channel_note: str | None = Field(default=None, description="Why this channel (and why not the others)")
    digest_id: str | None = Field(
        default=None,
        description="The digest this message waits in (hold_reason `digest`) or went out in; a digest's own"
        " delivery has template `digest` and is held as `digest_window` until its window closes",
    )
    language_note: str | None = Field(default=None, description="The language written in and where it came from")


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    limit: int
    offset: int


class ConsentPublic(BaseModel):
    purpose: Purpose
    channel: Channel
    granted: bool
    source: str | None
    updated_by: str
    updated_at: datetime


class EffectiveConsent(BaseModel):
    purpose: Purpose
    channel: Channel
    allowed: bool
    explicit: bool = Field(
        description="False when the default applies (allowed unless revoked; marketing needs an opt-in)"
    )
    decided_in: Literal["default", "consents", "preferences"] = Field(
        description="Where the deciding (latest) decision was recorded: this API, or the traveller's stated"
        " communication preferences (comms.consent.*) in the shared customer view"
    )


class ConsentsPublic(BaseModel):
    customer_id: str
    consents: list[ConsentPublic]
    effective: list[EffectiveConsent]


class ConsentUpdate(BaseModel):
    """One consent decision of the customer."""

    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    channel: Channel
    granted: bool
    source: str | None = Field(default=None, max_length=200, description="Where the customer said so")


class QuietHoursPublic(BaseModel):
    customer_id: str
    enabled: bool
    start: LocalTime
    end: LocalTime
    source: Literal["default", "agent", "preferences"] = Field(
        description="default: the service's setting; agent: set through this API (by the agent named in"
        " updated_by); preferences: the traveller's stated comms.quiet_hours in the shared customer view"
        " (when more recent)"
    )
    updated_by: str | None = None
    updated_at: datetime | None = None


class QuietHoursUpdate(BaseModel):
    """A daily window in the traveller's local time; a window may cross midnight (22:00-07:00)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursUpdate:
        if self.enabled and self.start == self.end:
            raise ValueError("start and end must differ; set enabled=false for no quiet hours")
        return self


async def _known_customer(conn: asyncpg.Connection, customer_id: str) -> str:
    """The customer's current id (after merges); 404 for a customer this service never heard of."""
    if not await repo.customer_known(conn, customer_id):
        raise ProblemError(
            404,
            f"no customer {customer_id!r} is known here. A traveller profile created moments ago is known"
            " as soon as its snapshot reaches this service's customer view (usually within a second):"
            " try again shortly.",
            type_="/problems/unknown-customer",
        )
    entry = await lookup(conn, "customer", customer_id)
    return entry.customer_id if entry is not None else customer_id


def _delivery(row: asyncpg.Record) -> DeliveryPublic:
    values = dict(row)
    for key in ("cause_event_id", "correlation_id"):
        values[key] = str(values[key])
    if values["status"] != "pending":
        values["next_attempt_at"] = None
    return DeliveryPublic(**values)


async def _audit(
    conn: asyncpg.Connection, principal: Principal, action: str, subject_id: str | None, detail: dict[str, object]
) -> None:
    await audit(conn, principal, action, subject_id, dict(detail))


router = APIRouter(prefix="/v1")


@router.get("/deliveries", response_model=DeliveryPage, tags=["deliveries"])
async def list_deliveries(
    request: Request,
    principal: Agent,
    trail: DeliveriesRead,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> DeliveryPage:
    """Deliveries, newest first, optionally for one customer (merged ids included) and in one status."""
    async with repo.connect(runtime_of(request).pool) as conn:
        rows = await repo.list_deliveries(conn, customer_id=customer_id, status=status, limit=limit, offset=offset)
        await trail.record(conn, customer_id, status=status, results=len(rows))
    return DeliveryPage(items=[_delivery(r) for r in rows], limit=limit, offset=offset)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryPublic, tags=["deliveries"])
async def get_delivery(
    delivery_id: Annotated[str, Path(min_length=1, max_length=100)],
    request: Request,
    principal: Agent,
    trail: DeliveryRead,
) -> DeliveryPublic:
    """One delivery with its status, attempts and last error."""
    async with repo.connect(runtime_of(request).pool) as conn:
        row = await repo.get_delivery(conn, delivery_id)
        if row is None:
            raise ProblemError(404, f"no delivery {delivery_id!r}", type_="/problems/unknown-delivery")
        await trail.record(conn, row["customer_id"], delivery_id=delivery_id)
    return _delivery(row)


@router.post("/deliveries/{delivery_id}/send-now", response_model=DeliveryPublic, tags=["deliveries"])
async def send_now(
    delivery_id: Annotated[str, Path(min_length=1, max_length=100)], request: Request, principal: Agent
) -> DeliveryPublic:
    """Send a message held for quiet hours, waiting in a digest (or to retry) now; audited. Consent still applies."""
    async with repo.connect(runtime_of(request).pool) as conn, conn.transaction():
        row = await holds.release_held(conn, delivery_id, reasons=RELEASABLE, actor=principal.name)
        if row is None:
            found = await repo.get_delivery(conn, delivery_id)
            if found is None:
                raise ProblemError(404, f"no delivery {delivery_id!r}", type_="/problems/unknown-delivery")
            state = found["hold_reason"] if found["status"] == "pending" else found["status"]
            raise ProblemError(
                409,
                f"delivery {delivery_id!r} is not held ({state}): only a message held for quiet hours, waiting"
                " in a digest or to retry can be sent now",
                type_="/problems/delivery-not-held",
            )
        await _audit(conn, principal, "delivery.send_now", row["customer_id"], {"delivery_id": delivery_id})
    return _delivery(row)


async def _consents(conn: asyncpg.Connection, customer_id: str) -> ConsentsPublic:
    rows = await consents_repo.list_consents(conn, customer_id)
    own = [ConsentRecord(r["purpose"], r["channel"], r["granted"], r["updated_at"]) for r in rows]
    stated = await lookup(conn, "preferences", customer_id)
    preferences = CommunicationPreferences.from_snapshot(stated.snapshot) if stated is not None else None
    records = own + list(preferences.consents if preferences is not None else ())

    def effective(purpose: Purpose, channel: Channel) -> EffectiveConsent:
        decision = deciding_consent(purpose, channel, records)
        return EffectiveConsent(
            purpose=purpose,
            channel=channel,
            allowed=consent_allows(purpose, channel, records),
            explicit=decision is not None,
            decided_in="default" if decision is None else "consents" if decision in own else "preferences",
        )

    return ConsentsPublic(
        customer_id=customer_id,
        consents=[ConsentPublic(**dict(r)) for r in rows],
        effective=[effective(purpose, channel) for purpose in PURPOSES for channel in CHANNELS],
    )


@router.get("/customers/{customer_id}/consents", response_model=ConsentsPublic, tags=["consents"])
async def get_consents(
    customer_id: CustomerId, request: Request, principal: Agent, trail: ConsentsRead
) -> ConsentsPublic:
    """The customer's explicit consents and what is allowed per purpose and channel."""
    async with repo.connect(runtime_of(request).pool) as conn:
        current = await _known_customer(conn, customer_id)
        result = await _consents(conn, current)
        await trail.record(conn, current)
    return result


@router.put("/customers/{customer_id}/consents", response_model=ConsentsPublic, tags=["consents"])
async def put_consent(
    customer_id: CustomerId, body: ConsentUpdate, request: Request, principal: Agent
) -> ConsentsPublic:
    """Record one consent decision (grant or revoke a purpose on a channel); audited."""
    async with repo.connect(runtime_of(request).pool) as conn, conn.transaction():
        customer_id = await _known_customer(conn, customer_id)
        await consents_repo.upsert_consent(
            conn,
            customer_id=customer_id,
            purpose=body.purpose,
            channel=body.channel,
            granted=body.granted,
            source=body.source,
            updated_by=principal.name,
        )
        await _audit(conn, principal, "consent.update", customer_id, body.model_dump())
        # Messages held for quiet hours are decided again: a revoked consent stops them now.
        await holds.wake_held(conn, [customer_id], reasons=[QUIET_HOURS])
        result = await _consents(conn, customer_id)
    return result


async def _quiet_hours(conn: asyncpg.Connection, customer_id: str, settings: NotificationsSettings) -> QuietHoursPublic:
    """The quiet hours the dispatcher applies: the more recent of this API's record and the stated preference."""
    row = await consents_repo.get_quiet_hours(conn, customer_id)
    stated = await lookup(conn, "preferences", customer_id)
    preferences = CommunicationPreferences.from_snapshot(stated.snapshot) if stated is not None else None
    own = QuietHours(row["start_local"], row["end_local"], row["enabled"]) if row is not None else None
    effective = effective_quiet_hours(own, row["updated_at"] if row is not None else None, preferences)
    if effective is None:
        return QuietHoursPublic(
            customer_id=customer_id,
            enabled=True,
            start=settings.default_quiet_hours_start,
            end=settings.default_quiet_hours_end,
            source="default",
        )
    if row is not None and effective is own:
        return QuietHoursPublic(
            customer_id=customer_id,
            enabled=row["enabled"],
            start=row["start_local"],
            end=row["end_local"],
            source="agent",  # only agents (the role this API demands) write these rows
            updated_by=row["updated_by"],
            updated_at=row["updated_at"],
        )
    return QuietHoursPublic(
        customer_id=customer_id,
        enabled=effective.enabled,
        start=effective.start,
        end=effective.end,
        source="preferences",
        updated_by="traveller",
        updated_at=preferences.quiet_hours_at if preferences is not None else None,
    )


def _settings(request: Request) -> NotificationsSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, NotificationsSettings)
    return settings


@router.get("/customers/{customer_id}/quiet-hours", response_model=QuietHoursPublic, tags=["quiet hours"])
async def get_quiet_hours(
    customer_id: CustomerId, request: Request, principal: Agent, trail: QuietHoursRead
) -> QuietHoursPublic:
    """The customer's quiet hours (service and marketing messages wait; transactional ones do not)."""
    async with repo.connect(runtime_of(request).pool) as conn:
        current = await _known_customer(conn, customer_id)
        result = await _quiet_hours(conn, current, _settings(request))
        await trail.record(conn, current)
        return result


@router.put(
    "/customers/{customer_id}/quiet-hours",
    response_model=QuietHoursPublic,
    tags=["quiet hours"],
    responses={422: {"description": "An invalid body, or enabled quiet hours whose start and end are the same time"}},
)
async def put_quiet_hours(
    customer_id: CustomerId, body: QuietHoursUpdate, request: Request, principal: Agent
) -> QuietHoursPublic:
    """Set the customer's quiet hours; audited. Messages they hold are decided again at once."""
    async with repo.connect(runtime_of(request).pool) as conn, conn.transaction():
        customer_id = await _known_customer(conn, customer_id)
        await consents_repo.upsert_quiet_hours(
            conn,
            customer_id=customer_id,
            enabled=body.enabled,
            start=body.start,
            end=body.end,
            updated_by=principal.name,
        )
        await _audit(conn, principal, "quiet_hours.update", customer_id, body.model_dump(mode="json"))
        await holds.wake_held(conn, [customer_id], reasons=[QUIET_HOURS])
        return await _quiet_hours(conn, customer_id, _settings(request))


def create_notifications_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera notifications",
        description="Messages to travellers: deliveries and their status, consents, quiet hours.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    app.include_router(router)
    app.include_router(webhooks_router)
    app.include_router(export_router("notifications", exporting.collect))
    return app
