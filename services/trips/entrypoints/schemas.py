"""HTTP shapes of the trips API (apart from the wire contracts and the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.kit.contracts.trips import TripBookingV1


class TimelineEntryPublic(BaseModel):
    at: datetime
    kind: str
    summary: str
    detail: dict[str, Any]


class JourneyRunPublic(BaseModel):
    run_id: str
    journey: str
    journey_version: int
    status: str
    step: int
    due_at: datetime | None
    note: str
    started_at: datetime


class TripSummaryPublic(BaseModel):
    trip_id: str
    customer_id: str
    company_id: str | None
    status: str
    trip_reference: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    merged_into: str | None
    version: int


class TripPublic(TripSummaryPublic):
    bookings: list[TripBookingV1]
    timeline: list[TimelineEntryPublic]
    journeys: list[JourneyRunPublic]


class TripPage(BaseModel):
    items: list[TripSummaryPublic]
    total: int
