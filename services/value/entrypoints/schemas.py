"""HTTP shapes of the value API (apart from domain objects and wire contracts)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.kit.contracts.value import CompanyValueSnapshotV1, CustomerValueSnapshotV1
from services.kit.isotime import IsoDate


class TierChangePublic(BaseModel):
    from_tier: str | None
    to_tier: str
    reason: str
    frequency: int
    monetary: Decimal
    currency: str
    changed_at: AwareDatetime


class CustomerValuePublic(BaseModel):
    value: CustomerValueSnapshotV1
    history: list[TierChangePublic]


class CompanyValuePublic(BaseModel):
    value: CompanyValueSnapshotV1
    history: list[TierChangePublic]
    travellers: list[CustomerValueSnapshotV1] = Field(description="Its travellers, most valuable first (first 100)")


class CustomerValuePage(BaseModel):
    items: list[CustomerValueSnapshotV1]
    limit: int
    offset: int


class CompanyValuePage(BaseModel):
    items: list[CompanyValueSnapshotV1]
    limit: int
    offset: int


class AccountManagerSet(BaseModel):
    kind: Literal["agent", "team"] = "agent"
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@:-]+$", description="Agent or team name")


class RateIn(BaseModel):
    # No other members: with them, 10,000 rates (the most one load takes) could exceed the request
    # size limit, and a schema-valid load would be refused with 413.
    model_config = ConfigDict(extra="forbid")

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    valid_from: IsoDate
    # The bounds say in the schema what max_digits/decimal_places refuse: 10 places, 10 whole digits.
    rate: Decimal = Field(
        ge=Decimal("1e-10"),
        lt=Decimal("1e10"),
        max_digits=20,
        decimal_places=10,
        description="Reporting-currency units per unit",
    )


class RatesIn(BaseModel):
    rates: list[RateIn] = Field(min_length=1, max_length=10_000)


class RatesPublic(BaseModel):
    reporting_currency: str
    rates: list[RateIn]


class RatesLoaded(BaseModel):
    loaded: int
    customers_to_review: int


class DistributionPublic(BaseModel):
    customers: dict[str, dict[str, int]] = Field(description="tier → stage → count")
    companies: dict[str, dict[str, int]]
