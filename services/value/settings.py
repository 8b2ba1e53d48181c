"""Value service settings (env prefix `ITINERA_VALUE_`, shared values from `ITINERA_`).

Defaults: a 12-month window; a traveller is gold from 12 trips or 25,000 (reporting currency)
in it, silver from 4 trips or 7,500; a company gold from 200 trips or 250,000, silver from 50
or 60,000. Churn: the usual interval is the median gap between trips (60 days when fewer
than three trips), medium risk past 1.5 intervals, at risk past 2 (at least 30 days), lapsed
past 4 (at least 120 days); new for 90 days after the first trip, won back for 180.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings
from services.value.domain.churn import ChurnPolicy
from services.value.domain.tiers import TierPolicy, TierRule
from services.value.service_layer.evaluation import ValueConfig


class ValueSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ITINERA_VALUE_", extra="ignore")

    service_name: str = "value"
    http_port: int = 8005
    reporting_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    tier_labels: dict[str, str] = Field(
        default_factory=lambda: {"gold": "Gold", "silver": "Silver", "regular": "Regular"},
        description="The operator's names for the tiers (JSON object)",
    )
    window_days: int = Field(default=365, ge=7, le=3650)
    gold_trips: int = Field(default=12, ge=1)
    gold_spend: Decimal = Field(default=Decimal(25000), ge=0)
    silver_trips: int = Field(default=4, ge=1)
    silver_spend: Decimal = Field(default=Decimal(7500), ge=0)
    company_window_days: int = Field(default=365, ge=7, le=3650)
    company_gold_trips: int = Field(default=200, ge=1)
    company_gold_spend: Decimal = Field(default=Decimal(250000), ge=0)
    company_silver_trips: int = Field(default=50, ge=1)
    company_silver_spend: Decimal = Field(default=Decimal(60000), ge=0)
    churn_default_interval_days: float = Field(default=60, gt=0)
    churn_overdue_factor: float = Field(default=1.5, gt=0)
    churn_at_risk_factor: float = Field(default=2.0, gt=0)
    churn_lapsed_factor: float = Field(default=4.0, gt=0)
    churn_min_at_risk_days: float = Field(default=30, ge=0)
    churn_min_lapsed_days: float = Field(default=120, ge=0)
    new_days: float = Field(default=90, ge=0)
    won_back_days: float = Field(default=180, ge=0)
    company_delay_bookings: int = Field(
        default=100, ge=1, description="A company waits one delay per this many bookings in its ledger"
    )
    company_delay_seconds: float = Field(
        default=0.5, ge=0, le=3600, description="A company is re-evaluated this long after a traveller's booking"
    )
    review_interval_seconds: float = Field(default=0.5, gt=0, description="How often due reviews are looked for")
    review_batch_size: int = Field(default=200, ge=1, le=10_000)

    @model_validator(mode="after")
    def _cutoffs(self) -> ValueSettings:
        if self.gold_trips < self.silver_trips or self.gold_spend < self.silver_spend:
            raise ValueError("gold cut-offs must not be below silver ones")
        if self.company_gold_trips < self.company_silver_trips or self.company_gold_spend < self.company_silver_spend:
            raise ValueError("company gold cut-offs must not be below silver ones")
        if self.churn_lapsed_factor < self.churn_at_risk_factor:
            raise ValueError("churn_lapsed_factor must not be below churn_at_risk_factor")
        return self

    def value_config(self) -> ValueConfig:
        labels = {t: self.tier_labels.get(t, t.title()) for t in ("gold", "silver", "regular")}
        return ValueConfig(
            reporting_currency=self.reporting_currency,
            traveller_tiers=TierPolicy(
                gold=TierRule(self.gold_trips, self.gold_spend),
                silver=TierRule(self.silver_trips, self.silver_spend),
                window_days=self.window_days,
                labels=labels,  # type: ignore[arg-type]  # keys are the three tiers
            ),
            company_tiers=TierPolicy(
                gold=TierRule(self.company_gold_trips, self.company_gold_spend),
                silver=TierRule(self.company_silver_trips, self.company_silver_spend),
                window_days=self.company_window_days,
                labels=labels,  # type: ignore[arg-type]  # as above
                frequency_cutoffs=(10, 25, self.company_silver_trips, self.company_gold_trips),
                monetary_cutoffs=(Decimal(10000), Decimal(30000), self.company_silver_spend, self.company_gold_spend),
            ),
            churn=ChurnPolicy(
                default_interval_days=self.churn_default_interval_days,
                overdue_factor=self.churn_overdue_factor,
                at_risk_factor=self.churn_at_risk_factor,
                lapsed_factor=self.churn_lapsed_factor,
                min_at_risk_days=self.churn_min_at_risk_days,
                min_lapsed_days=self.churn_min_lapsed_days,
                new_days=self.new_days,
                won_back_days=self.won_back_days,
            ),
            company_delay=timedelta(seconds=self.company_delay_seconds),
            company_delay_bookings=self.company_delay_bookings,
        )
