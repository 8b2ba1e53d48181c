"""Trips HTTP API: a trip with its bookings, timeline and journeys; a traveller's trips."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request

from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.contracts.trips import TripBookingV1
from services.kit.db import connection
from services.kit.entry import runtime_lifespan, runtime_of
from services.kit.exporting import export_router
from services.kit.http import ProblemError, create_app
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from services.trips.adapters import exporting, runs
from services.trips.adapters import repository as repo
from services.trips.entrypoints.schemas import (
    JourneyRunPublic,
    TimelineEntryPublic,
    TripPage,
    TripPublic,
    TripSummaryPublic,
)

Agent = Annotated[Principal, Depends(require_roles("agent"))]
router = APIRouter(prefix="/v1")


@router.get("/trips/{trip_id}", response_model=TripPublic, tags=["trips"])
async def get_trip(
    trip_id: str,
    request: Request,
    principal: Agent,
    trail: Annotated[AuditTrail, Depends(PersonalRead("trip.read", subject="trip_id"))],
) -> TripPublic:
    """A trip (a merged one answers as the trip it joined): its bookings, timeline and journey runs."""
    async with connection(runtime_of(request).pool) as conn:
        if await repo.trip(conn, trip_id) is None:
            raise ProblemError(404, f"no trip {trip_id!r} is known here", type_="/problems/unknown-trip")
        current = await repo.current_trip(conn, trip_id)
        row = await repo.trip(conn, current)
        assert row is not None
        bookings = await repo.bookings_of_trips(conn, [current])
        entries = await repo.timeline(conn, current)
        journeys = await runs.runs_of_trip(conn, current)
        await trail.record(conn, row["customer_id"], trip_id=current)
    return TripPublic(
        **TripSummaryPublic.model_validate(dict(row)).model_dump(),
        bookings=[
            TripBookingV1(
                source_system=b.source_system, booking_id=b.booking_id, status=b.status,
                kinds=tuple(sorted({str(s.get("kind")) for s in b.segments})), starts_at=b.starts_at,
                ends_at=b.ends_at,
            )
            for b in bookings
        ],
        timeline=[TimelineEntryPublic(**dict(e)) for e in entries],
        journeys=[JourneyRunPublic(**dict(j)) for j in journeys],
    )  # fmt: skip


@router.get("/customers/{customer_id}/trips", response_model=TripPage, tags=["trips"])
async def customer_trips(
    customer_id: str,
    request: Request,
    principal: Agent,
    trail: Annotated[AuditTrail, Depends(PersonalRead("customer.trips.read"))],
) -> TripPage:
    """A traveller's trips, newest first (under their current id and the id asked for)."""
    async with connection(runtime_of(request).pool) as conn:
        entry = await lookup(conn, "customer", customer_id)
        ids = sorted({customer_id, entry.customer_id if entry else customer_id})
        rows = await repo.trips_of_customers(conn, ids)
        await trail.record(conn, customer_id, trips=len(rows))
    items = [TripSummaryPublic.model_validate(dict(r)) for r in rows]
    return TripPage(items=items, total=len(items))


def create_trips_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera trips",
        description="Trips (a traveller's bookings of one journey) with their timeline, and declared journeys.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    app.include_router(router)
    app.include_router(export_router("trips", exporting.collect))
    return app
