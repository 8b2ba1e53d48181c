"""A customer's or a company's value, as of a moment, from its booking ledger."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from services.value.domain.bookings import BookingFact
from services.value.domain.churn import Churn, ChurnPolicy, assess
from services.value.domain.money import RateTable
from services.value.domain.tiers import Rfm, Tier, TierPolicy, rfm


@dataclass(frozen=True)
class Assessment:
    tier: Tier
    rfm: Rfm
    churn: Churn
    travellers: int  # distinct customers with a trip in the window (for a company)
    next_review_at: datetime | None  # when it would change with no new booking (a trip leaves the window...)
    last_event_at: datetime | None


def evaluate(
    facts: Iterable[BookingFact], *, rates: RateTable, tiers: TierPolicy, churn: ChurnPolicy, as_of: datetime
) -> Assessment:
    """Value from the ledger: cancelled bookings count for nothing; trips in the window count for RFM and tier."""
    window_start = as_of - tiers.window
    trips: list[datetime] = []
    spend = Decimal(0)
    in_window = 0
    unconverted = 0
    missing: set[str] = set()
    travellers: set[str] = set()
    leaves_window: list[datetime] = []
    last_event_at: datetime | None = None
    for f in facts:
        last_event_at = f.last_event_at if last_event_at is None else max(last_event_at, f.last_event_at)
        if f.status != "active":
            continue
        trips.append(f.trip_at)
        if f.trip_at < window_start:
            continue
        in_window += 1
        travellers.add(f.customer_id)
        leaves_window.append(f.trip_at + tiers.window + timedelta(microseconds=1))
        if not f.amounts:
            unconverted += 1
            continue
        converted, lacking = rates.convert(f.amounts, f.first_event_at.date())
        if converted is None:
            unconverted += 1
            missing.update(lacking)
        else:
            spend += converted
    past = [t for t in trips if t <= as_of]
    scores = rfm(
        policy=tiers, last_trip=max(past, default=None), trips=in_window, spend=spend, unconverted=unconverted,
        currencies=tuple(sorted(missing)), as_of=as_of,
    )  # fmt: skip
    state = assess(trips, as_of=as_of, policy=churn)
    reviews = [t for t in [*leaves_window, state.next_review_at] if t is not None and t > as_of]
    return Assessment(
        tier=tiers.tier(in_window, spend),
        rfm=scores,
        churn=state,
        travellers=len(travellers),
        next_review_at=min(reviews, default=None),
        last_event_at=last_event_at,
    )


def describe_cause(fact: BookingFact) -> str:
    """What a booking did, for a tier change's reason."""
    what = "cancelled" if fact.status == "cancelled" else ("changed" if fact.last_kind == "changed" else "booked")
    return f"booking {fact.source_system}:{fact.booking_id} {what}"


__all__ = ["Assessment", "Churn", "describe_cause", "evaluate"]
