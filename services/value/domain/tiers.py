"""RFM and tiers: recency, frequency and spend in a window, scored 1-5, and a tier.

A tier is earned by trips *or* by spend in the window (`TierRule`): a traveller who flies
every week on cheap fares and one who takes three first-class trips both matter. Because a
tier only asks "at least this many trips or at least this much", more trips or more spend can
never lower it, and a cancellation (one trip and its spend fewer) can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

Tier = Literal["gold", "silver", "regular"]
TIERS: tuple[Tier, ...] = ("gold", "silver", "regular")  # best first


@dataclass(frozen=True)
class TierRule:
    min_trips: int
    min_spend: Decimal

    def met(self, trips: int, spend: Decimal) -> bool:
        return trips >= self.min_trips or spend >= self.min_spend


@dataclass(frozen=True)
class TierPolicy:
    """Cut-offs, window and names of the tiers (one for travellers, one for companies)."""

    gold: TierRule
    silver: TierRule
    window_days: int = 365
    labels: Mapping[Tier, str] = field(
        default_factory=lambda: {"gold": "Gold", "silver": "Silver", "regular": "Regular"}
    )
    # Score 1 + the number of cut-offs met (5 best). Recency: days since the last trip at most this many.
    recency_cutoffs: Sequence[int] = (365, 180, 90, 30)
    frequency_cutoffs: Sequence[int] = (2, 4, 8, 12)
    monetary_cutoffs: Sequence[Decimal] = (Decimal(1000), Decimal(5000), Decimal(15000), Decimal(25000))

    def tier(self, trips: int, spend: Decimal) -> Tier:
        if self.gold.met(trips, spend):
            return "gold"
        if self.silver.met(trips, spend):
            return "silver"
        return "regular"

    def label(self, tier: Tier) -> str:
        return self.labels.get(tier, tier)

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)


TRAVELLER_TIERS = TierPolicy(
    gold=TierRule(min_trips=12, min_spend=Decimal(25000)), silver=TierRule(min_trips=4, min_spend=Decimal(7500))
)
COMPANY_TIERS = TierPolicy(
    gold=TierRule(min_trips=200, min_spend=Decimal(250000)),
    silver=TierRule(min_trips=50, min_spend=Decimal(60000)),
    frequency_cutoffs=(10, 25, 50, 200),
    monetary_cutoffs=(Decimal(10000), Decimal(30000), Decimal(60000), Decimal(250000)),
)


@dataclass(frozen=True)
class Rfm:
    recency_days: int | None
    frequency: int
    monetary: Decimal
    r_score: int
    f_score: int
    m_score: int
    unconverted_trips: int
    unconverted_currencies: tuple[str, ...]


def score(value: float, cutoffs: Sequence[float | Decimal]) -> int:
    return 1 + sum(1 for c in cutoffs if value >= c)


def rfm(
    *, policy: TierPolicy, last_trip: datetime | None, trips: int, spend: Decimal, unconverted: int,
    currencies: tuple[str, ...], as_of: datetime,
) -> Rfm:  # fmt: skip
    recency = None if last_trip is None else max(0, (as_of - last_trip).days)
    r = 1 if recency is None else 1 + sum(1 for c in policy.recency_cutoffs if recency <= c)
    return Rfm(
        recency_days=recency, frequency=trips, monetary=spend, r_score=r,
        f_score=score(trips, policy.frequency_cutoffs), m_score=score(float(spend), policy.monetary_cutoffs),
        unconverted_trips=unconverted, unconverted_currencies=currencies,
    )  # fmt: skip


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


def tier_change_reason(
    *, policy: TierPolicy, from_tier: Tier | None, to_tier: Tier, trips: int, spend: Decimal, currency: str,
    unconverted: int, on: datetime, cause: str | None,
) -> str:  # fmt: skip
    """A human reason: 'Silver → Gold on 3 Dec 2026: 14 trips, 38,000 EUR in 12 months (booking x created)'."""
    months = round(policy.window_days / 30.4)
    period = f"{months} months" if policy.window_days >= 60 else f"{policy.window_days} days"
    start = policy.label(from_tier) if from_tier else "new"
    text = f"{start} → {policy.label(to_tier)} on {on.day} {on:%b %Y}: {trips} trip{'s' if trips != 1 else ''}"
    text += f", {_money(spend, currency)} in {period}"
    if unconverted:
        text += f" ({unconverted} trip{'s' if unconverted != 1 else ''} without a converted price)"
    if cause:
        text += f"; {cause}"
    return text
