"""Churn risk and relationship stage from each customer's own booking cadence.

An explainable rule rather than a fitted model: the usual interval is the median number of
days between a customer's trips (distinct days; two or more gaps needed, else a default
interval), and a customer is *at risk* once the days since the last trip pass a multiple of
that interval, *lapsed* past a larger multiple. Each result carries its reason in words, so an
agent sees why ("no trip for 95 days; usually every 30 days"). Buy-till-you-die models
(BG/NBD) were weighed: `lifetimes` and `btyd` are no longer maintained, and the maintained
`pymc-marketing` pulls in PyMC and a compiler toolchain and fits in batch, not per event.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Stage = Literal["new", "active", "at_risk", "lapsed", "won_back"]
Risk = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class ChurnPolicy:
    default_interval_days: float = 60  # for customers with fewer than three trips
    overdue_factor: float = 1.5  # medium risk past this many usual intervals
    at_risk_factor: float = 2.0
    lapsed_factor: float = 4.0
    min_at_risk_days: float = 30
    min_lapsed_days: float = 120
    new_days: float = 90  # a customer whose first trip is this recent is new
    won_back_days: float = 180  # a lapsed customer who travels again is 'won back' this long


@dataclass(frozen=True)
class Churn:
    risk: Risk
    stage: Stage
    reason: str
    usual_interval_days: float | None
    days_since_last_trip: int | None
    next_trip_at: datetime | None
    next_review_at: datetime | None  # when the stage or risk would change if nothing else happens


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def _distinct_days(trips: Sequence[datetime]) -> list[datetime]:
    out: list[datetime] = []
    for t in sorted(trips):
        if not out or _days(t - out[-1]) >= 1:
            out.append(t)
    return out


def usual_interval(trips: Sequence[datetime]) -> float | None:
    """Median days between trips (trips less than a day apart are one), with at least two gaps."""
    days = _distinct_days(trips)
    gaps = [_days(b - a) for a, b in itertools.pairwise(days)]
    return round(statistics.median(gaps), 1) if len(gaps) >= 2 else None


def _thresholds(policy: ChurnPolicy, interval: float | None) -> tuple[float, float, float]:
    expected = interval or policy.default_interval_days
    return (
        expected * policy.overdue_factor,
        max(policy.min_at_risk_days, expected * policy.at_risk_factor),
        max(policy.min_lapsed_days, expected * policy.lapsed_factor),
    )


def _cadence(interval: float | None) -> str:
    return f"usually every {interval:g} days" if interval else "too few trips for a usual interval"


def assess(trips: Sequence[datetime], *, as_of: datetime, policy: ChurnPolicy) -> Churn:
    """Stage and risk of a customer whose (not cancelled) trips start at `trips`."""
    past = sorted(t for t in trips if t <= as_of)
    upcoming = min((t for t in trips if t > as_of), default=None)
    interval = usual_interval(past)
    if not past and upcoming is None:
        return Churn("low", "new", "no trips yet", None, None, None, None)
    first = min(trips)
    new_until = first + timedelta(days=policy.new_days)
    reviews: list[datetime] = []
    # Won back: the latest trip came after a gap that had made the customer lapsed by their earlier cadence.
    latest = upcoming or past[-1]
    before = [t for t in past if t < latest - timedelta(days=1)]
    won_back = False
    if before:
        gap = _days(latest - before[-1])
        if gap > _thresholds(policy, usual_interval(before))[2]:
            won_back_until = latest + timedelta(days=policy.won_back_days)
            won_back = as_of < won_back_until
            if won_back:
                reviews.append(won_back_until)
    if upcoming is not None:
        reviews.append(upcoming)
        stage: Stage = "won_back" if won_back else ("new" if as_of < new_until else "active")
        if stage == "new":
            reviews.append(new_until)
        return Churn("low", stage, f"next trip booked for {upcoming:%Y-%m-%d}", interval,
                     None if not past else int(_days(as_of - past[-1])), upcoming, min(reviews))  # fmt: skip
    last = past[-1]
    since = _days(as_of - last)
    overdue, at_risk, lapsed = _thresholds(policy, interval)
    cadence = _cadence(interval)
    text = f"no trip for {int(since)} days (last {last:%Y-%m-%d}); {cadence}"
    if since > lapsed:
        return Churn("high", "lapsed", f"{text}: lapsed after {lapsed:g} days", interval, int(since), None, None)
    reviews.append(last + timedelta(days=lapsed))
    if since > at_risk:
        return Churn("high", "at_risk", f"{text}: at risk after {at_risk:g} days", interval, int(since), None,
                     min(reviews))  # fmt: skip
    reviews.append(last + timedelta(days=at_risk))
    risk: Risk = "medium" if since > overdue else "low"
    if risk == "low":
        reviews.append(last + timedelta(days=overdue))
    if won_back:
        stage = "won_back"
    elif as_of < new_until:
        stage = "new"
        reviews.append(new_until)
    else:
        stage = "active"
    why = f"{text}: overdue after {overdue:g} days" if risk == "medium" else text
    return Churn(risk, stage, why, interval, int(since), None, min(reviews))
