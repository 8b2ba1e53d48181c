"""What the value service publishes: customer value (tier, RFM, churn risk, stage, account manager).

Snapshots are keyed by customer id (`value.customers.v1`) and by company id
(`value.companies.v1`) on compacted topics and join the one customer view through the
kit's reader; tier changes and account-manager assignments are facts on `value.changes.v1`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.kit.contracts.envelope import Payload

TierV1 = Literal["gold", "silver", "regular"]
StageV1 = Literal["new", "active", "at_risk", "lapsed", "won_back"]
ChurnRiskV1 = Literal["low", "medium", "high"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AccountManagerV1(_Part):
    """Who looks after a customer or a company: an agent (their principal name) or a team."""

    kind: Literal["agent", "team"]
    id: str = Field(min_length=1, max_length=100)
    assigned_by: str
    assigned_at: AwareDatetime
    inherited_from_company: bool = Field(
        default=False, description="True on a traveller's snapshot when the manager is the company's"
    )


class RfmV1(_Part):
    """Recency, frequency and monetary value in the tier window, with 1-5 scores (5 best)."""

    recency_days: int | None = Field(description="Days since the last trip started; None before the first trip")
    frequency: int = Field(ge=0, description="Trips (bookings not cancelled) in the window")
    monetary: Decimal = Field(description="Spend in the window, in the reporting currency")
    currency: str = Field(description="The reporting currency")
    window_days: int
    r_score: int = Field(ge=1, le=5)
    f_score: int = Field(ge=1, le=5)
    m_score: int = Field(ge=1, le=5)
    unconverted_trips: int = Field(
        default=0, ge=0, description="Trips counted whose spend is not in `monetary` (no price, or no rate)"
    )
    unconverted_currencies: tuple[str, ...] = Field(default=(), description="Currencies that lacked a rate")


class ChurnV1(_Part):
    """How likely the customer is drifting away, from their own booking cadence, and why."""

    risk: ChurnRiskV1
    stage: StageV1
    reason: str
    usual_interval_days: float | None = Field(default=None, description="Median days between trips, when known")
    days_since_last_trip: int | None = None
    next_trip_at: AwareDatetime | None = None


class CustomerValueSnapshotV1(Payload):
    """The value of one traveller; keyed by customer_id on a compacted topic."""

    event_type = "value.customer.snapshot"
    schema_version = 1

    customer_id: str
    version: int = Field(ge=1)
    company_id: str | None = None
    tier: TierV1
    tier_label: str = Field(description="The operator's name for the tier")
    tier_since: AwareDatetime | None = None
    rfm: RfmV1
    churn: ChurnV1
    account_manager: AccountManagerV1 | None = None
    updated_at: AwareDatetime
    last_event_at: AwareDatetime | None = Field(default=None, description="The newest booking event reflected")


class CompanyValueSnapshotV1(Payload):
    """The value of one company, from its travellers' trips and spend; keyed by company_id."""

    event_type = "value.company.snapshot"
    schema_version = 1

    company_id: str
    version: int = Field(ge=1)
    company_name: str | None = None
    tier: TierV1
    tier_label: str
    tier_since: AwareDatetime | None = None
    travellers: int = Field(ge=0, description="Travellers with a trip in the window")
    rfm: RfmV1
    churn: ChurnV1
    account_manager: AccountManagerV1 | None = None
    updated_at: AwareDatetime
    last_event_at: AwareDatetime | None = None


class TierChangedV1(Payload):
    """A traveller or a company moved to another tier; `reason` says why, in words."""

    event_type = "value.tier.changed"
    schema_version = 1

    subject: Literal["customer", "company"]
    subject_id: str
    from_tier: TierV1 | None
    to_tier: TierV1
    reason: str
    frequency: int
    monetary: Decimal
    currency: str
    changed_at: AwareDatetime


class AccountManagerAssignedV1(Payload):
    """A supervisor assigned (or, with `account_manager` None, removed) an account manager."""

    event_type = "value.account_manager.assigned"
    schema_version = 1

    subject: Literal["customer", "company"]
    subject_id: str
    account_manager: AccountManagerV1 | None
    previous: AccountManagerV1 | None = None
    changed_at: AwareDatetime
